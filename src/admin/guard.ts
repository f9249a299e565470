import type { Context, Next } from 'koa';
import { CONTENT_SECURITY_POLICY } from './html';
import { CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE, type Session, type Sessions } from './session';
import { adminBody } from './body';

export type Caller = { kind: 'bearer' } | { kind: 'session'; session: Session };

export const UNAUTHORIZED = { status: 'rejected', reason: 'unauthorized' } as const;

/** Headers on every /admin answer. */
export async function securityHeaders(ctx: Context, next: Next): Promise<void> {
  ctx.set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('X-Frame-Options', 'DENY');
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
  ctx.set('Cross-Origin-Resource-Policy', 'same-origin');
  await next();
}

/** Who is calling: a valid Bearer admin token, or a live session cookie; undefined otherwise. */
export function caller(ctx: Context, sessions: Sessions): Caller | undefined {
  const authorization = ctx.get('authorization');
  const bearer = /^Bearer ([\x21-\x7e]{1,512})$/.exec(authorization);
  if (bearer) return sessions.tokenMatches(bearer[1]!) ? { kind: 'bearer' } : undefined;
  if (authorization) return undefined;
  const session = sessions.read(ctx.cookies.get(SESSION_COOKIE));
  return session ? { kind: 'session', session } : undefined;
}

/**
 * A change made with a session cookie must carry the session's CSRF token (header or form field) and must
 * not come from another site. A Bearer token is never sent by a browser on its own, so it needs neither.
 */
export function csrfHolds(ctx: Context, who: Caller, sessions: Sessions): boolean {
  if (who.kind === 'bearer') return true;
  if (ctx.get('sec-fetch-site') === 'cross-site') return false;
  const body = adminBody(ctx);
  const field = body && typeof body[CSRF_FIELD] === 'string' ? (body[CSRF_FIELD] as string) : undefined;
  return sessions.csrfMatches(who.session, ctx.get(CSRF_HEADER) || field);
}

/** The client address for the sign-in limiter: the proxy's X-Forwarded-For only when trusted. */
export function clientAddress(ctx: Context, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = ctx.get('x-forwarded-for').split(',')[0]?.trim();
    if (forwarded && forwarded.length <= 64) return forwarded;
  }
  return (ctx.socket.remoteAddress ?? 'unknown').slice(0, 64);
}

/** Secure only where the browser reached us over HTTPS: directly, or through a trusted proxy that says so. */
export function cookieIsSecure(ctx: Context, trustProxy: boolean): boolean {
  if ((ctx.req.socket as { encrypted?: boolean }).encrypted) return true;
  return trustProxy && ctx.get('x-forwarded-proto').split(',')[0]?.trim().toLowerCase() === 'https';
}
