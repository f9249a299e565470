import { createHash } from 'node:crypto';

/** The first 8 hex characters of SHA-256 of the token: enough to tell tokens apart, useless to an attacker. */
export function fingerprint(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex').slice(0, 8);
}
