// `npm run bench`: in alternating rounds under the same load of realistic Bitrix24 deliveries (90% accepted,
// 5% missing, 5% mismatched), two comparisons in one run:
// - with a store everywhere: bare Koa and the naive peer (bare Koa + sdk-node with getNodeAutoInstrumentations()
//   defaults, 100% exported) each commit every accepted event with ONE prepared INSERT into their own SQLite file
//   (WAL, synchronous=NORMAL) before the 200: what a user would write; the service with its embedded store, in its
//   default configuration (sampling by outcome) and with everything exported;
// - without a store anywhere (peers write nothing, the service runs with STORE=none): the service's default and
//   OpenTelemetry off (issue #12) against the same peers.
// Prints requests/s, p50/p99 latency, bare Koa's CPU µs per request, the ratios per round with their median and
// spread, and PASS/FAIL per target (issue #21); exits non-zero on FAIL. Then a memory soak of the service with its
// store (RSS after 100k vs 300k deliveries) and, with BENCH_PROFILE=1, a CPU profile of the service and bare Koa.
//
// Knobs (environment): BENCH_DURATION or BENCH_SECONDS (s, 10), BENCH_VARIANTS (comma list of variant names, the
// eight of the targets by default; `all-nostore`, `off` and `instrumented` can be added), BENCH_WARMUP (s, 4),
// BENCH_CONNECTIONS (50), BENCH_ROUNDS (3), BENCH_MEMORY (1; 0 skips the soak), BENCH_MEMORY_FIRST (100000),
// BENCH_MEMORY_TOTAL (300000), BENCH_MEMORY_VARIANTS (default; `default,all`), BENCH_PROFILE (0; 1 adds the CPU
// profiles), BENCH_OTLP_PROTOCOL (http/protobuf), BENCH_PROFILE_ENV (JSON: extra env for the profiled service),
// BENCH_SERVICE_ENV (JSON: extra env for every service run), BENCH_FLOOD (1; 0 skips the junk flood),
// BENCH_ONLY (memory|flood|profile|ablation: only that part).

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import autocannon = require('autocannon');
import { SERVICE_MAIN, SERVICE_PRELOAD } from '../test/support/spawn-service';
import { PROCESS_METRIC, TRACING_METRIC } from '../src/vocabulary/names';
import { parsePrometheusText, sumOf } from '../test/robustness/support/prometheus-text';
import { deliveryShapes, httpBuildQuery, makeToken, FORM_CONTENT_TYPE } from './bench/deliveries';
import { OtlpSink } from './bench/otlp-sink';
import { freePort } from '../test/support/loopback-http';
import { formatSummary, summarise } from './bench/cpuprofile-summary';
import { measureJunkFlood } from './bench/junk-flood';

const env = (name: string, fallback: number): number => {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && process.env[name] !== '' && process.env[name] !== undefined ? value : fallback;
};
const DURATION = env('BENCH_SECONDS', env('BENCH_DURATION', 10));
const WARMUP = env('BENCH_WARMUP', 4);
const CONNECTIONS = env('BENCH_CONNECTIONS', 50);
const ROUNDS = env('BENCH_ROUNDS', 3);
const MEMORY = env('BENCH_MEMORY', 1) !== 0;
const MEMORY_FIRST = env('BENCH_MEMORY_FIRST', 100_000);
const MEMORY_TOTAL = env('BENCH_MEMORY_TOTAL', 300_000);
const PROFILE = env('BENCH_PROFILE', 0) !== 0;
const FLOOD = env('BENCH_FLOOD', 1) !== 0;
const ONLY = process.env.BENCH_ONLY ?? '';
const OTLP_PROTOCOL = process.env.BENCH_OTLP_PROTOCOL ?? 'http/protobuf';
/** Extra environment for the profiled service, e.g. BENCH_PROFILE_ENV='{"OTEL_SDK_DISABLED":"true"}'. */
const PROFILE_ENV = JSON.parse(process.env.BENCH_PROFILE_ENV ?? '{}') as Record<string, string>;
/** Extra environment for every service run, e.g. BENCH_SERVICE_ENV='{"OTEL_BSP_MAX_EXPORT_BATCH_SIZE":"64"}'. */
const SERVICE_ENV = JSON.parse(process.env.BENCH_SERVICE_ENV ?? '{}') as Record<string, string>;
const WEBHOOK_PATH = '/api/bitrix/webhook';
const OUT_DIR = path.resolve(__dirname, '../../.bench');

const TOKEN = makeToken(1);
const WRONG_TOKEN = makeToken(2);

