import { TOKEN_SOURCES, type Diagnosis, type RejectionReason, type TokenSource } from '../vocabulary/names';
import { botTokens } from './bot-token';
import { extractToken, type Extraction, type NotATokenReason } from './extract';

/** How the service answered a delivery it refused; picks the family of the diagnosis. */
export type RefusalOutcome = 'token_missing' | 'token_mismatch' | 'portal_mismatch' | RejectionReason;

/** What a refused request showed. Plain data: no Koa, no HTTP objects. */
export interface DiagnosisInput {
  outcome: RefusalOutcome;
  /** The Content-Type header as received; undefined when absent. */
  contentType: string | undefined;
  /** The Content-Length header as a number; undefined when absent. */
  contentLength: number | undefined;
  /** Transfer-Encoding: chunked (a body of unannounced length). */
  chunked: boolean;
  /** The parsed body; undefined when it was not parsed (refused before, or parsing failed). */
  body: unknown;
  /**
   * The first RAW_PREFIX_LENGTH characters of the raw body, when it was read: '' for a body with no bytes.
   * Read for a JSON parse failure (a form body labelled JSON) and a wrong path (a Bitrix24 form body).
   * It holds the token: only its shape is read, nothing of it is returned.
   */
  rawPrefix: string | undefined;
  query: Record<string, unknown>;
  /** Names of the request's headers, lower case. */
  headerNames: readonly string[];
  /** BITRIX24_TOKEN_SOURCES, in order. */
  sources: readonly TokenSource[];
  /** One extraction per configured source, in order. A mismatch's token is read for its shape only. */
  extractions: readonly Extraction[];
  /**
   * Configured tokens that failed hygiene (a URL, a wrong length or alphabet): where each is configured and
   * what is off, never the token. A mismatch is then blamed on the configuration, not on the delivery.
   */
  configuredTokenFaults?: readonly ConfiguredTokenFault[];
  /**
   * Whether a value equals a configured token (constant time): read only for a chat-bot event's inner bot
   * token, to tell "the bot's token was configured instead of the outgoing webhook's" from any mismatch.
   */
  isConfiguredToken?: (token: string) => boolean;
  /** For a portal_mismatch: the binding and what the delivery named (member_id and domain are not secret). */
  portalMismatch?: string;
}

export interface ConfiguredTokenFault {
  /** The variable (and entry) holding the token, e.g. `BITRIX24_WEBHOOK_TOKENS entry 1 (crm)`. */
  where: string;
  /** What is off, in lengths and kinds of characters only. */
  problem: string;
}

export interface DiagnosisResult {
  diagnosis: Diagnosis;
  /** Where: a field, parameter or header name, or a fixed phrase. Never a value from the request. */
  detail?: string;
}

/**
 * How much of the raw body diagnose() reads. Bitrix24 sends `event=` first and `auth[…]` after `data[…]`,
 * which for a chat-bot message holds the message text: 16 KiB covers all but very long messages.
 */
export const RAW_PREFIX_LENGTH = 16 * 1024;

/** 32 characters of [0-9a-z]: outgoing-webhook tokens, and application tokens (32 lowercase hex). */
export function looksLikeBitrix24Token(token: string): boolean {
  if (token.length !== 32) return false;
  for (let i = 0; i < token.length; i++) {
    const code = token.charCodeAt(i);
    if (!((code >= 0x30 && code <= 0x39) || (code >= 0x61 && code <= 0x7a))) return false;
  }
  return true;
}

/**
 * Names the likely cause of one refused delivery. Pure, linear in the size of the input.
 *
 * Precedence: the outcome (how the service answered) picks the family, so a diagnosis always explains the
 * answer the sender got. `not_configured` says nothing about the request: with no token there is nothing to
 * compare with, whatever arrived. Stage refusals (415, 413, 400) are refined only by what the stage saw.
 * A 401 is explained by MISSING_CHECKS below, in order; a 403 by the shape of the token that was compared.
 */
