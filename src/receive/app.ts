import Router from '@koa/router';
import { context, trace } from '@opentelemetry/api';
import Koa from 'koa';
import type { Config } from '../config/load';
import type { Logger } from '../telemetry/logger';
import type { ServiceMetrics } from '../telemetry/metrics';
import { LOG_CONTEXT } from '../telemetry/logger';
import { nameServerRoute, serverContextOf } from '../telemetry/server-span';
import type { Lifecycle, ReadinessSources } from './health';
import { addOperationsRoutes } from './operations-routes';
import { createBodyBudget, guardBody } from './limits';
import { boundText } from '../telemetry/bound-text';
import { createRefusalRecorder, diagnosisSetup } from './refusal';
import type { Store } from '../store/types';
import { createWebhookHandler } from './webhook';
import { createMisaddressedAnswer } from './misaddressed';

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
  addOperationsRoutes(
    router,
    { config, metrics, lifecycle, storeHealth, forwardingHealth },
    managementElsewhere ? 'brief' : 'detailed',
    !managementElsewhere,
  );

  const answerMisaddressed = createMisaddressedAnswer({ config, metrics, logger, refuse, budget });

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
      if (ctx.body == null && (ctx.status === 404 || ctx.status === 405)) await answerMisaddressed(ctx);
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
