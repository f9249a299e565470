import { createHash } from 'node:crypto';

/** What every secret value in a stored body is replaced with. Safe unencoded in a form body and a JSON string. */
export const SECRET_MARKER = 'REDACTED';

/** Keys whose values are credentials, wherever they sit (`auth[…]`, `data[BOT][567][AUTH][…]`, JSON paths). */
export const SECRET_KEYS: ReadonlySet<string> = new Set(['application_token', 'access_token', 'refresh_token']);

/** The key of the webhook token: its values are reported as seen (by digest) in `quarantine show`. */
const CANDIDATE_KEY = 'application_token';

/** Prefix of the location of a token the raw-body scan saw: replay never reads these (see src/verify/extract.ts). */
export const RAW_LOCATION_PREFIX = 'raw body ';

/** Percent-decoding rounds a key gets before it is judged: a chain of proxies may encode a key twice or three times. */
const KEY_DECODE_ROUNDS = 4;

/**
 * The one rule for "this key holds a credential", for the parsed structure and the raw body alike: the key,
 * percent-decoded up to KEY_DECODE_ROUNDS times, lower-cased, contains a secret key's name. So
 * `auth[APPLICATION_TOKEN]`, `auth%255Bapplication_token%255D`, `auth[application_token][]`,
 * `auth.application_token`, a JSON `Application_Token` and a chat bot's `data[BOT][1][access_token]` all
 * count: every shape the extractor reads or the diagnosis recognises.
 */
export function isSecretKey(key: string): boolean {
  const lower = decodedKey(key);
  for (const name of SECRET_KEYS) if (lower.includes(name)) return true;
  return false;
}

function isCandidateKey(key: string): boolean {
  return decodedKey(key).includes(CANDIDATE_KEY);
}

function decodedKey(key: string): string {
  let text = key;
  for (let round = 0; round < KEY_DECODE_ROUNDS && (text.includes('%') || text.includes('+')); round++) {
    const decoded = decodeFormComponent(text);
    if (decoded === text) break;
    text = decoded;
  }
  return text.toLowerCase();
}

/** At most this many candidates are kept per body: a crafted body cannot make a row grow without bound. */
export const MAX_CANDIDATES = 16;

export interface BodyCandidate {
  /** The key that held it, as sent (decoded): `auth[application_token]`, `auth.application_token`. */
  location: string;
  /** SHA-256 hex of the value. */
  digest: string;
}

export interface ScrubbedBody {
  body: string;
  candidates: BodyCandidate[];
}

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/**
 * Replaces every secret value in a raw form or JSON body with SECRET_MARKER and returns the digests of the
 * webhook-token candidates. Linear in the body's length (one pass, no regex on client input); works on
 * malformed bodies too, since they are exactly the ones that get quarantined.
 */
export function scrubBody(raw: string): ScrubbedBody {
  // A well-formed JSON document is scrubbed as JSON only: a form pass over it would read `&access_token=`
  // inside a message text as a pair and cut the text. Anything else gets both passes: a quarantined body may
  // be JSON behind a garbage prefix, or a form body with a JSON fragment. Each pass changes only values under
  // a secret key, so the other's syntax survives it.
  // The JSON pass changes only string literals: a body without a quote (every form body Bitrix24 sends, its
  // quotes percent-encoded) comes out of it unchanged and without candidates, so it is skipped. Such a body
  // may still be well-formed JSON (`[1,2]`), but then it has no `=` either, and the form pass keeps it whole.
  const json = raw.includes('"') ? scrubJson(raw) : { body: raw, candidates: [], wellFormed: false };
  if (json.wellFormed) return { body: json.body, candidates: json.candidates.slice(0, MAX_CANDIDATES) };
  const form = scrubForm(json.body);
  return { body: form.body, candidates: [...json.candidates, ...form.candidates].slice(0, MAX_CANDIDATES) };
}

/** The last name of a key: `a[b][c]` → `c`, `a.b` → `b`, `a` → `a`. */
export function leafName(key: string): string {
  if (key.endsWith(']')) {
    const open = key.lastIndexOf('[');
    if (open >= 0) return key.slice(open + 1, -1);
  }
  const dot = key.lastIndexOf('.');
  return dot >= 0 ? key.slice(dot + 1) : key;
}

function scrubForm(raw: string): ScrubbedBody {
  const out: string[] = [];
  const candidates: BodyCandidate[] = [];
  let copiedUpTo = 0;
  let start = 0;
  // The next '=' at or after `start`, found again only once passed: every byte is scanned a bounded number of times.
  let nextEquals = raw.indexOf('=');
  while (start <= raw.length) {
    let end = raw.indexOf('&', start);
    if (end < 0) end = raw.length;
    if (nextEquals >= 0 && nextEquals < start) nextEquals = raw.indexOf('=', start);
    if (nextEquals >= 0 && nextEquals < end) {
      const key = decodeFormComponent(raw.slice(start, nextEquals));
      if (isSecretKey(key)) {
        out.push(raw.slice(copiedUpTo, nextEquals + 1), SECRET_MARKER);
        copiedUpTo = end;
        if (isCandidateKey(key) && candidates.length < MAX_CANDIDATES) {
          candidates.push({
            location: RAW_LOCATION_PREFIX + key,
            digest: sha256Hex(decodeFormComponent(raw.slice(nextEquals + 1, end))),
          });
        }
      }
    }
    start = end + 1;
  }
  out.push(raw.slice(copiedUpTo));
  return { body: out.join(''), candidates };
}

