// Reads the Prometheus text exposition format well enough for the robustness tests and the benchmark:
// one sample per line, labels parsed, exemplars and comments ignored.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim();
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*?)\})?\s+(\S+)/.exec(stripExemplar(line));
    if (!match) continue;
    samples.push({ name: match[1]!, labels: parseLabels(match[3] ?? ''), value: parseValue(match[4]!) });
  }
  return samples;
}

function stripExemplar(line: string): string {
  // `metric{..} 1 # {trace_id="..."} 1 123` -> drop everything from the exemplar marker outside quotes
  let inQuotes = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === '"') inQuotes = !inQuotes;
    if (!inQuotes && c === '#') return line.slice(0, i);
  }
  return line;
}

function parseLabels(body: string): Record<string, string> {
  const labels: Record<string, string> = Object.create(null) as Record<string, string>;
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/g;
  for (let m = re.exec(body); m; m = re.exec(body)) {
    labels[m[1]!] = m[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
  }
  return labels;
}

function parseValue(text: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  return Number(text);
}

/** Sum of the samples of one metric whose labels include the given ones. */
export function sumOf(samples: Sample[], name: string, where: Record<string, string> = {}): number {
  let total = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(where).every(([k, v]) => s.labels[k] === v)) total += s.value;
  }
  return total;
}

/** Distinct values of one label on one metric. */
export function labelValues(samples: Sample[], name: string, label: string): Set<string> {
  const values = new Set<string>();
  for (const s of samples) if (s.name === name && s.labels[label] !== undefined) values.add(s.labels[label]!);
  return values;
}

export async function scrape(baseUrl: string): Promise<Sample[]> {
  const response = await fetch(`${baseUrl}/metrics`);
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`);
  return parsePrometheusText(await response.text());
}
