/**
 * JSON.stringify without recursion: the same text for the JSON values a parsed body holds (plain objects,
 * arrays, strings, numbers, booleans, null; `toJSON` honoured, e.g. Date), whatever their nesting. V8's own
 * JSON.stringify recurses and overflows the stack on a body nested a few thousand levels deep, which the
 * body parser accepts; a delivery must not be refused (503) for that. With `omitKey`, object fields whose key
 * it accepts are left out at every depth: the text of a scrubbed copy, without making the copy.
 */
export function jsonText(value: unknown, omitKey?: (key: string) => boolean): string {
  const out: string[] = [];
  // Work items: a value to write, or a literal piece of text.
  const stack: Array<{ value: unknown; inArray: boolean } | string> = [{ value, inArray: true }];
  while (stack.length > 0) {
    const item = stack.pop()!;
    if (typeof item === 'string') {
      out.push(item);
      continue;
    }
    let current = item.value;
    if (
      current !== null &&
      typeof current === 'object' &&
      typeof (current as { toJSON?: unknown }).toJSON === 'function'
    ) {
      current = (current as { toJSON: () => unknown }).toJSON();
    }
    if (current === null || current === undefined || typeof current === 'function' || typeof current === 'symbol') {
      out.push('null');
    } else if (typeof current === 'number') {
      out.push(Number.isFinite(current) ? String(current) : 'null');
    } else if (typeof current === 'bigint') {
      out.push(String(current));
    } else if (typeof current === 'string' || typeof current === 'boolean') {
      out.push(JSON.stringify(current));
    } else if (Array.isArray(current)) {
      out.push('[');
      stack.push(']');
      for (let i = current.length - 1; i >= 0; i--) {
        stack.push({ value: current[i], inArray: true });
        if (i > 0) stack.push(',');
      }
    } else {
      const record = current as Record<string, unknown>;
      const keys = Object.keys(record).filter((key) => {
        const field = record[key];
        return field !== undefined && typeof field !== 'function' && typeof field !== 'symbol' && !omitKey?.(key);
      });
      out.push('{');
      stack.push('}');
      for (let i = keys.length - 1; i >= 0; i--) {
        stack.push({ value: record[keys[i]!], inArray: false });
        stack.push(`${JSON.stringify(keys[i])}:`);
        if (i > 0) stack.push(',');
      }
    }
  }
  return out.join('');
}
