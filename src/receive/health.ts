import type { Middleware } from 'koa';
import { ENV } from '../config/env-names';
import type { NamedToken } from '../config/tokens';
import { fingerprint } from '../verify/fingerprint';

export interface Lifecycle {
  /** Set once SIGTERM arrived: the service finishes what it has and takes nothing new. */
  shuttingDown: boolean;
}

export const healthz: Middleware = (ctx) => {
  ctx.body = { status: 'ok' };
};

/**
 * Ready when a token is configured; lists each token's name and fingerprint (never the token), and every
 * start-up warning (a token unlike a Bitrix24 token, a misspelt variable): ready, with warnings, so that an
 * operator who never saw the start-up line still reads them.
 */
export function readyz(tokens: readonly NamedToken[], lifecycle: Lifecycle, warnings: readonly string[] = []): Middleware {
  const tokensConfigured = tokens.length;
  const listed = tokens.map(({ name, token }) => ({ name, fingerprint: fingerprint(token) }));
  return (ctx) => {
    if (lifecycle.shuttingDown) {
      ctx.status = 503;
      ctx.body = { status: 'not_ready', reason: 'shutting_down' };
    } else if (tokensConfigured === 0) {
      ctx.status = 503;
      ctx.body = {
        status: 'not_ready',
        reason: 'not_configured',
        detail: `no webhook token configured: set ${ENV.token} (or ${ENV.tokens}); every delivery is refused with 503 and quarantined`,
        warnings: [...warnings],
      };
    } else {
      ctx.body = { status: 'ready', tokens_configured: tokensConfigured, tokens: listed, warnings: [...warnings] };
    }
  };
}
