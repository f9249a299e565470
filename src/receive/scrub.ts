/** Field names that hold a credential wherever they appear (a chat-bot event carries its bot's token in data). */
const SECRET_FIELDS = ['application_token', 'access_token', 'refresh_token'];

/** True for a key that names a credential, whatever its case, or a flat key that ends in one (`x[access_token]`). */
export function isSecretField(key: string): boolean {
  const lower = key.toLowerCase();
  return SECRET_FIELDS.some((field) => lower.includes(field));
}

/**
 * A copy of `value` without any credential field at any depth. Iterative (no recursion, whatever the nesting)
 * and linear in the size of the value; objects keep their kind (null-prototype stays null-prototype).
 */
export function scrubSecrets(value: unknown): unknown {
  const root: { value: unknown } = { value: undefined };
  const stack: Array<{ from: unknown; into: Record<string | number, unknown>; key: string | number }> = [{ from: value, into: root, key: 'value' }];
  while (stack.length > 0) {
    const { from, into, key } = stack.pop()!;
    if (Array.isArray(from)) {
      const copy: unknown[] = new Array(from.length);
      into[key] = copy;
      for (let i = 0; i < from.length; i++) stack.push({ from: from[i], into: copy as unknown as Record<number, unknown>, key: i });
    } else if (typeof from === 'object' && from !== null) {
      const copy = Object.getPrototypeOf(from) === null ? (Object.create(null) as Record<string, unknown>) : {};
      into[key] = copy;
      for (const field of Object.keys(from)) {
        if (!isSecretField(field)) stack.push({ from: (from as Record<string, unknown>)[field], into: copy, key: field });
      }
    } else {
      into[key] = from;
    }
  }
  return root.value;
}
