import type { Middleware } from 'koa';
import { ENV } from '../config/env-names';

export interface Lifecycle {
  /** Set once SIGTERM arrived: the service finishes what it has and takes nothing new. */
  shuttingDown: boolean;
}

export const healthz: Middleware = (ctx) => {
  ctx.body = { status: 'ok' };
};

export function readyz(tokensConfigured: number, lifecycle: Lifecycle): Middleware {
  return (ctx) => {
    if (lifecycle.shuttingDown) {
      ctx.status = 503;
      ctx.body = { status: 'not_ready', reason: 'shutting_down' };
    } else if (tokensConfigured === 0) {
      ctx.status = 503;
      ctx.body = {
        status: 'not_ready',
        reason: 'not_configured',
        detail: `no webhook token configured: set ${ENV.token} (or ${ENV.tokens}); every delivery is refused with 503`,
      };
    } else {
      ctx.body = { status: 'ready', tokens_configured: tokensConfigured };
    }
  };
}
