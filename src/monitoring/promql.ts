// Small builders for the PromQL that alerts and dashboard share, so both read the same numbers.
import { METRIC } from '../vocabulary/names';

export type Matchers = Readonly<Record<string, string>>;

/** `metric{a="x",b="y"}` with matchers in the given order; values starting with `~` or `!` pick =~ / != . */
export function selector(metric: string, matchers: Matchers = {}): string {
  const parts = Object.entries(matchers).map(([label, value]) => {
    if (value.startsWith('!~')) return `${label}!~${JSON.stringify(value.slice(2))}`;
    if (value.startsWith('~')) return `${label}=~${JSON.stringify(value.slice(1))}`;
    if (value.startsWith('!')) return `${label}!=${JSON.stringify(value.slice(1))}`;
    return `${label}=${JSON.stringify(value)}`;
  });
  return parts.length === 0 ? metric : `${metric}{${parts.join(',')}}`;
}

export function byClause(labels: readonly string[]): string {
  return labels.length === 0 ? '' : ` by (${labels.join(', ')})`;
}

/** `sum by (...) (increase(sel[window]))`: a count of events in the window. */
export function sumIncrease(
  metric: string,
  matchers: Matchers,
  window: string,
  by: readonly string[],
  offset?: string,
): string {
  const range = offset ? `[${window}] offset ${offset}` : `[${window}]`;
  return `sum${byClause(by)} (increase(${selector(metric, matchers)}${range}))`;
}

export function sumRate(metric: string, matchers: Matchers, window: string, by: readonly string[]): string {
  return `sum${byClause(by)} (rate(${selector(metric, matchers)}[${window}]))`;
}

/**
 * Share of token verifications with the given result over the window. A ratio of two increase()s over the
 * same window: extrapolation cancels out, so it is right on a freshly started Prometheus too.
 */
export function verificationShare(
  result: string,
  window: string,
  by: readonly string[],
  matchers: Matchers = {},
): string {
  return `${sumIncrease(METRIC.verifications, { ...matchers, result }, window, by)}\n  /\n${sumIncrease(METRIC.verifications, matchers, window, by)}`;
}

export function histogramQuantile(
  quantile: number,
  metric: string,
  matchers: Matchers,
  window: string,
  by: readonly string[] = [],
): string {
  return `histogram_quantile(${quantile}, sum by (${['le', ...by].join(', ')}) (rate(${selector(`${metric}_bucket`, matchers)}[${window}])))`;
}

export type Comparison = '>' | '<';

/** `query > threshold`, parenthesising a query whose top level is a set operation. */
export function compare(query: string, comparison: Comparison, threshold: number): string {
  const needsParens = /\b(and|or|unless)\b/.test(query);
  return needsParens ? `(\n${indent(query)}\n) ${comparison} ${threshold}` : `${query} ${comparison} ${threshold}`;
}

export function indent(text: string, by = '  '): string {
  return text
    .split('\n')
    .map((line) => by + line)
    .join('\n');
}
