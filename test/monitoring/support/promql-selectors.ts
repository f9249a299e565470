// A small PromQL reader for the tests: finds the series selectors (metric name and label matchers) and the
// grouping labels of an expression, so they can be checked against what the service really exposes.

export interface Matcher {
  label: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}
export interface SelectorUse {
  metric: string;
  matchers: Matcher[];
}
export interface ExpressionUses {
  selectors: SelectorUse[];
  groupingLabels: string[];
}

type Token = { kind: 'ident' | 'string' | 'number' | 'punct'; text: string };

const GROUPING_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const OTHER_KEYWORDS = new Set(['and', 'or', 'unless', 'offset', 'bool', 'inf', 'nan']);

function tokenize(expr: string): Token[] {
  const tokens: Token[] = [];
  const pattern =
    /\s+|#[^\n]*|("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)|([A-Za-z_:][A-Za-z0-9_:]*)|(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[a-zA-Z]*)|(=~|!~|!=|==|>=|<=|[{}()[\],=<>+\-*/%^@])|(\$[A-Za-z_{][A-Za-z0-9_.}]*)/gy;
  while (pattern.lastIndex < expr.length) {
    const at = pattern.lastIndex;
    const match = pattern.exec(expr);
    if (!match) throw new Error(`cannot read PromQL at ${at}: ${expr}`);
    if (match[1] !== undefined)
      tokens.push({
        kind: 'string',
        text: JSON.parse(match[1].startsWith('"') ? match[1] : JSON.stringify(match[1].slice(1, -1))) as string,
      });
    else if (match[2] !== undefined) tokens.push({ kind: 'ident', text: match[2] });
    else if (match[3] !== undefined) tokens.push({ kind: 'number', text: match[3] });
    else if (match[4] !== undefined) tokens.push({ kind: 'punct', text: match[4] });
    else if (match[5] !== undefined) tokens.push({ kind: 'string', text: match[5] });
  }
  return tokens;
}

export function readExpression(expr: string): ExpressionUses {
  const tokens = tokenize(expr);
  const selectors: SelectorUse[] = [];
  const groupingLabels: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    const next = tokens[i + 1];
    if (token.kind === 'punct' && token.text === '[') {
      while (i < tokens.length && tokens[i]!.text !== ']') i++;
      continue;
    }
    if (token.kind !== 'ident') continue;
    if (GROUPING_KEYWORDS.has(token.text)) {
      if (next?.text === '(') {
        for (i += 2; i < tokens.length && tokens[i]!.text !== ')'; i++) {
          if (tokens[i]!.kind === 'ident') groupingLabels.push(tokens[i]!.text);
        }
      }
      continue;
    }
    if (OTHER_KEYWORDS.has(token.text)) {
      if (token.text === 'offset') i++;
      continue;
    }
    // A function or an aggregation (`sum(...)`, `sum by (x) (...)`).
    if (next?.text === '(' || next?.text === 'by' || next?.text === 'without') continue;
    const matchers: Matcher[] = [];
    if (next?.text === '{') {
      for (i += 2; i < tokens.length && tokens[i]!.text !== '}'; i++) {
        if (tokens[i]!.text === ',') continue;
        const [label, op, value] = [tokens[i]!, tokens[i + 1], tokens[i + 2]];
        if (!op || !value || value.kind !== 'string')
          throw new Error(`cannot read matcher near ${label.text} in ${expr}`);
        matchers.push({ label: label.text, op: op.text as Matcher['op'], value: value.text });
        i += 2;
      }
    }
    selectors.push({ metric: token.text, matchers });
  }
  return { selectors, groupingLabels };
}
