import { trace, type Context as OtelContext } from '@opentelemetry/api';
import type { Context } from 'koa';
import type { Store } from '../store/types';
import { LOG_CONTEXT, type Logger } from '../telemetry/logger';
import type { ServiceMetrics } from '../telemetry/metrics';
import type { DeliveryFacts } from './delivery';
import { eventDataForStore } from './delivery';
import { answerAccepted, answerRejected } from './answers';
import type { createBotTokenWarning } from './bot-token-warning';
import type { RefusalRecorder } from './refusal';
import { isSelfTest } from './self-test';
import { writeToStore } from './store-write';
import type { VerificationRun } from './verify-request';
import type { Verdict } from '../verify/verify';

/** A store that failed or timed out is usually back within seconds (a restart, a failover, a lock released). */
const STORE_RETRY_AFTER_SECONDS = '5';

export interface AcceptDeps {
  store: Store;
  metrics: ServiceMetrics;
  logger: Logger;
  refuse: RefusalRecorder;
  warnOfBotToken: ReturnType<typeof createBotTokenWarning>;
}

export interface VerifiedDelivery {
  body: unknown;
  raw: string | undefined;
  facts: DeliveryFacts;
  run: VerificationRun;
  verdict: Extract<Verdict, { result: 'accepted' }>;
}

/** Commits a verified delivery, then answers 200; never a 200 for an event that was not kept. */
export async function acceptDelivery(ctx: Context, delivery: VerifiedDelivery, deps: AcceptDeps): Promise<void> {
  const { store, metrics, logger, refuse } = deps;
  const { body, raw, facts, run, verdict } = delivery;
  const { webhook } = verdict;
  const serverContext: OtelContext | undefined = ctx.state.serverContext;
  const written = await writeToStore(store, 'accepted', metrics, serverContext, () =>
    store.saveAccepted({
      ...facts,
      receivedAt: ctx.state.receivedAt instanceof Date ? ctx.state.receivedAt : new Date(),
      traceId: serverTraceId(serverContext) ?? run.traceId,
      webhook,
      data: eventDataForStore(body),
      rawBody: raw,
      contentType: ctx.get('content-type') || undefined,
      ...(isSelfTest(ctx.req.headers) ? { selfTest: true } : {}),
    }),
  );
  if (!written.ok) {
    // The portal's log shows the failure instead of a 200.
    metrics.recordRejection('store_unavailable');
    refuse(ctx, {
      stage: 'store',
      reason: 'store_unavailable',
      detail: `the store refused the write: ${written.error}`,
      body,
      run: { ...run, diagnosis: undefined },
      facts,
    });
    ctx.set('Retry-After', STORE_RETRY_AFTER_SECONDS);
    return answerRejected(ctx, 'store_unavailable');
  }
  metrics.recordAcceptedEvent(facts.event, webhook);
  deps.warnOfBotToken({ body, run, webhook, event: facts.event, serverContext });
  // Guarded: winston would format the whole line before dropping it at the usual `info` level.
  if (logger.isDebugEnabled()) {
    logger.debug('webhook delivery accepted', {
      result: verdict.result,
      webhook,
      source: verdict.source,
      fingerprint: verdict.fingerprint,
      conflict: verdict.conflict,
      event: facts.event,
      portal_domain: facts.domain,
      [LOG_CONTEXT]: serverContext,
    });
  }
  answerAccepted(ctx);
}

function serverTraceId(serverContext: OtelContext | undefined): string | undefined {
  const spanContext = serverContext ? trace.getSpan(serverContext)?.spanContext() : undefined;
  return spanContext && trace.isSpanContextValid(spanContext) ? spanContext.traceId : undefined;
}
