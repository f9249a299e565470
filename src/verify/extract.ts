import type { TokenSource } from '../vocabulary/names';

/** What a request offers to look in. Plain data: no Koa, no HTTP objects. */
export interface TokenCarrier {
  body: unknown;
  query: Record<string, unknown>;
  /** Every value of each header that may carry a token (in the shape of Node's `headersDistinct`): a repeated header is visible. */
  headers: Record<string, string[] | undefined>;
}

/** Why a source that held something at a looked-at place still yielded no token. */
export type NotATokenReason = 'repeated' | 'empty' | 'not_a_string';

export interface Extraction {
  source: TokenSource;
  /** The token, when the source holds exactly one non-empty string. Never logged or exported. */
  token?: string;
  /** The place that held the token, or every place examined when none did. */
  location: string;
  /** Places that held a value that is not a token, and why (e.g. a repeated key). */
  rejected: Array<{ location: string; reason: NotATokenReason }>;
}

type Candidate = { location: string; value: unknown; present: boolean };

/** Query parameters that may carry the token. */
export const QUERY_TOKEN_PARAMETERS = ['application_token', 'token'] as const;

const BODY_NESTED = 'auth[application_token]';
const BODY_FLAT = 'auth[application_token] (flat key)';

/**
 * The places in a parsed body the receiver reads a token from: the only body locations a stored candidate
 * may name for a replay to count it (src/recover/replay-decision.ts).
 */
export const BODY_TOKEN_LOCATIONS: readonly string[] = [BODY_NESTED, BODY_FLAT];

/**
 * Looks for the token in one source. Pure: the same carrier always yields the same extraction.
 * A value counts only when it is one non-empty string; a repeated key (an array) is not a token.
 */
export function extractToken(source: TokenSource, carrier: TokenCarrier): Extraction {
  return pick(source, CANDIDATES[source](carrier));
}

const CANDIDATES: Record<TokenSource, (carrier: TokenCarrier) => Candidate[]> = {
  body: ({ body }) => {
    const auth = isRecord(body) ? own(body, 'auth') : undefined;
    const nested = isRecord(auth) ? ownCandidate(auth, 'application_token') : absent();
    return [
      // A nested form key and a JSON body both land in body.auth.application_token.
      { location: BODY_NESTED, ...nested },
      { location: BODY_FLAT, ...(isRecord(body) ? ownCandidate(body, 'auth[application_token]') : absent()) },
    ];
  },
  query: ({ query }) =>
    QUERY_TOKEN_PARAMETERS.map((parameter) => ({ location: `query ${parameter}`, ...ownCandidate(query, parameter) })),
  header: ({ headers }) => [
    { location: 'header x-bitrix24-token', ...headerCandidate(headers['x-bitrix24-token']) },
    { location: 'header authorization (Bearer)', ...bearerCandidate(headers.authorization) },
  ],
};

function pick(source: TokenSource, candidates: Candidate[]): Extraction {
  const rejected: Extraction['rejected'] = [];
  for (const candidate of candidates) {
    if (!candidate.present) continue;
    const reason = notATokenReason(candidate.value);
    if (reason) {
      rejected.push({ location: candidate.location, reason });
      continue;
    }
    return { source, token: candidate.value as string, location: candidate.location, rejected };
  }
  return { source, location: candidates.map((candidate) => candidate.location).join(', '), rejected };
}

function notATokenReason(value: unknown): NotATokenReason | undefined {
  if (Array.isArray(value)) return 'repeated';
  if (typeof value !== 'string') return 'not_a_string';
  if (value === '') return 'empty';
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Own properties only: a key inherited from a prototype is never a token. */
function own(record: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

function ownCandidate(record: Record<string, unknown>, key: string): { present: boolean; value: unknown } {
  const present = Object.hasOwn(record, key) && record[key] !== undefined;
  return { present, value: present ? record[key] : undefined };
}

function headerCandidate(values: string[] | undefined): { present: boolean; value: unknown } {
  if (!values || values.length === 0) return absent();
  return { present: true, value: values.length === 1 ? values[0] : values };
}

function bearerCandidate(values: string[] | undefined): { present: boolean; value: unknown } {
  const tokens = (values ?? []).map(bearerToken).filter((token) => token !== undefined);
  if (tokens.length === 0) return absent();
  return { present: true, value: tokens.length === 1 ? tokens[0] : tokens };
}

/**
 * `Bearer`, spaces or tabs, the token (no whitespace; may be empty), optional spaces or tabs; else undefined.
 * One pass over the header: a regex here backtracked quadratically on `Bearer` + many spaces + `a b`.
 */
export function bearerToken(header: string): string | undefined {
  if (header.length < 7 || header.slice(0, 6).toLowerCase() !== 'bearer') return undefined;
  let i = 6;
  while (i < header.length && isBlank(header.charCodeAt(i))) i++;
  if (i === 6) return undefined;
  const start = i;
  while (i < header.length && !isWhitespace(header.charCodeAt(i))) i++;
  const end = i;
  while (i < header.length && isBlank(header.charCodeAt(i))) i++;
  return i === header.length ? header.slice(start, end) : undefined;
}

function isBlank(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/** What `\s` matches in JavaScript: the token ends at any of these. */
function isWhitespace(code: number): boolean {
  return (
    (code >= 0x09 && code <= 0x0d) ||
    code === 0x20 ||
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000 ||
    code === 0xfeff
  );
}

function absent(): { present: false; value: undefined } {
  return { present: false, value: undefined };
}
