import type { Context } from 'koa';
import type { Config } from '../config/load';
import type { Logger } from '../telemetry/logger';
import type { ServiceMetrics } from '../telemetry/metrics';
import { RAW_PREFIX_LENGTH } from '../verify/diagnose';
import { type createBodyBudget, REFUSAL_LOG_INTERVAL_MS } from './limits';
import { peekBody } from './peek-body';
import { rateLimitedWarn } from './rate-limited-log';
import type { RefusalRecorder } from './refusal';

export interface MisaddressedDeps {
  config: Config;
  metrics: ServiceMetrics;
  logger: Logger;
  refuse: RefusalRecorder;
  budget: ReturnType<typeof createBodyBudget>;
}

/**
 * The answer to a request no route took (404) or took with another method (405), and what it may mean: a
 * delivery sent to a mistyped handler URL, or redirected on its way here. Each is counted and logged, and a
 * Bitrix24 delivery that reached the wrong path is kept, replayable.
 */
export function createMisaddressedAnswer({
  config,
  metrics,
  logger,
  refuse,
  budget,
}: MisaddressedDeps): (ctx: Context) => Promise<void> {
  const warnRedirected = rateLimitedWarn(logger, REFUSAL_LOG_INTERVAL_MS);
  const warnNotFound = rateLimitedWarn(logger, REFUSAL_LOG_INTERVAL_MS);
  return async (ctx) => {
    const status = ctx.status;
    ctx.body = { status: status === 404 ? 'not_found' : 'method_not_allowed' };
    ctx.status = status;
    // Bitrix24 only POSTs. A GET here is its POST after a 301/302 in front of the service (http→https, a
    // trailing slash): the body is gone, so nothing can be kept, but the cause is named and counted.
    if (status === 405 && (ctx.method === 'GET' || ctx.method === 'HEAD') && ctx.path === config.webhookPath) {
      metrics.recordRejection('method_not_allowed');
      refuse(
        ctx,
        {
          stage: 'route',
          reason: 'method_not_allowed',
          detail: `${ctx.method} on the webhook path; Bitrix24 sends POST (a redirect turned it into a GET)`,
        },
        warnRedirected,
      );
    }
    // A Bitrix24 handler URL with a typo loses every event: make the misaddressed POST visible.
    if (status === 404 && ctx.method === 'POST') {
      metrics.recordRejection('not_found');
      // The body is peeked at, not read: the connection cannot carry another request after this answer.
      if (!ctx.req.complete) ctx.set('Connection', 'close');
      // A plain body within BODY_LIMIT and the body budget is read whole (a Bitrix24 delivery is then kept);
      // any other only to RAW_PREFIX_LENGTH.
      const declared = ctx.request.length;
      const meter = declared > RAW_PREFIX_LENGTH && declared <= config.bodyLimitBytes ? budget.open(false) : undefined;
      const whole = meter?.charge(declared) === true;
      try {
        const peeked = await peekBody(ctx, whole ? declared : RAW_PREFIX_LENGTH);
        await refuse.keep(
          ctx,
          {
            stage: 'route',
            reason: 'not_found',
            detail: `no such path; the webhook path is ${config.webhookPath}`,
            ...peeked,
          },
          warnNotFound,
        );
      } finally {
        meter?.release();
      }
    }
  };
}