// ---------------------------------------------------------------------------------------------------------
// Load: a cycle of 20 requests per connection = 18 accepted (six event shapes), 1 missing, 1 mismatched.

type Expectation = 200 | 401 | 403;
interface Tally {
  byExpected: Record<string, Record<string, number>>;
  unexpected: number;
  samples: string[];
}

function mix(tally: Tally): autocannon.Request[] {
  const accepted = deliveryShapes(TOKEN).map((shape) => httpBuildQuery(shape.data));
  const missing = httpBuildQuery(deliveryShapes(undefined)[0]!.data);
  const mismatched = httpBuildQuery(deliveryShapes(WRONG_TOKEN)[2]!.data);
  const plan: Array<{ body: string; expect: Expectation }> = [];
  for (let i = 0; i < 20; i++) {
    if (i === 9) plan.push({ body: missing, expect: 401 });
    else if (i === 19) plan.push({ body: mismatched, expect: 403 });
    else plan.push({ body: accepted[i % accepted.length]!, expect: 200 });
  }
  return plan.map(({ body, expect }) => ({
    method: 'POST',
    path: WEBHOOK_PATH,
    headers: { 'content-type': FORM_CONTENT_TYPE, 'user-agent': 'Bitrix24 Webhook Engine' },
    body,
    onResponse: (status: number, responseBody: string) => {
      tally.byExpected[String(expect)] ??= {};
      const row = tally.byExpected[String(expect)]!;
      row[String(status)] = (row[String(status)] ?? 0) + 1;
      if (status !== expect) {
        tally.unexpected++;
        if (tally.samples.length < 5)
          tally.samples.push(`expected ${expect}, got ${status}: ${responseBody.slice(0, 200)}`);
      }
    },
  }));
}

interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  meanMs: number;
  requests: number;
  errors: number;
  timeouts: number;
  tally: Tally;
  statusCodes: Record<string, number>;
  /** Share of the machine's CPU used by other processes meanwhile (noise), and the app's own CPU (cores). */
  foreign?: number;
  appCpu?: number;
}

async function load(
  url: string,
  options: { duration?: number; amount?: number; overallRate?: number },
): Promise<LoadResult> {
  const tally: Tally = { byExpected: {}, unexpected: 0, samples: [] };
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    pipelining: 1,
    timeout: 10,
    ...(options.amount ? { amount: options.amount } : { duration: options.duration ?? DURATION }),
    ...(options.overallRate ? { overallRate: options.overallRate } : {}),
    requests: mix(tally),
  });
  const statusCodes: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = Number(count);
  const completed = Object.values(statusCodes).reduce((a, b) => a + b, 0);
  return {
    rps: completed / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    meanMs: result.latency.mean,
    requests: completed,
    errors: result.errors,
    timeouts: result.timeouts,
    tally,
    statusCodes,
  };
}

// ---------------------------------------------------------------------------------------------------------
// The two apps.

interface App {
  name: string;
  url: string;
  pid: number;
  stop(): Promise<unknown>;
  child: ChildProcess;
}