export function diagnose(input: DiagnosisInput): DiagnosisResult {
  switch (input.outcome) {
    case 'not_configured':
      return { diagnosis: 'not_configured' };
    case 'unsupported_media_type':
      if (mediaType(input.contentType) === '') return { diagnosis: 'content_type_missing' };
      // Read within the limits and kept: a relabelled Bitrix24 delivery is replayable once the label is fixed.
      return {
        diagnosis: looksLikeBitrix24Delivery({ body: undefined, rawPrefix: input.rawPrefix })
          ? 'unsupported_media_type_bitrix24_body'
          : 'unsupported_media_type',
      };
    case 'method_not_allowed':
      // Bitrix24 only POSTs: a GET on the handler URL is its POST after a 301/302 redirect, body dropped.
      return { diagnosis: 'redirected_to_get' };
    case 'payload_too_large':
      return { diagnosis: 'payload_too_large' };
    case 'request_timeout':
      return { diagnosis: 'request_timeout' };
    case 'overloaded':
      return { diagnosis: 'overloaded' };
    case 'store_unavailable':
      // The token matched; the delivery was refused only because it could not be kept.
      return { diagnosis: 'store_unavailable' };
    case 'malformed_body':
      return {
        diagnosis:
          isJson(input.contentType) && looksLikeFormBody(input.rawPrefix)
            ? 'form_body_labelled_json'
            : 'malformed_body',
      };
    case 'not_found':
      return { diagnosis: looksLikeBitrix24Delivery(input) ? 'wrong_path_bitrix24_body' : 'wrong_path' };
    case 'portal_mismatch':
      return {
        diagnosis: 'portal_mismatch',
        ...(input.portalMismatch !== undefined ? { detail: input.portalMismatch } : {}),
      };
    case 'token_mismatch':
      return (
        botTokenConfigured(input) ??
        configuredTokenMalformed(input.configuredTokenFaults) ??
        diagnoseMismatch(input.extractions)
      );
    case 'token_missing':
      for (const check of MISSING_CHECKS) {
        const found = check(input);
        if (found) return found;
      }
      return { diagnosis: 'unknown' };
  }
}

type Check = (input: DiagnosisInput) => DiagnosisResult | undefined;

/**
 * Why no token was found, most fundamental first:
 * 1. nothing arrived, or the body arrived in another format than labelled: every later check reads the
 *    parsed body, which then says nothing about the sender;
 * 2. a checked place held something that is not a token: that place is exactly where it went wrong;
 * 3. a token sits in a source BITRIX24_TOKEN_SOURCES leaves out: a configuration fix, the token is there
 *    (else, a value there that is not a token, as in 2);
 * 4. the key arrived in a form the parser does not read (these rarely occur together; any order);
 * 5. otherwise, how much of Bitrix24's `auth` block is there at all.
 */
const MISSING_CHECKS: readonly Check[] = [
  emptyBody,
  jsonBodyLabelledForm,
  notAToken,
  tokenInUncheckedSource,
  doubleEncodedKey,
  wrongCaseKey,
  topLevelKey,
  queryFormKey,
  authWithoutToken,
  withoutAuth,
];

const TOKEN_KEY = 'application_token';
const FORM_TOKEN_KEY = 'auth[application_token]';

function emptyBody({ contentLength, chunked, rawPrefix }: DiagnosisInput): DiagnosisResult | undefined {
  if (contentLength === 0) return { diagnosis: 'empty_body', detail: 'Content-Length: 0' };
  if (contentLength === undefined && !chunked)
    return { diagnosis: 'empty_body', detail: 'no Content-Length and not chunked' };
  if (rawPrefix === '') return { diagnosis: 'empty_body', detail: 'no bytes in the body' };
  return undefined;
}

function jsonBodyLabelledForm({ contentType, body }: DiagnosisInput): DiagnosisResult | undefined {
  // JSON has no `&`-separated `name=value` pairs: the form parser makes the text (up to a first `&` or
  // `=`) one key, and drops a leading `[` of an array.
  return isForm(contentType) && startsLikeJson(keysOf(body)[0] ?? '')
    ? { diagnosis: 'json_body_labelled_form' }
    : undefined;
}

