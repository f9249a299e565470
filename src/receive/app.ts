import Router from '@koa/router';
import { context, trace } from '@opentelemetry/api';
import Koa from 'koa';
import type { Config } from '../config/load';
import type { Logger } from '../telemetry/logger';
import type { ServiceMetrics } from '../telemetry/metrics';
import { nameServerRoute } from '../telemetry/server-span';
import { healthz, readyz, type Lifecycle } from './health';
import { discardingSink, type EventSink } from './sink';
import { createWebhookHandler } from './webhook';

export interface AppDeps {
  config: Config;
  metrics: ServiceMetrics;
  logger: Logger;
  sink?: EventSink;
  lifecycle?: Lifecycle;
}

export function createApp({ config, metrics, logger, sink = discardingSink, lifecycle = { shuttingDown: false } }: AppDeps): Koa {
  const app = new Koa();
  // Koa's default error log would print to stderr with no JSON and no trace id; the boundary below logs.
  app.silent = true;

  const router = new Router();
  router.post(config.webhookPath, createWebhookHandler({ config, metrics, logger, sink }));
  router.get('/metrics', async (ctx) => {
    const rendered = await metrics.render(ctx.get('accept'));
    ctx.type = rendered.contentType;
    ctx.body = rendered.body;
  });
  router.get('/healthz', healthz);
  router.get('/readyz', readyz(config.tokens, lifecycle));

  app.use(async (ctx, next) => {
    const started = process.hrtime.bigint();
    // Koa's instrumentation does not wrap middleware (see telemetry/tracing.ts), so here the active span
    // is still the HTTP server span.
    ctx.state.serverContext = context.active();
    try {
      await next();
      if (ctx.body == null && (ctx.status === 404 || ctx.status === 405)) {
        const status = ctx.status;
        ctx.body = { status: status === 404 ? 'not_found' : 'method_not_allowed' };
        ctx.status = status;
      }
    } catch (error) {
      ctx.status = 500;
      ctx.body = { status: 'error', reason: 'internal_error' };
      logger.error('request failed', { error: error instanceof Error ? error.message : String(error), path: ctx.path });
    } finally {
      nameServerRoute(ctx._matchedRoute ? String(ctx._matchedRoute) : undefined);
      const spanContext = trace.getActiveSpan()?.spanContext();
      metrics.observeRequest(
        ctx.method,
        ctx._matchedRoute ? String(ctx._matchedRoute) : 'unmatched',
        ctx.status,
        Number(process.hrtime.bigint() - started) / 1e9,
        spanContext && trace.isSpanContextValid(spanContext) ? spanContext.traceId : undefined,
      );
    }
  });
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}
