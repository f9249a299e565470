import type { Context } from 'koa';
import { boundText } from '../telemetry/bound-text';
import type { ServiceMetrics } from '../telemetry/metrics';
import type { RejectionReason } from '../vocabulary/names';
import { answerRejected } from './answers';
import { RETRY_AFTER_SECONDS } from './limits';
import type { RefusalRecorder } from './refusal';

/** Refuses a delivery whose body could not be read or parsed: before any token was looked for. */
export type EarlyRefusal = (ctx: Context, reason: RejectionReason, detail: string, raw?: string) => Promise<void>;

export function createEarlyRefusal(metrics: ServiceMetrics, refuse: RefusalRecorder): EarlyRefusal {
  return async (ctx, reason, detail, raw) => {
    // Answered already (limits.ts: body past its deadline); the body read failing now is not another outcome.
    if (ctx.headerSent) return;
    metrics.recordRejection(reason);
    // A body left unread (too large, wrong type, cut short) would make the connection unusable for the
    // next request on it; say so, rather than have the client's next delivery hit a reset.
    if (!ctx.req.complete) ctx.set('Connection', 'close');
    if (reason === 'overloaded') {
      // A body cut because bodies in flight filled BODY_MEMORY_LIMIT: the same answer, and the same
      // rate-limited line, as at the door (limits.ts); nothing to quarantine, the body is incomplete.
      ctx.set('Retry-After', String(RETRY_AFTER_SECONDS));
      ctx.set('Connection', 'close');
      refuse(ctx, { stage: 'limits', reason, detail }, (message, fields) =>
        refuse.warnOverloaded(message, {
          ...fields,
          content_encoding: boundText(ctx.get('content-encoding')) || 'none',
        }),
      );
      return answerRejected(ctx, reason);
    }
    await refuse.keep(ctx, { stage: 'parse', reason, detail, ...(raw !== undefined ? { raw } : {}) });
    answerRejected(ctx, reason);
  };
}
