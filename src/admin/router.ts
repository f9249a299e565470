import Router from '@koa/router';
import { mountApi } from './api';
import { readAdminBody } from './body';
import type { AdminDeps } from './deps';
import { securityHeaders } from './guard';
import { mountPages } from './pages';
import { loadDiagnosisWords } from './runbook-words';
import { createSessions } from './session';
import { createSignInLimiter } from './sign-in-limiter';

/** Everything under /admin: the console's pages and its JSON API. Mounted only when ADMIN_TOKEN is set. */
export function createAdminRouter(deps: AdminDeps): Router {
  const sessions = deps.sessions ?? createSessions(deps.admin.token, deps.admin.sessionMs);
  const limiter = deps.limiter ?? createSignInLimiter();
  const words = deps.words ?? loadDiagnosisWords();
  const router = new Router();
  const underAdmin = (path: string) => path === '/admin' || path.startsWith('/admin/');
  const posted = (path: string) => underAdmin(path) && path !== '/admin';
  router.use(async (ctx, next) => (underAdmin(ctx.path) ? securityHeaders(ctx, next) : next()));
  // Small bodies only: a form of ids, or the API's JSON. Everything else about them is checked per route.
  router.use(async (ctx, next) => {
    if (!posted(ctx.path)) return next();
    try {
      await next();
    } catch (error) {
      const status = (error as { status?: number }).status;
      if (status === undefined || status < 400 || status >= 500 || ctx.headerSent) throw error;
      ctx.status = status;
      ctx.body = { status: 'rejected', reason: 'bad_request' };
    }
  });
  router.use(async (ctx, next) => (posted(ctx.path) && ctx.method === 'POST' ? readAdminBody(ctx, next) : next()));
  mountApi(router, deps, sessions);
  mountPages(router, deps, sessions, limiter, words);
  return router;
}
