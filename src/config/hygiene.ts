import { CONFIG_ENV_NAMES } from '../vocabulary/env-names';

/** Bitrix24 outgoing-webhook and application tokens: 32 characters of digits and lowercase letters. */
export const BITRIX24_TOKEN_LENGTH = 32;
/** An inbound (incoming) webhook's secret, the part of its REST URL after the user id: often configured by mistake. */
const INBOUND_WEBHOOK_SECRET_LENGTH = 16;
const TOKEN_ALPHABET = /^[0-9a-z]*$/;
const URL_LIKE = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * What makes a configured value unlike a Bitrix24 token, or undefined when it looks like one. The answer
 * names lengths and kinds of characters only, never the value or any part of it.
 */
export function tokenShapeProblem(token: string): string | undefined {
  if (URL_LIKE.test(token)) {
    return 'looks like a URL, not a token (a handler or REST URL pasted instead of the "Application token" field?)';
  }
  if (token.length === INBOUND_WEBHOOK_SECRET_LENGTH && TOKEN_ALPHABET.test(token)) {
    return (
      `is ${INBOUND_WEBHOOK_SECRET_LENGTH} characters long, like the secret of an inbound webhook (the code in ` +
      `https://<portal>/rest/<user>/<secret>/); the outgoing webhook's "Application token" is ${BITRIX24_TOKEN_LENGTH} characters of 0-9 and a-z`
    );
  }
  const problems: string[] = [];
  if (token.length !== BITRIX24_TOKEN_LENGTH) problems.push(`is ${token.length} characters long`);
  if (!TOKEN_ALPHABET.test(token)) {
    const kinds: string[] = [];
    if (/[A-Z]/.test(token)) kinds.push('uppercase letters');
    if (/[^0-9A-Za-z]/.test(token)) kinds.push('characters other than letters and digits');
    problems.push(`contains ${kinds.join(' and ')}`);
  }
  if (problems.length === 0) return undefined;
  return `${problems.join(' and ')}; a Bitrix24 token is ${BITRIX24_TOKEN_LENGTH} characters of 0-9 and a-z`;
}

/** Variables that look meant for this service (a BITRIX prefix in any case) but are not part of its contract. */
export function unknownVariableWarnings(
  names: Iterable<string>,
  known: readonly string[] = CONFIG_ENV_NAMES,
): string[] {
  const candidates = known.filter((name) => name.startsWith('BITRIX24_'));
  const warnings: string[] = [];
  for (const name of names) {
    if (!/^bitrix/i.test(name) || known.includes(name)) continue;
    const closest = closestName(name, candidates);
    warnings.push(
      `${name} is not a variable this service reads` +
        (closest ? `; did you mean ${closest}?` : `; it reads ${candidates.join(', ')}`),
    );
  }
  return warnings;
}

/** The known name nearest to `name`, when it is near enough to be the likely intent. */
export function closestName(name: string, known: readonly string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = levenshtein(name.toUpperCase(), candidate);
    if (!best || distance < best.distance) best = { name: candidate, distance };
  }
  if (!best) return undefined;
  return best.distance <= Math.max(2, Math.floor(best.name.length * 0.4)) ? best.name : undefined;
}

/** Edit distance (insertions, deletions, substitutions); names are short, and longer ones are cut at 128. */
export function levenshtein(a: string, b: string): number {
  const left = a.slice(0, 128);
  const right = b.slice(0, 128);
  let previous = Array.from({ length: right.length + 1 }, (_, index) => index);
  for (let i = 1; i <= left.length; i++) {
    const current = [i];
    for (let j = 1; j <= right.length; j++) {
      const substitution = previous[j - 1]! + (left[i - 1] === right[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[right.length]!;
}
