import type { Context, Middleware } from 'koa';
import type { Config } from '../config/load';
import type { TokenCarrier } from '../verify/extract';
import { createTokenMatcher } from '../verify/verify';
import type { ServiceMetrics } from '../telemetry/metrics';
import type { Logger } from '../telemetry/logger';
import type { RejectionReason } from '../telemetry/names';
import { answerAccepted, answerRejected } from './answers';
import { createBodyParser } from './body';
import { deliveryFacts, eventData } from './delivery';
import { decideMedia } from './media';
import { diagnoseRefusal, type Refusal, type RefusalRecorder } from './refusal';
import type { EventSink } from './sink';
import { verifyRequest, type VerificationRun } from './verify-request';

export interface WebhookDeps {
  config: Config;
  metrics: ServiceMetrics;
  logger: Logger;
  sink: EventSink;
  refuse: RefusalRecorder;
}

/** request → extract → verify → answer + record, for POST WEBHOOK_PATH. */
export function createWebhookHandler({ config, metrics, logger, sink, refuse }: WebhookDeps): Middleware {
  const parseBody = createBodyParser(config.bodyLimit);
  const match = config.tokens.length > 0 ? createTokenMatcher(config.tokens) : undefined;

  const refuseBeforeVerification = (ctx: Context, reason: RejectionReason, detail: string, raw?: string): void => {
    // Answered already (limits.ts: body past its deadline); the body read failing now is not another outcome.
    if (ctx.headerSent) return;
    metrics.recordRejection(reason);
    // A body left unread (too large, wrong type, cut short) would make the connection unusable for the
    // next request on it; say so, rather than have the client's next delivery hit a reset.
    if (!ctx.req.complete) ctx.set('Connection', 'close');
    refuse(ctx, { stage: 'parse', reason, detail, ...(raw !== undefined ? { raw } : {}) });
    answerRejected(ctx, reason);
  };

  return async (ctx) => {
    let body: unknown = {};
    let raw: string | undefined;
    if (hasBody(ctx)) {
      const media = decideMedia(ctx.get('content-type'), ctx.get('content-encoding'));
      if (!media.ok) return refuseBeforeVerification(ctx, 'unsupported_media_type', media.detail);
      const parsed = await parseBody(ctx, media);
      if (!parsed.ok) return refuseBeforeVerification(ctx, parsed.reason, parsed.detail, parsed.raw);
      body = parsed.body ?? {};
      raw = parsed.raw;
    }

    const carrier: TokenCarrier = { body, query: ctx.query, headers: ctx.req.headersDistinct };
    const facts = deliveryFacts(body);
    const refusalOf = (run: VerificationRun): Refusal => ({
      stage: 'verify',
      reason: run.verdict && run.verdict.result !== 'accepted' ? run.verdict.reason : 'not_configured',
      body,
      ...(raw !== undefined ? { raw } : {}),
      run,
      facts,
    });
    const run = verifyRequest(carrier, config.sources, match, facts, metrics, ctx.state.serverContext, (unaccepted) =>
      diagnoseRefusal(ctx, refusalOf(unaccepted), config.sources),
    );
    const { verdict } = run;

    if (!verdict) {
      metrics.recordRejection('not_configured');
      refuse(ctx, refusalOf(run));
      return answerRejected(ctx, 'not_configured');
    }
    metrics.recordVerification(verdict.result, verdict.source, verdict.webhook, run.traceId);
    if (verdict.result !== 'accepted') {
      refuse(ctx, refusalOf(run));
      return answerRejected(ctx, verdict.reason);
    }

    await sink({
      webhook: verdict.webhook,
      event: facts.event,
      eventHandlerId: facts.eventHandlerId,
      ts: facts.ts,
      portal: { domain: facts.domain, memberId: facts.memberId },
      data: eventData(body),
      receivedAt: new Date(),
    });
    metrics.recordAcceptedEvent(facts.event, verdict.webhook);
    // Guarded: winston would format the whole line before dropping it at the usual `info` level.
    if (logger.isDebugEnabled()) logger.debug('webhook delivery accepted', {
      result: verdict.result,
      webhook: verdict.webhook,
      source: verdict.source,
      fingerprint: verdict.fingerprint,
      conflict: verdict.conflict,
      event: facts.event,
      portal_domain: facts.domain,
    });
    answerAccepted(ctx);
  };
}

/** A request carries a body when it says so (Content-Length > 0 or chunked), whatever its type. */
function hasBody(ctx: Context): boolean {
  return ctx.request.length > 0 || ctx.get('transfer-encoding') !== '';
}
