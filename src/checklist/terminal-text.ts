/**
 * A client-controlled string made safe to print on a terminal: every C0 control (ESC, BEL, CR, LF…), DEL and
 * C1 control (0x80–0x9f, incl. the one-byte CSI 0x9b) and the Unicode line/paragraph separators are shown as
 * `\xNN` / `\uNNNN` escapes, so a stored body or header cannot set a window title, clear the screen, write the
 * clipboard (OSC 52) or fake a line of our output. Backslashes are kept as they are (a JSON body stays
 * readable). Only for human output: `--json` stays exact JSON.
 */
export function terminalSafe(text: string): string {
  let out = '';
  let copiedUpTo = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    let escaped: string | undefined;
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) escaped = `\\x${code.toString(16).padStart(2, '0')}`;
    else if (code === 0x2028 || code === 0x2029) escaped = `\\u${code.toString(16)}`;
    if (escaped === undefined) continue;
    out += text.slice(copiedUpTo, i) + escaped;
    copiedUpTo = i + 1;
  }
  return copiedUpTo === 0 ? text : out + text.slice(copiedUpTo);
}
