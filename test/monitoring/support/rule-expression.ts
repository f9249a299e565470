/** Splits a Prometheus alert expression `query > 0.2` / `(\n  query\n) < 1` into its query and threshold. */
export interface SplitExpression {
  query: string;
  comparison: '>' | '<';
  threshold: number;
}

export const normaliseWhitespace = (text: string) =>
  text.replace(/\s+/g, ' ').replace(/\( /g, '(').replace(/ \)/g, ')').trim();

export function splitAlertExpression(expr: string): SplitExpression {
  const match = /^([\s\S]*?)\s*(>|<)\s*(-?[0-9.]+(?:e[+-]?\d+)?)\s*$/.exec(expr.trim());
  if (!match) throw new Error(`not "<query> > <number>": ${expr}`);
  let query = match[1]!.trim();
  if (query.startsWith('(\n') && query.endsWith('\n)')) query = query.slice(2, -2);
  return { query: normaliseWhitespace(query), comparison: match[2] as '>' | '<', threshold: Number(match[3]) };
}