const NOT_A_TOKEN: Record<NotATokenReason, Diagnosis> = {
  repeated: 'token_repeated',
  empty: 'token_empty',
  not_a_string: 'token_not_a_string',
};

function notAToken({ extractions }: Pick<DiagnosisInput, 'extractions'>): DiagnosisResult | undefined {
  const first = extractions.find((extraction) => extraction.rejected.length > 0)?.rejected[0];
  return first ? { diagnosis: NOT_A_TOKEN[first.reason], detail: first.location } : undefined;
}

function tokenInUncheckedSource({ sources, body, query, headerNames }: DiagnosisInput): DiagnosisResult | undefined {
  const unchecked: Extraction[] = [];
  for (const source of TOKEN_SOURCES) {
    if (sources.includes(source)) continue;
    // Header values are not part of the input (they may be anything a proxy adds); the dedicated header's
    // presence is telling enough. A bare `Authorization` is not: proxies add Basic credentials.
    if (source === 'header') {
      if (headerNames.includes('x-bitrix24-token'))
        return { diagnosis: 'token_in_unchecked_source', detail: 'header x-bitrix24-token' };
      continue;
    }
    const extraction = extractToken(source, { body, query, headers: {} });
    if (extraction.token !== undefined) return { diagnosis: 'token_in_unchecked_source', detail: extraction.location };
    unchecked.push(extraction);
  }
  // Not a token there either: checking that source would not help, the value itself is wrong.
  return notAToken({ extractions: unchecked });
}

/** `auth%255Bapplication_token%255D` on the wire: after the parser's one decoding, still percent-encoded. */
function doubleEncodedKey({ body }: DiagnosisInput): DiagnosisResult | undefined {
  const key = keysOf(body).find((candidate) => candidate.includes('%') && decodesTo(candidate, FORM_TOKEN_KEY));
  return key !== undefined ? { diagnosis: 'token_key_double_encoded', detail: key } : undefined;
}

/** `auth[APPLICATION_TOKEN]`, `AUTH[application_token]`, nested or flat. */
function wrongCaseKey({ body }: DiagnosisInput): DiagnosisResult | undefined {
  for (const key of keysOf(body)) {
    if (key !== FORM_TOKEN_KEY && key.toLowerCase() === FORM_TOKEN_KEY)
      return { diagnosis: 'token_key_wrong_case', detail: key };
    if (key.toLowerCase() !== 'auth') continue;
    const inner = keysOf((body as Record<string, unknown>)[key]).find(
      (sub) => sub.toLowerCase() === TOKEN_KEY && (key !== 'auth' || sub !== TOKEN_KEY),
    );
    if (inner !== undefined) return { diagnosis: 'token_key_wrong_case', detail: `${key}[${inner}]` };
  }
  return undefined;
}

function topLevelKey({ body }: DiagnosisInput): DiagnosisResult | undefined {
  return isRecord(body) && hasOwn(body, TOKEN_KEY)
    ? { diagnosis: 'token_key_top_level', detail: TOKEN_KEY }
    : undefined;
}

/** The form key on the URL: Koa's query parser is flat, so it stays the literal `auth[application_token]`. */
function queryFormKey({ query }: DiagnosisInput): DiagnosisResult | undefined {
  const nested = hasOwn(query, 'auth') && isRecord(query.auth) && hasOwn(query.auth, TOKEN_KEY);
  return hasOwn(query, FORM_TOKEN_KEY) || nested
    ? { diagnosis: 'token_in_query_as_form_key', detail: `query ${FORM_TOKEN_KEY}` }
    : undefined;
}

function authWithoutToken({ body }: DiagnosisInput): DiagnosisResult | undefined {
  return hasAuthBlock(body) ? { diagnosis: 'auth_without_token' } : undefined;
}

function withoutAuth({ body, contentType }: DiagnosisInput): DiagnosisResult | undefined {
  if (body === undefined) return undefined;
  return { diagnosis: isJson(contentType) ? 'json_without_auth' : 'no_auth_block' };
}

