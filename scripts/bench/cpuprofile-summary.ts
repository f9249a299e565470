// Summarises a V8 .cpuprofile (node --cpu-prof): self time per function and per package/area, and the
// inclusive time of each area (time spent in it or in anything it called).
// Standalone: node dist/scripts/bench/cpuprofile-summary.js <file.cpuprofile> [topN] [fromMs] [toMs]

import fs from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  totalMs: number;
  functions: Array<{ name: string; area: string; selfMs: number; share: number }>;
  areas: Array<{ area: string; selfMs: number; share: number; inclusiveMs: number; inclusiveShare: number }>;
}

/** Which package or part of the program a frame belongs to. */
export function areaOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (!url) {
    if (functionName === '(garbage collector)') return '(gc)';
    if (functionName === '(idle)' || functionName === '(program)' || functionName === '(root)') return functionName;
    return '(native)';
  }
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return url.slice(dist + '/dist/'.length).replace(/^file:\/\//, '');
  return url.replace(/^file:\/\//, '');
}

/**
 * `window` keeps only the samples taken between fromMs and toMs after the profile started (e.g. only while
 * the load ran, leaving out start-up module loading and shutdown).
 */
export function summarise(
  profile: CpuProfile,
  topN = 25,
  window: { fromMs?: number; toMs?: number } = {},
): ProfileSummary {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) byId.set(node.id, node);
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

  const selfUs = new Map<number, number>();
  const fromUs = (window.fromMs ?? 0) * 1000;
  const toUs = (window.toMs ?? Infinity) * 1000;
  let atUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    atUs += profile.timeDeltas[i] ?? 0;
    if (atUs < fromUs || atUs > toUs) continue;
    // timeDeltas[i] is the time *before* sample i; attribute the following delta to it (the usual convention).
    const delta = profile.timeDeltas[i + 1] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, delta));
  }
  let totalUs = 0;
  for (const us of selfUs.values()) totalUs += us;
  const busyUs =
    totalUs -
    [...selfUs.entries()]
      .filter(([id]) => byId.get(id)?.callFrame.functionName === '(idle)')
      .reduce((sum, [, us]) => sum + us, 0);

  const fn = new Map<string, { name: string; area: string; us: number }>();
  const areaSelf = new Map<string, number>();
  const areaIncl = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    const frame = node.callFrame;
    const area = areaOf(frame);
    if (area === '(idle)') continue;
    const name =
      `${frame.functionName || '(anonymous)'} ${frame.url ? `${shortUrl(frame.url)}:${frame.lineNumber + 1}` : ''}`.trim();
    const entry = fn.get(name) ?? { name, area, us: 0 };
    entry.us += us;
    fn.set(name, entry);
    areaSelf.set(area, (areaSelf.get(area) ?? 0) + us);
    // inclusive: each area on the stack gets the sample once
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const a = areaOf(byId.get(cur)!.callFrame);
      if (!seen.has(a)) {
        seen.add(a);
        areaIncl.set(a, (areaIncl.get(a) ?? 0) + us);
      }
    }
  }
  const share = (us: number) => (busyUs > 0 ? us / busyUs : 0);
  return {
    totalMs: busyUs / 1000,
    functions: [...fn.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, topN)
      .map((f) => ({ name: f.name, area: f.area, selfMs: f.us / 1000, share: share(f.us) })),
    areas: [...areaSelf.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, topN)
      .map(([area, us]) => ({
        area,
        selfMs: us / 1000,
        share: share(us),
        inclusiveMs: (areaIncl.get(area) ?? 0) / 1000,
        inclusiveShare: share(areaIncl.get(area) ?? 0),
      })),
  };
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return url.slice(dist + 1);
  return url.replace(/^file:\/\//, '');
}

export function formatSummary(summary: ProfileSummary): string {
  const pct = (x: number) => `${(x * 100).toFixed(1).padStart(5)}%`;
  const lines = [
    `CPU profile: ${summary.totalMs.toFixed(0)} ms busy (idle excluded)`,
    '',
    'Self time by area (package / part of the program), with inclusive time:',
  ];
  for (const a of summary.areas) lines.push(`  ${pct(a.share)} self  ${pct(a.inclusiveShare)} incl  ${a.area}`);
  lines.push('', 'Top functions by self time:');
  for (const f of summary.functions) lines.push(`  ${pct(f.share)}  ${f.name}`);
  return lines.join('\n');
}

if (require.main === module) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node dist/scripts/bench/cpuprofile-summary.js <file.cpuprofile> [topN] [fromMs] [toMs]');
    process.exit(2);
  }
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const fromMs = process.argv[4] === undefined ? undefined : Number(process.argv[4]);
  const toMs = process.argv[5] === undefined ? undefined : Number(process.argv[5]);
  console.log(formatSummary(summarise(profile, Number(process.argv[3] ?? 25), { fromMs, toMs })));
}
