import Router from '@koa/router';
import { context, trace } from '@opentelemetry/api';
import Koa from 'koa';
import type { Config } from '../config/load';
import type { Logger } from '../telemetry/logger';
import type { ServiceMetrics } from '../telemetry/metrics';
import { LOG_CONTEXT } from '../telemetry/logger';
import { nameServerRoute, serverContextOf } from '../telemetry/server-span';
import { healthz, readyz, type Lifecycle, type ReadinessSources } from './health';
import { createBodyBudget, guardBody, REFUSAL_LOG_INTERVAL_MS } from './limits';
import { RAW_PREFIX_LENGTH } from '../verify/diagnose';
import { boundText } from '../telemetry/bound-text';
import { rateLimitedWarn } from './rate-limited-log';
import { createRefusalRecorder, diagnosisSetup } from './refusal';
import { peekBody } from './peek-body';
import type { Store } from '../store/types';
import { createWebhookHandler } from './webhook';

export interface AppDeps {
  config: Config;
  metrics: ServiceMetrics;
  logger: Logger;
  /** Accepted events are committed here before their 200; refused deliveries are quarantined here. */
  store: Store;
  lifecycle?: Lifecycle;
  /** What /readyz reports besides the configuration: the store (decides readiness) and forwarding (informs). */
  storeHealth?: ReadinessSources['store'];
  forwardingHealth?: ReadinessSources['forwarding'];
  /** The operator console (src/admin/), when ADMIN_TOKEN is set and MANAGEMENT_PORT is not. */
  admin?: Router;
  /** MANAGEMENT_PORT is set: /metrics and the detailed /readyz are served there, not here. */
  managementElsewhere?: boolean;
}

export function createApp({
  config,
  metrics,
  logger,
  store,
  lifecycle = { shuttingDown: false },
  storeHealth,
  forwardingHealth,
  admin,
  managementElsewhere = false,
}: AppDeps): Koa {
  const app = new Koa();
  // Koa's default error log would print to stderr with no JSON and no trace id; the boundary below logs.
  app.silent = true;

  metrics.setQuarantineSizeSource(() => store.quarantineSize());
  if (store.quarantinePendingSize) metrics.setQuarantinePendingSource(() => store.quarantinePendingSize!());
  const refuse = createRefusalRecorder({ metrics, logger, setup: diagnosisSetup(config), store });
  const router = new Router();
  const budget = createBodyBudget(config.bodyMemoryLimitBytes);
  router.post(
    config.webhookPath,
    guardBody({ config, metrics, refuse, budget }),
    createWebhookHandler({ config, metrics, logger, store, refuse }),
  );
  const warnRedirected = rateLimitedWarn(logger, REFUSAL_LOG_INTERVAL_MS);
  if (!managementElsewhere) router.get('/metrics', metricsRoute(metrics));
  router.get('/healthz', healthz);
  router.get(
    '/readyz',
    readyz(
      config.tokens,
      lifecycle,
      { store: storeHealth, forwarding: forwardingHealth },
      managementElsewhere ? 'brief' : 'detailed',
      config.warnings,
    ),
  );

  const warnNotFound = rateLimitedWarn(logger, REFUSAL_LOG_INTERVAL_MS);

  app.use(async (ctx, next) => {
    const started = process.hrtime.bigint();
    // The receive time a stored event or quarantined delivery keeps: when the request arrived.
    ctx.state.receivedAt = new Date();
    // The service's own server span is handed over with the request (server-span.ts) and passed on explicitly;
    // under the http instrumentation (the old path) it is the active span here (koa's middleware is not wrapped).
    const serverContext = serverContextOf(ctx.req) ?? context.active();
    ctx.state.serverContext = serverContext;
    try {
      // Only the webhook path passes its trace explicitly; the console's and other routes' log lines find it
      // as the active span.
      if (ctx.path === config.webhookPath || !trace.getSpan(serverContext)) await next();
      else await context.with(serverContext, next);
      if (ctx.body == null && (ctx.status === 404 || ctx.status === 405)) {
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
          const meter =
            declared > RAW_PREFIX_LENGTH && declared <= config.bodyLimitBytes ? budget.open(false) : undefined;
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
      }
    } catch (error) {
      ctx.status = 500;
      ctx.body = { status: 'error', reason: 'internal_error' };
      logger.error('request failed', {
        error: error instanceof Error ? error.message : String(error),
        path: boundText(ctx.path),
        [LOG_CONTEXT]: serverContext,
      });
    } finally {
      // After SIGTERM every answer closes its connection, so keep-alive clients reconnect elsewhere.
      if (lifecycle.shuttingDown && !ctx.headerSent) ctx.set('Connection', 'close');
      nameServerRoute(serverContext, ctx._matchedRoute ? String(ctx._matchedRoute) : undefined);
      const spanContext = trace.getSpan(serverContext)?.spanContext();
      metrics.observeRequest(
        ctx.method,
        ctx._matchedRoute ? String(ctx._matchedRoute) : 'unmatched',
        ctx.status,
        Number(process.hrtime.bigint() - started) / 1e9,
        spanContext && trace.isSpanContextValid(spanContext) ? spanContext.traceId : undefined,
      );
    }
  });
  if (admin) app.use(admin.routes());
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}

export function metricsRoute(metrics: ServiceMetrics): Koa.Middleware {
  return async (ctx) => {
    const rendered = await metrics.render(ctx.get('accept'));
    ctx.type = rendered.contentType;
    ctx.body = rendered.body;
  };
}