/** Starts a node process that prints a JSON `listening` line with its url (the bare app, or the service with extra node flags). */
async function startNode(name: string, args: string[], env: Record<string, string>): Promise<App> {
  // Every app gets a fresh DATA_DIR, deleted when it stops: the peers' own SQLite file (with a store), the
  // service's embedded store (unless STORE=none).
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-store-'));
  const child = spawn(process.execPath, args, {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const fixedPort = Number(env.PORT ?? 0);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start in 30 s`)), 30_000);
    child.once('exit', (code) => reject(new Error(`${name} exited (${code})`)));
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const parsed = JSON.parse(line) as { message?: string; url?: string };
        if (parsed.message === 'listening' && parsed.url) {
          clearTimeout(timer);
          resolve(parsed.url);
        }
      } catch {
        /* not a JSON line */
      }
    });
    // With LOG_LEVEL above info there is no `listening` line: a fixed port is polled on /healthz instead.
    if (fixedPort) {
      const poll = (left: number): void => {
        fetch(`http://127.0.0.1:${fixedPort}/healthz`)
          .then((r) => {
            if (r.ok) {
              clearTimeout(timer);
              resolve(`http://127.0.0.1:${fixedPort}`);
            } else throw new Error(String(r.status));
          })
          .catch(() => {
            if (left > 0) setTimeout(() => poll(left - 1), 100);
          });
      };
      poll(250);
    }
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    name,
    url,
    pid: child.pid!,
    child,
    stop: async () => {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function startBare(extraNodeArgs: string[] = [], store = true): Promise<App> {
  return startNode('bare koa', [...extraNodeArgs, path.resolve(__dirname, 'bench/bare-koa.js')], {
    BITRIX24_OUTGOING_WEBHOOK_TOKEN: TOKEN,
    BENCH_PEER_STORE: store ? '1' : '0',
  });
}

function serviceEnv(sink: OtlpSink): Record<string, string> {
  return {
    BITRIX24_OUTGOING_WEBHOOK_TOKEN: TOKEN,
    LOG_LEVEL: 'info',
    OTEL_SERVICE_NAME: 'bitrix24-webhook',
    OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: OTLP_PROTOCOL,
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_TRACES_SAMPLER: 'always_on',
    OTEL_LOGS_EXPORTER: 'otlp',
    OTEL_METRICS_EXPORTER: 'none',
    ...SERVICE_ENV,
  };
}

/** The service started exactly as spawnService starts it, plus node flags (--cpu-prof is not allowed in NODE_OPTIONS). */
function startServiceWithFlags(sink: OtlpSink, flags: string[], extraEnv: Record<string, string> = {}): Promise<App> {
  return startNode('service', [...flags, '--require', SERVICE_PRELOAD, SERVICE_MAIN], {
    OTEL_TRACES_EXPORTER: 'none',
    OTEL_LOGS_EXPORTER: 'none',
    OTEL_METRICS_EXPORTER: 'none',
    ...serviceEnv(sink),
    ...extraEnv,
  });
}

// Prometheus-like scraping of the service while it is under load (every 5 s).
function scrapeEvery(url: string, ms = 5000): () => void {
  const timer = setInterval(() => {
    void fetch(`${url}/metrics`)
      .then((r) => r.text())
      .catch(() => undefined);
  }, ms);
  return () => clearInterval(timer);
}

async function metricsOf(url: string) {
  return parsePrometheusText(await (await fetch(`${url}/metrics`)).text());
}

/** Busy CPU jiffies of the whole machine, and of one process (utime + stime). */
function machineBusyJiffies(): number {
  const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  return fields[0]! + fields[1]! + fields[2]! + fields[5]! + fields[6]! + fields[7]!;
}
function processJiffies(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(rest[11]) + Number(rest[12]);
  } catch {
    return 0;
  }
}
const HZ = 100;

/** Share of the machine's CPU used by processes other than the app under test and this bench, during fn. */
async function withForeignCpu<T>(
  pid: number,
  fn: () => Promise<T>,
): Promise<{ value: T; foreign: number; appCpu: number }> {
  const cores = os.availableParallelism?.() ?? os.cpus().length;
  const t0 = Date.now();
  const m0 = machineBusyJiffies();
  const a0 = processJiffies(pid);
  const s0 = processJiffies(process.pid);
  const value = await fn();
  const seconds = (Date.now() - t0) / 1000;
  const machine = machineBusyJiffies() - m0;
  const app = processJiffies(pid) - a0;
  const self = processJiffies(process.pid) - s0;
  return { value, foreign: Math.max(0, machine - app - self) / HZ / seconds / cores, appCpu: app / HZ / seconds };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function vmRssBytes(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1];
  return kb ? Number(kb) * 1024 : NaN;
}

// ---------------------------------------------------------------------------------------------------------
// Reporting.

const verdicts: Array<{ target: string; pass: boolean; detail: string }> = [];
function verdict(target: string, pass: boolean, detail: string): void {
  verdicts.push({ target, pass, detail });
  console.log(`${pass ? 'PASS' : 'FAIL'}  ${target}: ${detail}`);
}

function describe(name: string, r: LoadResult): string {
  const by = Object.entries(r.tally.byExpected)
    .map(
      ([expected, got]) =>
        `expected ${expected}: ${Object.entries(got)
          .map(([s, n]) => `${n}×${s}`)
          .join(' ')}`,
    )
    .join('; ');
  const cpu =
    r.appCpu === undefined
      ? ''
      : `  [app CPU ${(r.appCpu * 100).toFixed(0)}%, other processes ${(r.foreign! * 100).toFixed(0)}% of the machine]`;
  return (
    `${name.padEnd(9)} ${r.rps.toFixed(0).padStart(6)} req/s  p50 ${r.p50} ms  p99 ${r.p99} ms  mean ${r.meanMs.toFixed(2)} ms  ` +
    `${r.requests} responses, ${r.errors} errors, ${r.timeouts} timeouts, ${r.tally.unexpected} unexpected  [${by}]${cpu}`
  );
}

function machine(): Record<string, string | number> {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  return {
    nproc: os.availableParallelism?.() ?? os.cpus().length,
    cpu: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? 'unknown',
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    node: process.version,
    kernel: os.release(),
  };
}

// ---------------------------------------------------------------------------------------------------------

/** The apps compared in the throughput phase, in the order of each round. */
interface Variant {
  name: string;
  label: string;
  start(sink: OtlpSink): Promise<App>;
  service: boolean;
  store: boolean;
}

const NO_STORE = '-nostore';
const DEFAULT_VARIANTS = 'bare,naive,default,all,bare-nostore,naive-nostore,default-nostore,off-nostore';

function variants(): Variant[] {
  const service = (name: string, label: string, extra: Record<string, string>, store = true): Variant => ({
    name,
    label,
    service: true,
    store,
    start: (sink) =>
      startNode(name, ['--require', SERVICE_PRELOAD, SERVICE_MAIN], {
        ...serviceEnv(sink),
        ...extra,
        ...(store ? {} : { STORE: 'none' }),
      }),
  });
  const all: Variant[] = [
    {
      name: 'bare',
      label: 'bare Koa, no telemetry; one prepared INSERT per accepted event',
      service: false,
      store: true,
      start: () => startBare(),
    },
    {
      name: 'naive',
      label: 'naive peer: Koa + sdk-node auto-instrumentations, 100% exported; one prepared INSERT per accepted event',
      service: false,
      store: true,
      start: (sink) => startNaive(sink),
    },
    service('default', 'service, default configuration (refused in full, 10% of accepted), embedded store', {
      OTEL_TRACES_SAMPLER: '',
    }),
    service('all', 'service, everything exported (OTEL_TRACES_SAMPLER=always_on), embedded store', {
      OTEL_TRACES_SAMPLER: 'always_on',
    }),
    service('off', 'service, OpenTelemetry off (OTEL_SDK_DISABLED=true), embedded store', {
      OTEL_SDK_DISABLED: 'true',
    }),
    service('instrumented', 'service, old path: http+koa instrumentations, everything exported', {
      OTEL_TRACES_SAMPLER: 'always_on',
      BITRIX24_TRACES_SERVER_SPAN: 'instrumentation',
    }),
    {
      name: 'bare-nostore',
      label: 'bare Koa, no telemetry, no store',
      service: false,
      store: false,
      start: () => startBare([], false),
    },
    {
      name: 'naive-nostore',
      label: 'naive peer, no store',
      service: false,
      store: false,
      start: (sink) => startNaive(sink, false),
    },
    service('default-nostore', 'service, default configuration, STORE=none', { OTEL_TRACES_SAMPLER: '' }, false),
    service('all-nostore', 'service, everything exported, STORE=none', { OTEL_TRACES_SAMPLER: 'always_on' }, false),
    service('off-nostore', 'service, OpenTelemetry off, STORE=none', { OTEL_SDK_DISABLED: 'true' }, false),
  ];
  const wanted = (process.env.BENCH_VARIANTS ?? DEFAULT_VARIANTS).split(',').map((name) => name.trim());
  // Bare Koa of each kind is the reference of every ratio: always there when anything of its kind is.
  const kinds = new Set(all.filter((variant) => wanted.includes(variant.name)).map((variant) => variant.store));
  return all.filter(
    (variant) =>
      wanted.includes(variant.name) ||
      ((variant.name === 'bare' || variant.name === `bare${NO_STORE}`) && kinds.has(variant.store)),
  );
}

function startNaive(sink: OtlpSink, store = true): Promise<App> {
  return startNode(
    'naive peer',
    ['--require', path.resolve(__dirname, 'bench/naive-peer-preload.js'), path.resolve(__dirname, 'bench/bare-koa.js')],
    {
      BITRIX24_OUTGOING_WEBHOOK_TOKEN: TOKEN,
      BENCH_PEER_STORE: store ? '1' : '0',
      OTEL_SERVICE_NAME: 'naive-peer',
      OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: OTLP_PROTOCOL,
      OTEL_METRICS_EXPORTER: 'none',
      OTEL_LOGS_EXPORTER: 'none',
    },
  );
}

function spread(values: number[]): string {
  return `${median(values).toFixed(2)} (${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)})`;
}

async function throughputPhase(sink: OtlpSink, report: Record<string, unknown>): Promise<void> {
  const chosen = variants();
  console.log(
    `\n== Throughput: ${ROUNDS} round(s) × ${DURATION} s per app (${chosen.map((v) => v.name).join(', ')}), ${CONNECTIONS} connections, warm-up ${WARMUP} s each ==`,
  );
  for (const variant of chosen) console.log(`  ${variant.name.padEnd(12)} ${variant.label}`);
  const apps = new Map<string, App>();
  const runs = new Map<string, LoadResult[]>(chosen.map((variant) => [variant.name, []]));
  const stops: Array<() => void> = [];
  let unexpected = 0;
  const served = new Map<string, number>();
  try {
    for (const variant of chosen) {
      const app = await variant.start(sink);
      apps.set(variant.name, app);
      if (variant.service) stops.push(scrapeEvery(app.url));
      await load(app.url, { duration: WARMUP });
    }
    const sinkBefore = { ...sink.counts };
    /** One measured run; repeated (at most twice) when other processes took more than 15% of the machine. */
    const measure = async (variant: Variant, round: number): Promise<LoadResult> => {
      const app = apps.get(variant.name)!;
      let r: LoadResult | undefined;
      for (let attempt = 1; attempt <= 3; attempt++) {
        const { value, foreign, appCpu } = await withForeignCpu(app.pid, () => load(app.url, { duration: DURATION }));
        r = { ...value, foreign, appCpu };
        served.set(variant.name, (served.get(variant.name) ?? 0) + value.requests);
        unexpected += value.tally.unexpected + value.errors + value.timeouts;
        const cpuUs =
          variant.name === 'bare'
            ? `  bare Koa CPU ${((appCpu * 1e6) / Math.max(1, value.rps)).toFixed(0)} µs/request`
            : '';
        console.log(
          `round ${round}  ${describe(variant.name, r)}${cpuUs}${foreign > 0.15 && attempt < 3 ? '  — disturbed, repeating' : ''}`,
        );
        if (foreign <= 0.15) break;
      }
      return r!;
    };
    for (let round = 1; round <= ROUNDS; round++) {
      // Alternating order, so that no variant always runs first (after a quiet pause) or last.
      const order = round % 2 === 1 ? chosen : [...chosen].reverse();
      for (const variant of order) runs.get(variant.name)!.push(await measure(variant, round));
    }
    await new Promise((resolve) => setTimeout(resolve, 6000)); // let the batch span processors flush
    const spans = sink.counts.spans - sinkBefore.spans;
    console.log(
      `OTLP sink during the measured rounds: ${spans} spans, ${sink.counts.logRecords - sinkBefore.logRecords} log records, ` +
        `${sink.counts.requests - sinkBefore.requests} requests (${(sink.counts.bytes - sinkBefore.bytes) / 1e6} MB) from all variants together`,
    );
    const dropped: Record<string, number> = {};
    for (const variant of chosen.filter((v) => v.service && !v.name.startsWith('off'))) {
      dropped[variant.name] = sumOf(await metricsOf(apps.get(variant.name)!.url), TRACING_METRIC.spansDropped);
    }
    report.droppedSpans = dropped;
    for (const [name, count] of Object.entries(dropped)) {
      verdict(
        `no span dropped (${name})`,
        count === 0,
        `${count} spans dropped (${TRACING_METRIC.spansDropped}) for ${served.get(name) ?? 0} requests served`,
      );
    }
  } finally {
    for (const stop of stops) stop();
    for (const app of apps.values()) await app.stop();
  }

  const perRound = (name: string, against: string, pick: (r: LoadResult) => number) =>
    runs.get(name)!.map((r, i) => pick(r) / Math.max(pick(runs.get(against)![i]!), 1e-9));
  const summary: Record<string, unknown> = {};
  for (const store of [true, false]) {
    const kind = chosen.filter((variant) => variant.store === store);
    if (kind.length === 0) continue;
    const suffix = store ? '' : NO_STORE;
    const bare = `bare${suffix}`;
    const naive = `naive${suffix}`;
    const bareCpu = runs.get(bare)!.map((r) => (r.appCpu! * 1e6) / Math.max(1, r.rps));
    console.log(
      `\n${store ? 'WITH a store everywhere (peers: one prepared INSERT; service: embedded store)' : 'WITHOUT a store anywhere (service: STORE=none)'}`,
    );
    console.log(`${bare} CPU per request: ${spread(bareCpu)} µs (a changed machine shows here first)`);
    console.log('variant | req/s median (min–max) | ÷ bare | ÷ naive | p99 ms median | p99 ÷ naive');
    summary[`${bare}CpuUsPerRequest`] = bareCpu;
    for (const variant of kind) {
      const rps = runs.get(variant.name)!.map((r) => r.rps);
      const p99 = runs.get(variant.name)!.map((r) => r.p99);
      const vsBare = perRound(variant.name, bare, (r) => r.rps);
      const vsNaive = runs.has(naive) ? perRound(variant.name, naive, (r) => r.rps) : [];
      const p99VsNaive = runs.has(naive) ? perRound(variant.name, naive, (r) => r.p99) : [];
      console.log(
        `${variant.name} | ${spread(rps)} | ${spread(vsBare)} | ${vsNaive.length ? spread(vsNaive) : '-'} | ${median(p99)} | ${p99VsNaive.length ? spread(p99VsNaive) : '-'}`,
      );
      summary[variant.name] = { rps, p99, vsBare, vsNaive, p99VsNaive };
    }
  }
  report.throughput = summary;
  const target = (name: string, against: string, minimum: number, label: string) => {
    if (!runs.has(name) || !runs.has(against)) return;
    const ratios = perRound(name, against, (r) => r.rps);
    verdict(label, median(ratios) >= minimum, `median ${spread(ratios)} over ${ratios.length} round(s)`);
  };
  const p99Target = (name: string, against: string, label: string) => {
    if (!runs.has(name) || !runs.has(against)) return;
    const p99 = perRound(name, against, (r) => r.p99);
    verdict(
      label,
      median(p99) <= 1,
      `p99 ratio median ${spread(p99)}; p99 ${median(runs.get(name)!.map((r) => r.p99))} vs ${median(runs.get(against)!.map((r) => r.p99))} ms (autocannon resolution 1 ms)`,
    );
  };
  target('default', 'naive', 1.3, 'with a store: default configuration throughput ≥ 1.3 × the naive peer');
  p99Target('default', 'naive', "with a store: default configuration p99 ≤ the naive peer's");
  target('all', 'naive', 1.0, 'with a store: everything exported throughput ≥ 1.0 × the naive peer');
  target(
    `default${NO_STORE}`,
    `naive${NO_STORE}`,
    1.3,
    'without a store: default configuration throughput ≥ 1.3 × the naive peer',
  );
  target(`off${NO_STORE}`, `bare${NO_STORE}`, 0.8, 'without a store: OpenTelemetry off throughput ≥ 0.8 × bare Koa');
  target('off', 'bare', 0.8, 'with a store: OpenTelemetry off throughput ≥ 0.8 × bare Koa');
  verdict(
    'no errors (every status as expected, no socket errors or timeouts)',
    unexpected === 0,
    `${unexpected} unexpected answers or errors over all variants`,
  );
}

async function memoryPhase(sink: OtlpSink, report: Record<string, unknown>): Promise<void> {
  const samplers: Record<string, string> = { default: '', all: 'always_on' };
  const wanted = (process.env.BENCH_MEMORY_VARIANTS ?? 'default')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name in samplers);
  for (const name of wanted) await memoryOf(sink, report, name, samplers[name]!);
}

