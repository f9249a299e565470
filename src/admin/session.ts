import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

// Sessions are stateless (a signed cookie), so every replica behind a load balancer accepts them, and
// changing ADMIN_TOKEN ends them all. The CSRF token is derived from the session, so a page can carry it.

export const SESSION_COOKIE = 'b24g_admin';
export const CSRF_HEADER = 'x-csrf-token';
export const CSRF_FIELD = 'csrf';

export interface Session {
  id: string;
  expiresAt: number;
  csrf: string;
}

export interface Sessions {
  /** Constant-time: the offered token against ADMIN_TOKEN, through fixed-length digests. */
  tokenMatches(offered: string): boolean;
  create(now?: number): { cookieValue: string; session: Session };
  /** The session a cookie value names, when its signature holds and it has not expired. */
  read(cookieValue: string | undefined, now?: number): Session | undefined;
  csrfMatches(session: Session, offered: string | undefined): boolean;
}

export function createSessions(adminToken: string, sessionMs: number): Sessions {
  const key = createHmac('sha256', 'bitrix24-webhook-guard admin session').update(adminToken).digest();
  const tokenDigest = digest(adminToken);
  const mac = (text: string) => createHmac('sha256', key).update(text).digest('base64url');
  const csrfOf = (id: string) => mac(`csrf.${id}`);
  return {
    tokenMatches(offered) {
      return timingSafeEqual(digest(offered), tokenDigest);
    },
    create(now = Date.now()) {
      const id = randomBytes(18).toString('base64url');
      const expiresAt = now + sessionMs;
      const payload = `${id}.${expiresAt}`;
      return { cookieValue: `${payload}.${mac(payload)}`, session: { id, expiresAt, csrf: csrfOf(id) } };
    },
    read(cookieValue, now = Date.now()) {
      if (!cookieValue || cookieValue.length > 200) return undefined;
      const match = /^([A-Za-z0-9_-]{24})\.(\d{13})\.([A-Za-z0-9_-]{43})$/.exec(cookieValue);
      if (!match) return undefined;
      const [, id, expires, signature] = match;
      if (!sameText(signature!, mac(`${id}.${expires}`))) return undefined;
      const expiresAt = Number(expires);
      if (expiresAt <= now) return undefined;
      return { id: id!, expiresAt, csrf: csrfOf(id!) };
    },
    csrfMatches(session, offered) {
      return offered !== undefined && sameText(offered, session.csrf);
    },
  };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function sameText(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}
