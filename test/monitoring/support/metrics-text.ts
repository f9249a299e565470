// Reads the Prometheus text exposition format into metric name → label → observed values.

export type ObservedLabels = Map<string, Set<string>>;
export type ObservedMetrics = Map<string, ObservedLabels>;

export function readExposition(text: string, into: ObservedMetrics = new Map()): ObservedMetrics {
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+\S+/.exec(line);
    if (!match) continue;
    const labels = into.get(match[1]!) ?? new Map<string, Set<string>>();
    into.set(match[1]!, labels);
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      const values = labels.get(pair[1]!) ?? new Set<string>();
      values.add(pair[2]!.replace(/\\(.)/g, (_all, char: string) => (char === 'n' ? '\n' : char)));
      labels.set(pair[1]!, values);
    }
  }
  return into;
}
