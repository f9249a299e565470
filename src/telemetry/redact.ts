/** What a redacted query value becomes. */
export const REDACTED = 'REDACTED';

/**
 * The query string with every value replaced and every name kept: `a=1&token=x;b` → `a=REDACTED&token=REDACTED;b`.
 * Any value may hold a secret (whatever its name's case, brackets or encoding), so none is exported. Linear.
 */
export function redactQueryValues(query: string): string {
  let out = '';
  let inValue = false;
  for (let i = 0; i < query.length; i++) {
    const char = query[i]!;
    if (char === '&' || char === ';') {
      inValue = false;
      out += char;
    } else if (inValue) {
      // The value's characters are dropped.
    } else if (char === '=') {
      inValue = true;
      out += `=${REDACTED}`;
    } else {
      out += char;
    }
  }
  return out;
}
