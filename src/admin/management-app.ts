import Router from '@koa/router';
import Koa from 'koa';
import type { Config } from '../config/load';
import type { Lifecycle, ReadinessSources } from '../receive/health';
import { addOperationsRoutes } from '../receive/operations-routes';
import type { Logger } from '../telemetry/logger';
import type { ServiceMetrics } from '../telemetry/metrics';

export interface ManagementDeps {
  config: Config;
  metrics: ServiceMetrics;
  logger: Logger;
  lifecycle: Lifecycle;
  admin?: Router;
  storeHealth?: ReadinessSources['store'];
  forwardingHealth?: ReadinessSources['forwarding'];
}

/** MANAGEMENT_PORT: /admin, /metrics and the detailed /readyz, away from the public webhook port. */
export function createManagementApp({
  config,
  metrics,
  logger,
  lifecycle,
  admin,
  storeHealth,
  forwardingHealth,
}: ManagementDeps): Koa {
  const app = new Koa();
  app.silent = true;
  const router = new Router();
  addOperationsRoutes(router, { config, metrics, lifecycle, storeHealth, forwardingHealth }, 'detailed', true);
  app.use(async (ctx, next) => {
    try {
      await next();
      if (ctx.body == null && ctx.status === 404) {
        ctx.status = 404;
        ctx.body = { status: 'not_found' };
      }
    } catch (error) {
      ctx.status = 500;
      ctx.body = { status: 'error', reason: 'internal_error' };
      logger.error('management request failed', { error: error instanceof Error ? error.message : String(error) });
    }
  });
  if (admin) app.use(admin.routes());
  app.use(router.routes());
  return app;
}
