import { isSecretKey } from './scrub';

/**
 * True for a key that names a credential (a chat-bot event carries its bot's token in data): the same rule as
 * for the raw body, whatever the case, percent-encoding depth or flat shape (`x[access_token][]`).
 */
export function isSecretField(key: string): boolean {
  return isSecretKey(key);
}

/**
 * A copy of `value` without any credential field at any depth. Iterative (no recursion, whatever the nesting)
 * and linear in the size of the value; objects keep their kind (null-prototype stays null-prototype).
 */
export function scrubSecrets(value: unknown): unknown {
  const root: { value: unknown } = { value: undefined };
  const stack: Array<{ from: unknown; into: Record<string | number, unknown>; key: string | number }> = [
    { from: value, into: root, key: 'value' },
  ];
  while (stack.length > 0) {
    const { from, into, key } = stack.pop()!;
    if (Array.isArray(from)) {
      const copy: unknown[] = new Array(from.length);
      into[key] = copy;
      for (let i = 0; i < from.length; i++)
        stack.push({ from: from[i], into: copy as unknown as Record<number, unknown>, key: i });
    } else if (typeof from === 'object' && from !== null) {
      const copy = Object.getPrototypeOf(from) === null ? (Object.create(null) as Record<string, unknown>) : {};
      into[key] = copy;
      // Copied in reverse, so that popping the stack fills the copy in the original key order.
      const fields = Object.keys(from).filter((field) => !isSecretField(field));
      for (let i = fields.length - 1; i >= 0; i--)
        stack.push({ from: (from as Record<string, unknown>)[fields[i]!], into: copy, key: fields[i]! });
    } else {
      into[key] = from;
    }
  }
  return root.value;
}