/** RSS after MEMORY_FIRST vs MEMORY_TOTAL deliveries of a fresh service (embedded store) with OTEL_TRACES_SAMPLER=sampler. */
async function memoryOf(sink: OtlpSink, report: Record<string, unknown>, name: string, sampler: string): Promise<void> {
  console.log(
    `\n== Memory (${name}, embedded store): RSS after ${MEMORY_FIRST} vs ${MEMORY_TOTAL} requests (fresh service, same load) ==`,
  );
  const svc = await startNode('service', ['--require', SERVICE_PRELOAD, SERVICE_MAIN], {
    ...serviceEnv(sink),
    OTEL_TRACES_SAMPLER: sampler,
  });
  const stopScraping = scrapeEvery(svc.url);
  try {
    const rssAt = async (label: string) => {
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const vmRss = vmRssBytes(svc.pid);
      const metricRss = sumOf(await metricsOf(svc.url), PROCESS_METRIC.residentMemoryBytes);
      const heap = sumOf(await metricsOf(svc.url), PROCESS_METRIC.heapUsedBytes);
      console.log(
        `${label}: VmRSS ${(vmRss / 2 ** 20).toFixed(1)} MiB, process_resident_memory_bytes ${(metricRss / 2 ** 20).toFixed(1)} MiB, heap used ${(heap / 2 ** 20).toFixed(1)} MiB`,
      );
      return { vmRss, metricRss, heap };
    };
    const start = Date.now();
    const first = await load(svc.url, { amount: MEMORY_FIRST });
    const m1 = await rssAt(`after ${first.requests} requests`);
    const second = await load(svc.url, { amount: MEMORY_TOTAL - MEMORY_FIRST });
    const m2 = await rssAt(`after ${first.requests + second.requests} requests`);
    const growth = m2.vmRss / m1.vmRss - 1;
    // The target is stated for 100 000 and 300 000 deliveries: a shorter soak is reported, never passed.
    const full = MEMORY_FIRST >= 100_000 && MEMORY_TOTAL >= 300_000;
    verdict(
      `${name}, store on: RSS after ${MEMORY_TOTAL} ≤ 1.10 × RSS after ${MEMORY_FIRST}`,
      growth <= 0.1 && full,
      `${full ? '' : "soak shorter than the target's 100 000 / 300 000, not a pass: "}${(m1.vmRss / 2 ** 20).toFixed(1)} MiB → ${(m2.vmRss / 2 ** 20).toFixed(1)} MiB (${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)}%) in ${((Date.now() - start) / 1000).toFixed(0)} s`,
    );
    const unexpected = first.tally.unexpected + second.tally.unexpected + first.errors + second.errors;
    verdict(`${name}: no errors during the soak`, unexpected === 0, `${unexpected} unexpected statuses or errors`);
    report[`memory_${name}`] = { first: m1, second: m2, growth, requests: first.requests + second.requests };
  } finally {
    stopScraping();
    await svc.stop();
  }
}

