import type { Context, Next } from 'koa';
import { createBodyParser } from '../receive/body';
import { decideMedia } from '../receive/media';

/** A console form of ids or the API's JSON: small. */
const ADMIN_BODY_LIMIT = '64kb';
const ADMIN_BODY_STATE = 'adminBody';
const readBody = createBodyParser(ADMIN_BODY_LIMIT);

/**
 * Reads a POST under /admin with the service's own body reader, so that one function decides media type and
 * coding everywhere: a form or JSON (UTF-8, up to 64 KB); no body at all reads as `{}`.
 */
export async function readAdminBody(ctx: Context, next: Next): Promise<void> {
  const hasBody = (ctx.request.length ?? 0) > 0 || ctx.get('transfer-encoding') !== '';
  if (!hasBody) {
    ctx.state[ADMIN_BODY_STATE] = {};
    return next();
  }
  const media = decideMedia(ctx.get('content-type') || undefined, ctx.get('content-encoding') || undefined);
  if (!media.ok) {
    ctx.status = 415;
    ctx.body = { status: 'rejected', reason: 'unsupported_media_type' };
    return;
  }
  const parsed = await readBody(ctx, media);
  if (!parsed.ok) {
    ctx.status = parsed.reason === 'payload_too_large' ? 413 : 400;
    ctx.body = { status: 'rejected', reason: parsed.reason };
    return;
  }
  ctx.state[ADMIN_BODY_STATE] =
    parsed.body !== null && typeof parsed.body === 'object' && !Array.isArray(parsed.body) ? parsed.body : {};
  return next();
}

/** The body `readAdminBody` read: an object (empty when there was none). */
export function adminBody(ctx: Context): Record<string, unknown> {
  return (ctx.state[ADMIN_BODY_STATE] ?? {}) as Record<string, unknown>;
}
