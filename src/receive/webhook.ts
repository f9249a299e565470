import { isSelfTest } from './self-test';
import { trace, type Context as OtelContext } from '@opentelemetry/api';
import type { Context, Middleware } from 'koa';
import type { Config } from '../config/load';
import type { TokenCarrier } from '../verify/extract';
import { createTokenMatcher } from '../verify/verify';
import type { ServiceMetrics } from '../telemetry/metrics';
import { LOG_CONTEXT, type Logger } from '../telemetry/logger';
import type { RejectionReason } from '../vocabulary/names';
import { answerAccepted, answerRejected } from './answers';
import { createBodyParser } from './body';
import { RETRY_AFTER_SECONDS } from './limits';
import { boundText } from '../telemetry/bound-text';
import { deliveryFacts, eventDataForStore } from './delivery';
import { decideMedia } from './media';
import { diagnoseRefusal, type Refusal, type RefusalRecorder } from './refusal';
import type { Store } from '../store/types';
import { writeToStore } from './store-write';
import { tokenHeaders } from './request-headers';
import { verifyRequest, type VerificationRun } from './verify-request';
import { botTokens } from '../verify/bot-token';
import { fingerprint } from '../verify/fingerprint';
import { ATTR } from '../vocabulary/names';
import { rateLimitedWarn } from './rate-limited-log';
import { REFUSAL_LOG_INTERVAL_MS } from './limits';

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

/** A store that failed or timed out is usually back within seconds (a restart, a failover, a lock released). */
const STORE_RETRY_AFTER_SECONDS = '5';

/** request → extract → verify → store → answer + record, for POST WEBHOOK_PATH. */
export function createWebhookHandler({ config, metrics, logger, store, refuse }: WebhookDeps): Middleware {
  const parseBody = createBodyParser(config.bodyLimit);
  const warnBotToken = rateLimitedWarn(logger, REFUSAL_LOG_INTERVAL_MS);
  /**
   * A chat-bot event whose bot token (data[BOT][<id>]…) differs from the accepted auth[application_token]:
   * accepted on the outer token, as it should be, but an application that checks the bot's token would
   * refuse it. Said once a second at most, with fingerprints only.
   */
  const warnOfDifferingBotToken = (
    body: unknown,
    run: VerificationRun,
    webhook: string,
    event: string | undefined,
    serverContext: OtelContext | undefined,
  ): void => {
    const outer = run.extractions.find((extraction) => extraction.token !== undefined)?.token;
    const differing = botTokens(body).find(({ token }) => token !== outer);
    if (!differing) return;
    if (serverContext) trace.getSpan(serverContext)?.setAttribute(ATTR.botTokenDiffers, true);
    warnBotToken("chat-bot event accepted on auth[application_token]; the bot's own token differs from it", {
      webhook,
      event,
      bot_token_location: differing.location,
      bot_token_fingerprint: fingerprint(differing.token),
      bot_token_configured: refuse.setup.isConfiguredToken?.(differing.token) ?? false,
      [LOG_CONTEXT]: serverContext,
    });
  };
  const match = config.tokens.length > 0 ? createTokenMatcher(config.tokens) : undefined;

  const refuseBeforeVerification = async (
    ctx: Context,
    reason: RejectionReason,
    detail: string,
    raw?: string,
  ): Promise<void> => {
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

  return async (ctx) => {
    let body: unknown = {};
    let raw: string | undefined;
    if (hasBody(ctx)) {
      const media = decideMedia(ctx.get('content-type'), ctx.get('content-encoding'));
      if (!media.ok)
        return await refuseBeforeVerification(
          ctx,
          'unsupported_media_type',
          media.detail,
          await readUnlabelled(ctx, parseBody),
        );
      const parsed = await parseBody(ctx, media);
      if (!parsed.ok) return await refuseBeforeVerification(ctx, parsed.reason, parsed.detail, parsed.raw);
      body = parsed.body ?? {};
      raw = parsed.raw;
    }

    const rawHeaders = ctx.req.rawHeaders;
    // Read only when the header source is examined.
    const carrier: TokenCarrier = {
      body,
      query: ctx.query,
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

    const serverContext = ctx.state.serverContext;
    const written = await writeToStore(store, 'accepted', metrics, serverContext, () =>
      store.saveAccepted({
        ...facts,
        receivedAt: ctx.state.receivedAt instanceof Date ? ctx.state.receivedAt : new Date(),
        traceId: serverTraceId(serverContext) ?? run.traceId,
        webhook: verdict.webhook,
        data: eventDataForStore(body),
        rawBody: raw,
        contentType: ctx.get('content-type') || undefined,
        ...(isSelfTest(ctx.req.headers) ? { selfTest: true } : {}),
      }),
    );
    if (!written.ok) {
      // Never a 200 for an event that was not kept: the portal's log shows the failure instead.
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
    metrics.recordAcceptedEvent(facts.event, verdict.webhook);
    warnOfDifferingBotToken(body, run, verdict.webhook, facts.event, serverContext);
    // Guarded: winston would format the whole line before dropping it at the usual `info` level.
    if (logger.isDebugEnabled())
      logger.debug('webhook delivery accepted', {
        result: verdict.result,
        webhook: verdict.webhook,
        source: verdict.source,
        fingerprint: verdict.fingerprint,
        conflict: verdict.conflict,
        event: facts.event,
        portal_domain: facts.domain,
        [LOG_CONTEXT]: serverContext,
      });
    answerAccepted(ctx);
  };
}

/**
 * The body of a delivery refused for its media type, read as text within BODY_LIMIT (the memory budget
 * already counted it), so that a Bitrix24 body a proxy relabelled is quarantined whole and can be replayed.
 * Only an uncompressed body: an unknown coding cannot be undone. Undefined when it cannot be read whole.
 */
async function readUnlabelled(
  ctx: Context,
  parseBody: ReturnType<typeof createBodyParser>,
): Promise<string | undefined> {
  const coding = ctx.get('content-encoding').trim().toLowerCase();
  if (coding !== '' && coding !== 'identity') return undefined;
  const read = await parseBody(ctx, { kind: 'form', coding: 'identity' });
  // A form parse failure still read the whole text; a body over the limit or cut short was not read whole.
  return read.ok || read.reason === 'malformed_body' ? read.raw : undefined;
}

function serverTraceId(serverContext: OtelContext | undefined): string | undefined {
  const spanContext = serverContext ? trace.getSpan(serverContext)?.spanContext() : undefined;
  return spanContext && trace.isSpanContextValid(spanContext) ? spanContext.traceId : undefined;
}

/** A request carries a body when it says so (Content-Length > 0 or chunked), whatever its type. */
function hasBody(ctx: Context): boolean {
  return ctx.request.length > 0 || ctx.get('transfer-encoding') !== '';
}
