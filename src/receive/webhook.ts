import type { Context, Middleware } from 'koa';
import type { Config } from '../config/load';
import type { TokenCarrier } from '../verify/extract';
import { fingerprint } from '../verify/fingerprint';
import { createTokenMatcher, type Verdict } from '../verify/verify';
import type { ServiceMetrics } from '../telemetry/metrics';
import type { Logger } from '../telemetry/logger';
import type { RejectionReason } from '../telemetry/names';
import { boundText } from '../telemetry/bound-text';
import { answerAccepted, answerRejected } from './answers';
import { createBodyParser } from './body';
import { deliveryFacts, eventData, type DeliveryFacts } from './delivery';
import { decideMedia } from './media';
import type { EventSink } from './sink';
import { verifyRequest, type VerificationRun } from './verify-request';

export interface WebhookDeps {
  config: Config;
  metrics: ServiceMetrics;
  logger: Logger;
  sink: EventSink;
}

/** request → extract → verify → answer + record, for POST WEBHOOK_PATH. */
export function createWebhookHandler({ config, metrics, logger, sink }: WebhookDeps): Middleware {
  const parseBody = createBodyParser(config.bodyLimit);
  const match = config.tokens.length > 0 ? createTokenMatcher(config.tokens) : undefined;

  const rejectRequest = (ctx: Context, reason: RejectionReason, detail: string): void => {
    // Answered already (limits.ts: body past its deadline); the body read failing now is not another outcome.
    if (ctx.headerSent) return;
    metrics.recordRejection(reason);
    // A body left unread (too large, wrong type, cut short) would make the connection unusable for the
    // next request on it; say so, rather than have the client's next delivery hit a reset.
    if (!ctx.req.complete) ctx.set('Connection', 'close');
    logger.warn('webhook request rejected before verification', {
      reason,
      detail,
      content_type: boundText(ctx.get('content-type')) || 'none',
      content_length: boundText(ctx.get('content-length'), 32) || 'none',
    });
    answerRejected(ctx, reason);
  };

  return async (ctx) => {
    let body: unknown = {};
    if (hasBody(ctx)) {
      const media = decideMedia(ctx.get('content-type'), ctx.get('content-encoding'));
      if (!media.ok) return rejectRequest(ctx, 'unsupported_media_type', media.detail);
      const parsed = await parseBody(ctx, media);
      if (!parsed.ok) return rejectRequest(ctx, parsed.reason, parsed.detail);
      body = parsed.body ?? {};
    }

    const carrier: TokenCarrier = { body, query: ctx.query, headers: ctx.req.headersDistinct };
    const facts = deliveryFacts(body);
    const run = verifyRequest(carrier, config.sources, match, facts, metrics, ctx.state.serverContext);
    const { verdict } = run;

    if (!verdict) {
      metrics.recordRejection('not_configured');
      logRejection(logger, ctx, run, facts, 'not_configured');
      return answerRejected(ctx, 'not_configured');
    }
    metrics.recordVerification(verdict.result, verdict.source, verdict.webhook, run.traceId);
    if (verdict.result !== 'accepted') {
      logRejection(logger, ctx, run, facts, verdict.reason);
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

/**
 * The one line a developer reads for a failed delivery: where the token was looked for, what was found
 * (a fingerprint, or "none"), and why it failed. Header names only: their values may hold the token.
 */
function logRejection(logger: Logger, ctx: Context, run: VerificationRun, facts: DeliveryFacts, reason: string): void {
  const verdict: Verdict | undefined = run.verdict;
  logger.warn('webhook token verification failed', {
    result: verdict?.result ?? 'not_configured',
    reason,
    received: receivedFingerprint(run),
    source: verdict?.source ?? 'none',
    sources_checked: run.extractions.map((extraction) => extraction.source),
    locations_checked: run.extractions.map((extraction) => extraction.location),
    not_a_token: run.extractions.flatMap((extraction) => extraction.rejected),
    conflict: verdict?.conflict ?? false,
    header_names: Object.keys(ctx.req.headersDistinct).sort().map((name) => boundText(name, 64)),
    content_type: boundText(ctx.get('content-type')) || 'none',
    event: facts.event,
    portal_domain: facts.domain,
  });
}

/** The deciding token is the first one found, so its fingerprint is what was received. */
function receivedFingerprint(run: VerificationRun): string {
  const first = run.extractions.find((extraction) => extraction.token !== undefined);
  return first ? fingerprint(first.token!) : 'none';
}
