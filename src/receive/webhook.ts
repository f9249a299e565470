import type { Middleware } from 'koa';
import type { Config } from '../config/load';
import type { Store } from '../store/types';
import type { Logger } from '../telemetry/logger';
import type { ServiceMetrics } from '../telemetry/metrics';
import type { TokenCarrier } from '../verify/extract';
import { createTokenMatcher } from '../verify/verify';
import { acceptDelivery, type AcceptDeps } from './accept';
import { answerRejected } from './answers';
import { createBodyParser } from './body';
import { createBotTokenWarning } from './bot-token-warning';
import { deliveryFacts } from './delivery';
import { createEarlyRefusal } from './early-refusal';
import { readDelivery } from './read-delivery';
import { diagnoseRefusal, type Refusal, type RefusalRecorder } from './refusal';
import { tokenHeaders } from './request-headers';
import { type VerificationRun, verifyRequest } from './verify-request';

export interface WebhookDeps {
  config: Config;
  metrics: ServiceMetrics;
  logger: Logger;
  /**
   * Where an accepted event goes: it is committed here before the 200. The store replaced the old sink seam
   * (forwarding reads the store; STORE=none is a store that keeps nothing), so there is one path, not two.
   */
  store: Store;
  refuse: RefusalRecorder;
}

/** request → read → extract → verify → refuse (quarantined) or accept (committed, then 200), for POST WEBHOOK_PATH. */
export function createWebhookHandler({ config, metrics, logger, store, refuse }: WebhookDeps): Middleware {
  const parseBody = createBodyParser(config.bodyLimit);
  const refuseUnread = createEarlyRefusal(metrics, refuse);
  const match = config.tokens.length > 0 ? createTokenMatcher(config.tokens) : undefined;
  const accepting: AcceptDeps = {
    store,
    metrics,
    logger,
    refuse,
    warnOfBotToken: createBotTokenWarning(logger, refuse.setup),
  };

  return async (ctx) => {
    const read = await readDelivery(ctx, parseBody);
    if (!read.ok) return await refuseUnread(ctx, read.reason, read.detail, read.raw);
    const { body, raw } = read;
    const rawHeaders = ctx.req.rawHeaders;
    const carrier: TokenCarrier = {
      body,
      query: ctx.query,
      // Read only when the header source is examined.
      get headers() {
        return tokenHeaders(rawHeaders);
      },
    };
    const facts = deliveryFacts(body);
    const refusalOf = (run: VerificationRun): Refusal => ({
      stage: 'verify',
      reason: run.verdict && run.verdict.result !== 'accepted' ? run.verdict.reason : 'not_configured',
      body,
      ...(raw !== undefined ? { raw } : {}),
      run,
      facts,
    });
    const run = verifyRequest(
      carrier,
      config.sources,
      match,
      facts,
      metrics,
      ctx.state.serverContext,
      (unaccepted) => diagnoseRefusal(ctx, refusalOf(unaccepted), refuse.setup),
      config.tokens,
    );
    const { verdict } = run;
    if (!verdict) {
      metrics.recordRejection('not_configured');
      await refuse.keep(ctx, refusalOf(run));
      return answerRejected(ctx, 'not_configured');
    }
    metrics.recordVerification(verdict.result, verdict.source, verdict.webhook, run.traceId);
    if (verdict.result !== 'accepted') {
      await refuse.keep(ctx, refusalOf(run));
      return answerRejected(ctx, verdict.reason);
    }
    await acceptDelivery(ctx, { body, raw, facts, run, verdict }, accepting);
  };
}
