import zlib from 'node:zlib';
import type { Readable } from 'node:stream';
import bourne from '@hapi/bourne';
import qs from 'qs';
import getRawBody from 'raw-body';
import type { Context } from 'koa';
import type { RejectionReason } from '../vocabulary/names';
import type { ContentCoding } from './media';
import { FORM_PARSE_OPTIONS } from './form-options';
import { BODY_METER_STATE, type BodyMeter } from './limits';

/** `raw` is the body as read (it holds the token: for diagnosis and for storing scrubbed, never for logging). */
export type ParseOutcome =
  | { ok: true; body: unknown; raw: string }
  | { ok: false; reason: RejectionReason; detail: string; raw?: string };

export interface BodyDecision {
  kind: 'form' | 'json';
  coding: ContentCoding;
}

/**
 * Reads and parses a body exactly as `decision` (from decideMedia) says: its coding undone, read as UTF-8
 * up to `limit` bytes after decoding, then parsed as a form or as a JSON object or array. Says why instead of
 * throwing.
 */
export function createBodyParser(limit: string): (ctx: Context, decision: BodyDecision) => Promise<ParseOutcome> {
  return async (ctx, { kind, coding }) => {
    let text: string;
    try {
      const length = coding === 'identity' ? ctx.get('content-length') : '';
      const meter = ctx.state[BODY_METER_STATE] as BodyMeter | undefined;
      const source = decoded(ctx.req, coding);
      if (meter) meterBody(source, meter);
      text = await getRawBody(source, {
        limit,
        encoding: 'utf8',
        ...(length !== '' ? { length: Number(length) } : {}),
      });
    } catch (error) {
      return { ok: false, ...classifyReadError(error, coding) };
    }
    try {
      return { ok: true, body: kind === 'form' ? qs.parse(text, FORM_PARSE_OPTIONS) : parseJson(text), raw: text };
    } catch (error) {
      return { ok: false, reason: 'malformed_body', detail: parseErrorDetail(kind, error), raw: text };
    }
  };
}

/**
 * Charges the body budget for every byte as it arrives; past the budget, the read fails as overloaded. A
 * second 'data' listener beside raw-body's (added in the same tick, so no chunk is missed): a piped
 * Transform cost a junk flood 30 times the latency of genuine deliveries.
 */
function meterBody(source: Readable, meter: BodyMeter): void {
  const onData = (chunk: Buffer | string) => {
    if (meter.charge(typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length)) return;
    source.off('data', onData);
    source.emit('error', Object.assign(new Error('body memory budget exhausted'), { type: 'body.overloaded' }));
  };
  source.on('data', onData);
  source.once('end', () => source.off('data', onData));
}

function decoded(request: Readable, coding: ContentCoding): Readable {
  if (coding === 'identity') return request;
  const decoder = coding === 'br' ? zlib.createBrotliDecompress() : zlib.createUnzip();
  request.on('error', (error) => decoder.destroy(error));
  return request.pipe(decoder);
}

/** A JSON object or array (a bare string or number is no delivery); `__proto__` keys dropped, not refused. */
function parseJson(text: string): unknown {
  if (text === '') return {};
  let i = 0;
  while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  if (text[i] !== '{' && text[i] !== '[') throw new SyntaxError('not an object or array');
  return bourne.parse(text, { protoAction: 'remove' });
}

// Error messages are never passed on: a JSON syntax error quotes the body, and the body holds the token.
function parseErrorDetail(kind: 'form' | 'json', error: unknown): string {
  if (kind === 'json') return 'invalid JSON (only an object or array is accepted)';
  const message = error instanceof Error ? error.message : '';
  if (message.startsWith('Parameter limit exceeded'))
    return `more than ${FORM_PARSE_OPTIONS.parameterLimit} form parameters`;
  if (message.startsWith('Array limit exceeded'))
    return `a form key repeated more than ${FORM_PARSE_OPTIONS.arrayLimit} times`;
  if (message.startsWith('Input depth exceeded')) return `form keys nested deeper than ${FORM_PARSE_OPTIONS.depth}`;
  return 'unparseable form body';
}

function classifyReadError(error: unknown, coding: ContentCoding): { reason: RejectionReason; detail: string } {
  const { type } = (error ?? {}) as { type?: string };
  if (type === 'entity.too.large') return { reason: 'payload_too_large', detail: 'body over BODY_LIMIT' };
  if (type === 'body.overloaded')
    return { reason: 'overloaded', detail: 'bodies in flight hold all of BODY_MEMORY_LIMIT' };
  // raw-body's own errors have a type; a decoder's (zlib's) have none.
  if (type === undefined && coding !== 'identity')
    return { reason: 'malformed_body', detail: `body does not decode as ${coding}` };
  // A body shorter than its Content-Length, an aborted upload, bad chunked encoding.
  return { reason: 'malformed_body', detail: type ?? 'unreadable body' };
}