/** Genuine deliveries keep their median within 2× while junk floods the quarantine (issue #16), same run. */
async function floodPhase(report: Record<string, unknown>): Promise<void> {
  console.log('\n== Genuine deliveries under a junk flood (embedded store): 6 alternating quiet / flooded rounds ==');
  const result = await measureJunkFlood();
  const ratio = result.floodedMedianMs / result.quietMedianMs;
  console.log(
    `quiet median ${result.quietMedianMs.toFixed(2)} ms, flooded median ${result.floodedMedianMs.toFixed(2)} ms (${ratio.toFixed(2)}×), ${result.junkSent} junk deliveries sent`,
  );
  verdict(
    'genuine deliveries under a junk flood: median ≤ 2 × the quiet median',
    ratio <= 2 && result.genuineRefused === 0,
    `${ratio.toFixed(2)}×${result.genuineRefused ? `, ${result.genuineRefused} genuine deliveries refused` : ''}`,
  );
  report.flood = { ...result, ratio };
}

async function profilePhase(sink: OtlpSink, report: Record<string, unknown>): Promise<void> {
  console.log(`\n== CPU profiles (--cpu-prof), ${DURATION} s of load each ==`);
  const summaries: Record<string, string> = {};
  for (const which of ['service', 'bare'] as const) {
    const dir = path.join(OUT_DIR, `profile-${which}`);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    const flags = ['--cpu-prof', `--cpu-prof-dir=${dir}`];
    const spawnedAt = Date.now();
    const app = which === 'service' ? await startServiceWithFlags(sink, flags, PROFILE_ENV) : await startBare(flags);
    let window: { fromMs: number; toMs: number } | undefined;
    try {
      await load(app.url, { duration: WARMUP });
      const fromMs = Date.now() - spawnedAt;
      const r = await load(app.url, { duration: DURATION });
      window = { fromMs, toMs: Date.now() - spawnedAt };
      console.log(`${describe(which, r)}  (profiling slows it down)`);
    } finally {
      await app.stop();
    }
    const file = fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => path.join(dir, f))[0];
    if (!file) {
      verdict(
        `${which} CPU profile written`,
        false,
        `no .cpuprofile in ${dir} (did the process exit cleanly on SIGTERM?)`,
      );
      continue;
    }
    // only the measured load: start-up (module loading), warm-up and shutdown left out
    const text = formatSummary(summarise(JSON.parse(fs.readFileSync(file, 'utf8')), 30, window));
    fs.writeFileSync(path.join(dir, 'summary.txt'), `${text}\n`);
    console.log(
      `\n-- ${which}: ${path.relative(process.cwd(), file)} (samples from ${window!.fromMs} to ${window!.toMs} ms after spawn)\n${text}`,
    );
    summaries[which] = text;
  }
  report.profiles = summaries;
}