function decodeFormComponent(text: string): string {
  if (!text.includes('%') && !text.includes('+')) return text;
  const spaced = text.split('+').join(' ');
  try {
    return decodeURIComponent(spaced);
  } catch {
    // Broken percent-encoding elsewhere in the key must not hide a bracket that names a secret.
    return spaced.split('%5B').join('[').split('%5b').join('[').split('%5D').join(']').split('%5d').join(']');
  }
}

interface Frame {
  kind: 'object' | 'array';
  /** In an object: the next string is a key. */
  expectKey: boolean;
  /** The object's current key (decoded). */
  key: string;
}

/**
 * A one-pass JSON lexer: tracks only containers, keys and string literals. Every string under a secret key
 * (directly, or anywhere inside an array or object that is its value) becomes the marker; all other bytes,
 * including whitespace and escapes, are kept as they came.
 */
function scrubJson(raw: string): ScrubbedBody & { wellFormed: boolean } {
  const out: string[] = [];
  const candidates: BodyCandidate[] = [];
  const stack: Frame[] = [];
  let copiedUpTo = 0;
  let valueIsSecret = false; // after `"secret_key":`
  let maskDepth = -1; // while >= 0: inside a container that is a secret key's value, opened at this depth
  let i = 0;
  // Well-formed as far as this lexer sees: one container from the first non-blank byte to the last, closed
  // in order, nothing but blanks after it.
  let opened = false;
  let wellFormed = true;
  while (i < raw.length) {
    const c = raw[i]!;
    const top = stack[stack.length - 1];
    if (
      stack.length === 0 &&
      c !== ' ' &&
      c !== '\t' &&
      c !== '\n' &&
      c !== '\r' &&
      (opened || (c !== '{' && c !== '['))
    )
      wellFormed = false;
    if (c === '"') {
      const end = stringEnd(raw, i);
      const literal = raw.slice(i, end);
      if (top?.kind === 'object' && top.expectKey) {
        top.key = decodeJsonString(literal);
        top.expectKey = false;
      } else if (maskDepth >= 0 || valueIsSecret) {
        out.push(raw.slice(copiedUpTo, i), `"${SECRET_MARKER}"`);
        copiedUpTo = end;
        if (maskDepth < 0 && isCandidateKey(top?.key ?? '') && candidates.length < MAX_CANDIDATES) {
          const location =
            RAW_LOCATION_PREFIX + stack.map((frame) => (frame.kind === 'object' ? frame.key : '[]')).join('.');
          candidates.push({ location, digest: sha256Hex(decodeJsonString(literal)) });
        }
        valueIsSecret = false;
      }
      i = end;
      continue;
    }
    if (c === '{' || c === '[') {
      if (valueIsSecret && maskDepth < 0) maskDepth = stack.length;
      valueIsSecret = false;
      stack.push({ kind: c === '{' ? 'object' : 'array', expectKey: c === '{', key: '' });
      opened = true;
    } else if (c === '}' || c === ']') {
      if (top === undefined || (c === '}') !== (top.kind === 'object')) wellFormed = false;
      stack.pop();
      if (maskDepth >= 0 && stack.length <= maskDepth) maskDepth = -1;
    } else if (c === ',') {
      if (top?.kind === 'object') top.expectKey = true;
      valueIsSecret = false;
    } else if (c === ':') {
      if (top?.kind === 'object') valueIsSecret = isSecretKey(top.key);
    } else if (c !== ' ' && c !== '\t' && c !== '\n' && c !== '\r') {
      valueIsSecret = false; // a number, true/false/null: not a token
    }
    i += 1;
  }
  out.push(raw.slice(copiedUpTo));
  return { body: out.join(''), candidates, wellFormed: wellFormed && opened && stack.length === 0 };
}

/** Index just past the closing quote of the string literal starting at `start` (or the end of the text). */
function stringEnd(raw: string, start: number): number {
  let i = start + 1;
  while (i < raw.length) {
    const c = raw[i];
    if (c === '\\') i += 2;
    else if (c === '"') return i + 1;
    else i += 1;
  }
  return raw.length;
}

function decodeJsonString(literal: string): string {
  if (literal.length >= 2 && literal.endsWith('"') && !literal.includes('\\')) return literal.slice(1, -1);
  try {
    const value: unknown = JSON.parse(literal);
    if (typeof value === 'string') return value;
  } catch {
    // an unterminated or broken literal: its raw inside is the best guess
  }
  return literal.slice(1, literal.endsWith('"') && literal.length > 1 ? -1 : undefined);
}
