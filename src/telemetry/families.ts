import client from 'prom-client';

/** The registries a family is registered in (the service's OpenMetrics registry, or a test's). */
export type Registers = Array<client.Registry | client.Registry<client.OpenMetricsContentType>>;

type Series<L extends string> = { readonly [K in L]: readonly string[] };

/**
 * A counter whose every series exists from the start, at 0: `rate()` over a series that appears with its
 * first increment misses that increment, and an alert on it cannot tell "none" from "not yet". `series`
 * lists each label's values; every combination is created.
 */
export function zeroedCounter<L extends string = never>(
  registers: Registers,
  name: string,
  help: string,
  series: Series<L> = {} as Series<L>,
  options: { enableExemplars?: boolean } = {},
): client.Counter<L> {
  const labelNames = Object.keys(series) as L[];
  const counter = new client.Counter<L>({
    name,
    help,
    labelNames,
    registers: registers as client.Registry[],
    ...options,
  });
  for (const labels of combinations(series)) {
    if (options.enableExemplars) counter.inc({ labels, value: 0 });
    else counter.inc(labels, 0);
  }
  return counter;
}

export function gauge<L extends string = never>(
  registers: Registers,
  name: string,
  help: string,
  labelNames: readonly L[] = [],
): client.Gauge<L> {
  return new client.Gauge<L>({ name, help, labelNames, registers: registers as client.Registry[] });
}

/** Longest wait for a store read during a scrape. */
const STORE_READ_MS = 250;

/**
 * A gauge read from the store on each scrape. /metrics answers promptly whatever the store does: a read that
 * takes longer than STORE_READ_MS, or fails, keeps the last value (the store-write counters and their alerts
 * say why). 0 until a source is set.
 */
export function storeReadGauge(
  registers: Registers,
  name: string,
  help: string,
): { setSource(read: () => Promise<number>): void } {
  let read: (() => Promise<number>) | undefined;
  new client.Gauge({
    name,
    help,
    registers: registers as client.Registry[],
    async collect() {
      if (read) await setFromRead(this, read);
    },
  }).set(0);
  return {
    setSource(source) {
      read = source;
    },
  };
}

async function setFromRead(target: client.Gauge, read: () => Promise<number>): Promise<void> {
  try {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), STORE_READ_MS);
    });
    const value = await Promise.race([read(), late]).finally(() => clearTimeout(timer));
    if (value !== undefined) target.set(value);
  } catch {
    // The store is unreachable: keep the last value.
  }
}

function combinations<L extends string>(series: Series<L>): Array<Record<L, string>> {
  let rows: Array<Record<string, string>> = [{}];
  for (const [label, values] of Object.entries(series) as Array<[string, readonly string[]]>) {
    rows = rows.flatMap((row) => values.map((value) => ({ ...row, [label]: value })));
  }
  return rows as Array<Record<L, string>>;
}
