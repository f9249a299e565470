import type { Context } from 'koa';
import type { RejectionReason } from '../vocabulary/names';

export type RejectionAnswer = RejectionReason | 'token_missing' | 'token_mismatch' | 'portal_mismatch';

export const STATUS_FOR: Record<RejectionAnswer, number> = {
  token_missing: 401,
  token_mismatch: 403,
  portal_mismatch: 403,
  not_configured: 503,
  unsupported_media_type: 415,
  payload_too_large: 413,
  malformed_body: 400,
  overloaded: 503,
  request_timeout: 408,
  not_found: 404,
  store_unavailable: 503,
  method_not_allowed: 405,
};

export function answerAccepted(ctx: Context): void {
  ctx.status = 200;
  ctx.body = { status: 'accepted' };
}

export function answerRejected(ctx: Context, reason: RejectionAnswer): void {
  ctx.status = STATUS_FOR[reason];
  ctx.body = { status: 'rejected', reason };
}
