import type Router from '@koa/router';
import type Koa from 'koa';
import type { Config } from '../config/load';
import type { ServiceMetrics } from '../telemetry/metrics';
import { healthz, type Lifecycle, type ReadinessSources, readyz } from './health';

export interface OperationsDeps {
  config: Config;
  metrics: ServiceMetrics;
  lifecycle: Lifecycle;
  storeHealth?: ReadinessSources['store'];
  forwardingHealth?: ReadinessSources['forwarding'];
}

/**
 * What probes and scrapers call: /healthz, /readyz (`detailed` where /metrics is too, `brief` on the public
 * port when a management port serves the details) and, with `withMetrics`, /metrics.
 */
export function addOperationsRoutes(
  router: Router,
  deps: OperationsDeps,
  readiness: 'brief' | 'detailed',
  withMetrics: boolean,
): void {
  const { config, metrics, lifecycle, storeHealth, forwardingHealth } = deps;
  if (withMetrics) router.get('/metrics', metricsRoute(metrics));
  router.get('/healthz', healthz);
  router.get(
    '/readyz',
    readyz(config.tokens, lifecycle, { store: storeHealth, forwarding: forwardingHealth }, readiness, config.warnings),
  );
}

function metricsRoute(metrics: ServiceMetrics): Koa.Middleware {
  return async (ctx) => {
    const rendered = await metrics.render(ctx.get('accept'));
    ctx.type = rendered.contentType;
    ctx.body = rendered.body;
  };
}
