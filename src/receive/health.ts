import type { Middleware } from 'koa';
import { ENV } from '../vocabulary/env-names';
import type { NamedToken } from '../config/tokens';
import type { StoreHealthState } from '../store/health';
import { fingerprint } from '../verify/fingerprint';

export interface Lifecycle {
  /** Set once SIGTERM arrived: the service finishes what it has and takes nothing new. */
  shuttingDown: boolean;
}

export const healthz: Middleware = (ctx) => {
  ctx.body = { status: 'ok' };
};

export interface ReadinessSources {
  /** The store's health: not ready while its writes fail or time out. */
  store?: () => StoreHealthState;
  /** Forwarding's health, reported apart: an upstream outage never makes the receiver unready. */
  forwarding?: () => Record<string, unknown>;
}

/**
 * Ready when a token is configured and the store takes writes; lists each token's name and fingerprint (never
 * the token). Answers from state kept in memory, never by asking the store, so it is prompt whatever the
 * store does. With MANAGEMENT_PORT set the public port says only whether it is ready ('brief'); the details
 * are on the management port. Every start-up warning (a token unlike a Bitrix24 token, a misspelt variable)
 * is listed too: ready, with warnings, so that an operator who never saw the start-up line still reads them.
 */
export function readyz(
  tokens: readonly NamedToken[],
  lifecycle: Lifecycle,
  sources: ReadinessSources = {},
  detail: 'detailed' | 'brief' = 'detailed',
  warnings: readonly string[] = [],
): Middleware {
  const tokensConfigured = tokens.length;
  const listed = tokens.map(({ name, token }) => ({ name, fingerprint: fingerprint(token) }));
  return (ctx) => {
    if (lifecycle.shuttingDown) {
      ctx.status = 503;
      ctx.body = { status: 'not_ready', reason: 'shutting_down' };
    } else if (tokensConfigured === 0) {
      ctx.status = 503;
      ctx.body =
        detail === 'brief'
          ? { status: 'not_ready', reason: 'not_configured' }
          : {
              status: 'not_ready',
              reason: 'not_configured',
              detail: `no webhook token configured: set ${ENV.token} (or ${ENV.tokens}); every delivery is refused with 503 and quarantined`,
              warnings: [...warnings],
            };
    } else if (sources.store?.().status === 'failing') {
      const store = sources.store();
      ctx.status = 503;
      ctx.set('Retry-After', '5');
      ctx.body =
        detail === 'brief'
          ? { status: 'not_ready', reason: 'store_unavailable' }
          : {
              status: 'not_ready',
              reason: 'store_unavailable',
              detail: `store writes fail (${store.cause}) since ${store.since}: ${store.detail}`,
              store,
              ...(sources.forwarding ? { forwarding: sources.forwarding() } : {}),
            };
    } else {
      ctx.body =
        detail === 'brief'
          ? { status: 'ready' }
          : {
              status: 'ready',
              tokens_configured: tokensConfigured,
              tokens: listed,
              warnings: [...warnings],
              ...(sources.store ? { store: sources.store() } : {}),
              ...(sources.forwarding ? { forwarding: sources.forwarding() } : {}),
            };
    }
  };
}
