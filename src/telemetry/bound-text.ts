/** Longest client-chosen string that goes into a span attribute or a log field. */
export const MAX_CLIENT_TEXT = 128;

/**
 * A client-chosen string made safe for spans and logs: control characters (C0, DEL, C1, and the Unicode line
 * and paragraph separators) removed, then cut to `max` characters. One linear pass.
 */
export function boundText(value: string, max = MAX_CLIENT_TEXT): string {
  // The usual case, a short clean value (a path, a user agent, a host), is returned as it is: nothing built.
  if (value.length <= max && isClean(value)) return value;
  let out = '';
  for (let i = 0; i < value.length && out.length < max; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0x2028 || code === 0x2029) continue;
    out += value[i];
  }
  // Do not end on half of a surrogate pair.
  const last = out.charCodeAt(out.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? out.slice(0, -1) : out;
}

function isClean(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0x2028 || code === 0x2029) return false;
  }
  // A value ending on half of a surrogate pair is cut by the general path.
  const last = value.charCodeAt(value.length - 1);
  return !(last >= 0xd800 && last <= 0xdbff);
}