/** The chat-bot's own token (data[BOT][<id>]…) is configured, not the outer auth[application_token]. */
function botTokenConfigured({ body, isConfiguredToken }: DiagnosisInput): DiagnosisResult | undefined {
  if (!isConfiguredToken) return undefined;
  const configured = botTokens(body).find(({ token }) => isConfiguredToken(token));
  return configured ? { diagnosis: 'bot_token_configured', detail: configured.location } : undefined;
}

/**
 * A configured token unlike any Bitrix24 token can match no real delivery: the fault is the configuration's,
 * whatever was received. The detail names the variable and what is off (never the token).
 */
function configuredTokenMalformed(faults: readonly ConfiguredTokenFault[] | undefined): DiagnosisResult | undefined {
  if (!faults || faults.length === 0) return undefined;
  return {
    diagnosis: 'configured_token_malformed',
    detail: faults.map(({ where, problem }) => `${where}: the token ${problem}`).join('; '),
  };
}

export function diagnoseMismatch(extractions: readonly Extraction[]): DiagnosisResult {
  // The deciding token is the first one found, as in decide(); read for its shape, never kept.
  const deciding = extractions.find((extraction) => extraction.token !== undefined);
  if (!deciding) return { diagnosis: 'unknown' };
  const shaped = looksLikeBitrix24Token(deciding.token!);
  return { diagnosis: shaped ? 'mismatch_bitrix24_shaped' : 'mismatch_not_bitrix24_shaped', detail: deciding.location };
}

const EVENT_PATTERN = /^ON[A-Z0-9_]{1,64}$/;

/** `event=ON…` and an `auth[…]` block: parsed, or in the raw form body when it was not parsed. */
function looksLikeBitrix24Delivery({ body, rawPrefix }: Pick<DiagnosisInput, 'body' | 'rawPrefix'>): boolean {
  if (isRecord(body) && hasOwn(body, 'event')) {
    return typeof body.event === 'string' && EVENT_PATTERN.test(body.event) && hasAuthBlock(body);
  }
  if (rawPrefix === undefined) return false;
  let event = false;
  let auth = false;
  for (const pair of rawPrefix.split('&')) {
    if (pair.startsWith('event=ON')) event = true;
    if (/^auth(\[|%5B)/i.test(pair)) auth = true;
  }
  return event && auth;
}

/** An `auth` field, or the flat keys a flat parser leaves (`auth[domain]`). */
function hasAuthBlock(body: unknown): boolean {
  return isRecord(body) && (hasOwn(body, 'auth') || keysOf(body).some((key) => key.startsWith('auth[')));
}

/** Decodes up to three more times: a key encoded twice or three times by a chain of proxies. */
function decodesTo(key: string, target: string): boolean {
  let text = key;
  for (let round = 0; round < 3 && text.includes('%'); round++) {
    try {
      text = decodeURIComponent(text);
    } catch {
      return false;
    }
    if (text === target) return true;
  }
  return false;
}

/** `name=value` at the start, with a name made only of characters a form key has on the wire. */
function looksLikeFormBody(prefix: string | undefined): boolean {
  if (!prefix) return false;
  const equals = prefix.indexOf('=');
  if (equals <= 0) return false;
  for (let i = 0; i < equals; i++) {
    if (!FORM_KEY_CHARACTER.test(prefix[i]!)) return false;
  }
  return true;
}

const FORM_KEY_CHARACTER = /[A-Za-z0-9%._\-[\]+*~]/;

function startsLikeJson(text: string): boolean {
  const first = text.trimStart()[0];
  return first === '{' || first === '[';
}

function mediaType(contentType: string | undefined): string {
  const value = contentType ?? '';
  const semicolon = value.indexOf(';');
  return (semicolon < 0 ? value : value.slice(0, semicolon)).trim().toLowerCase();
}

function isJson(contentType: string | undefined): boolean {
  const type = mediaType(contentType);
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}

function isForm(contentType: string | undefined): boolean {
  return mediaType(contentType) === 'application/x-www-form-urlencoded';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function hasOwn(record: Record<string, unknown>, key: string): boolean {
  return Object.hasOwn(record, key);
}

function keysOf(value: unknown): string[] {
  return isRecord(value) ? Object.keys(value) : [];
}