/**
 * Where the cost comes from, without touching the service's code: the same load against the service with
 * parts of its telemetry switched off through the standard variables, one run each, next to bare koa.
 */
async function ablationPhase(sink: OtlpSink, report: Record<string, unknown>): Promise<void> {
  console.log(`\n== Ablation: one ${DURATION} s run per variant ==`);
  const variants: Array<{ name: string; env: Record<string, string> }> = [
    { name: 'full telemetry (as measured above)', env: {} },
    {
      name: 'spans created, nothing exported (OTEL_TRACES_EXPORTER=none, OTEL_LOGS_EXPORTER=none)',
      env: { OTEL_TRACES_EXPORTER: 'none', OTEL_LOGS_EXPORTER: 'none' },
    },
    {
      name: 'without the koa instrumentation (OTEL_NODE_ENABLED_INSTRUMENTATIONS=http,winston)',
      env: { OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http,winston' },
    },
    {
      name: 'without the http instrumentation (OTEL_NODE_ENABLED_INSTRUMENTATIONS=koa,winston)',
      env: { OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'koa,winston' },
    },
    {
      name: "neither http nor koa instrumentation: only the service's own spans (OTEL_NODE_ENABLED_INSTRUMENTATIONS=winston)",
      env: { OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'winston' },
    },
    {
      name: 'smaller export batches (OTEL_BSP_MAX_EXPORT_BATCH_SIZE=128)',
      env: { OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '128' },
    },
    { name: 'logs not exported (OTEL_LOGS_EXPORTER=none)', env: { OTEL_LOGS_EXPORTER: 'none' } },
    {
      name: 'LOG_LEVEL=error (no warn line per rejection)',
      env: { LOG_LEVEL: 'error', PORT: String(await freePort()) },
    },
    {
      name: 'OpenTelemetry off (OTEL_SDK_DISABLED=true): service logic, prom-client, winston',
      env: { OTEL_SDK_DISABLED: 'true' },
    },
  ];
  const rows: Array<{ name: string; rps: number; p99: number; cpuUsPerRequest: number }> = [];
  const bare = await startBare();
  try {
    await load(bare.url, { duration: WARMUP });
    const { value, appCpu } = await withForeignCpu(bare.pid, () => load(bare.url, { duration: DURATION }));
    rows.push({ name: 'bare koa', rps: value.rps, p99: value.p99, cpuUsPerRequest: (appCpu * 1e6) / value.rps });
    console.log(describe('bare', { ...value, appCpu, foreign: 0 }));
  } finally {
    await bare.stop();
  }
  for (const variant of variants) {
    const svc = await startNode('service', ['--require', SERVICE_PRELOAD, SERVICE_MAIN], {
      OTEL_TRACES_EXPORTER: 'none',
      OTEL_LOGS_EXPORTER: 'none',
      OTEL_METRICS_EXPORTER: 'none',
      ...serviceEnv(sink),
      ...variant.env,
    });
    try {
      await load(svc.url, { duration: WARMUP });
      const { value, foreign, appCpu } = await withForeignCpu(svc.pid, () => load(svc.url, { duration: DURATION }));
      rows.push({ name: variant.name, rps: value.rps, p99: value.p99, cpuUsPerRequest: (appCpu * 1e6) / value.rps });
      console.log(`${describe('service', { ...value, appCpu, foreign })}  ← ${variant.name}`);
    } finally {
      await svc.stop();
    }
  }
  console.log('\nvariant | req/s | ÷ bare | p99 ms | CPU µs per request');
  for (const row of rows) {
    console.log(
      `${row.name} | ${row.rps.toFixed(0)} | ${(row.rps / rows[0]!.rps).toFixed(2)} | ${row.p99} | ${row.cpuUsPerRequest.toFixed(0)}`,
    );
  }
  report.ablation = rows;
}

async function main(): Promise<void> {
  const info = machine();
  console.log(`bench: ${JSON.stringify(info)}; OTLP ${OTLP_PROTOCOL}; token ${TOKEN.slice(0, 4)}…`);
  fs.mkdirSync(OUT_DIR, { recursive: true });
  const report: Record<string, unknown> = {
    machine: info,
    at: new Date().toISOString(),
    settings: { DURATION, WARMUP, CONNECTIONS, ROUNDS, MEMORY_FIRST, MEMORY_TOTAL, OTLP_PROTOCOL },
  };
  const sink = await new OtlpSink().start();
  try {
    if (!ONLY) await throughputPhase(sink, report);
    if ((MEMORY && !ONLY) || ONLY === 'memory') await memoryPhase(sink, report);
    if ((FLOOD && !ONLY) || ONLY === 'flood') await floodPhase(report);
    if ((PROFILE && !ONLY) || ONLY === 'profile') await profilePhase(sink, report);
    if (ONLY === 'ablation') await ablationPhase(sink, report);
  } finally {
    await sink.stop();
  }
  report.verdicts = verdicts;
  fs.writeFileSync(path.join(OUT_DIR, 'results.json'), JSON.stringify(report, null, 2));
  const failed = verdicts.filter((v) => !v.pass);
  console.log(
    `\n${verdicts.length - failed.length}/${verdicts.length} targets met${failed.length ? `; FAILED: ${failed.map((v) => v.target).join('; ')}` : ''}` +
      ` (details in ${path.relative(process.cwd(), path.join(OUT_DIR, 'results.json'))})`,
  );
  process.exit(failed.length ? 1 : 0);
}

main().catch((err: unknown) => {
  console.error('bench failed:', err);
  process.exit(2);
});
