import bodyParser from 'koa-bodyparser';
import type { Middleware } from 'koa';
import type { RejectionReason } from '../telemetry/names';

/**
 * qs options for Bitrix24 form bodies (PHP http_build_query): bracket keys nest; numeric keys stay object
 * keys (`data[BOT][567]` is a bot id, not an array index); depth enough for chat-bot events; a bounded
 * number of parameters that rejects rather than silently drops the rest (the token could be among them);
 * null-prototype objects and no prototype keys, so `__proto__`/`constructor` keys pollute nothing.
 */
export const FORM_PARSE_OPTIONS = {
  depth: 10,
  parameterLimit: 1000,
  throwOnLimitExceeded: true,
  parseArrays: false,
  plainObjects: true,
  allowPrototypes: false,
  allowDots: false,
} as const;

export const FORM_TYPES = ['application/x-www-form-urlencoded'];
export const JSON_TYPES = ['application/json', 'application/*+json'];

export type ParseOutcome = { ok: true } | { ok: false; reason: RejectionReason; detail: string };

/** Parses the body into ctx.request.body and says, instead of throwing, why it could not. */
export function createBodyParser(limit: string): (ctx: Parameters<Middleware>[0]) => Promise<ParseOutcome> {
  const options: bodyParser.Options = {
    enableTypes: ['json', 'form'],
    formLimit: limit,
    jsonLimit: limit,
    strict: true,
    extendTypes: { json: JSON_TYPES, form: FORM_TYPES },
  };
  // Passed through to co-body, though @types/koa-bodyparser does not declare them.
  Object.assign(options, {
    queryString: FORM_PARSE_OPTIONS,
    // Drop `__proto__` keys from JSON (bourne) rather than refuse the delivery.
    onProtoPoisoning: 'remove',
  });
  const parse = bodyParser(options);
  return async (ctx) => {
    try {
      await parse(ctx, async () => {});
      return { ok: true };
    } catch (error) {
      return { ok: false, ...classify(error) };
    }
  };
}

// Error messages are never passed on: a JSON syntax error quotes the body, and the body holds the token.
function classify(error: unknown): { reason: RejectionReason; detail: string } {
  const { status, type, name } = (error ?? {}) as { status?: number; type?: string; name?: string };
  if (status === 413 || type === 'entity.too.large') return { reason: 'payload_too_large', detail: 'body over BODY_LIMIT' };
  if (status === 415) return { reason: 'unsupported_media_type', detail: type ?? 'unsupported content encoding or charset' };
  if (name === 'SyntaxError') return { reason: 'malformed_body', detail: 'invalid JSON (only an object or array is accepted)' };
  if (name === 'RangeError') return { reason: 'malformed_body', detail: `more than ${FORM_PARSE_OPTIONS.parameterLimit} form parameters` };
  // A body shorter than its Content-Length, an aborted upload, bad chunked encoding.
  return { reason: 'malformed_body', detail: type ?? 'unreadable body' };
}
