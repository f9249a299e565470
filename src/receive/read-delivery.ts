import type { Context } from 'koa';
import type { RejectionReason } from '../vocabulary/names';
import type { createBodyParser } from './body';
import { decideMedia } from './media';

type BodyParser = ReturnType<typeof createBodyParser>;

/** What a delivery's body turned out to be: parsed (with its text, to keep), or refused with what was read of it. */
export type ReadDelivery =
  | { ok: true; body: unknown; raw: string | undefined }
  | { ok: false; reason: RejectionReason; detail: string; raw: string | undefined };

/**
 * The body by its declared media type and coding; no body (nothing declared) is an empty one. A body refused
 * for its media type is still read as text when it can be, so that it is quarantined whole.
 */
export async function readDelivery(ctx: Context, parseBody: BodyParser): Promise<ReadDelivery> {
  if (!hasBody(ctx)) return { ok: true, body: {}, raw: undefined };
  const media = decideMedia(ctx.get('content-type'), ctx.get('content-encoding'));
  if (!media.ok)
    return {
      ok: false,
      reason: 'unsupported_media_type',
      detail: media.detail,
      raw: await readUnlabelled(ctx, parseBody),
    };
  const parsed = await parseBody(ctx, media);
  if (!parsed.ok) return { ok: false, reason: parsed.reason, detail: parsed.detail, raw: parsed.raw };
  return { ok: true, body: parsed.body ?? {}, raw: parsed.raw };
}

/**
 * The body of a delivery refused for its media type, read as text within BODY_LIMIT (the memory budget
 * already counted it), so that a Bitrix24 body a proxy relabelled is quarantined whole and can be replayed.
 * Only an uncompressed body: an unknown coding cannot be undone. Undefined when it cannot be read whole.
 */
async function readUnlabelled(ctx: Context, parseBody: BodyParser): Promise<string | undefined> {
  const coding = ctx.get('content-encoding').trim().toLowerCase();
  if (coding !== '' && coding !== 'identity') return undefined;
  const read = await parseBody(ctx, { kind: 'form', coding: 'identity' });
  // A form parse failure still read the whole text; a body over the limit or cut short was not read whole.
  return read.ok || read.reason === 'malformed_body' ? read.raw : undefined;
}

/** A request carries a body when it says so (Content-Length > 0 or chunked), whatever its type. */
function hasBody(ctx: Context): boolean {
  return ctx.request.length > 0 || ctx.get('transfer-encoding') !== '';
}
