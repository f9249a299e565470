import { createHash } from 'node:crypto';

/** The SHA-256 digest of a token: what the matcher compares and what its fingerprint is cut from. */
export function tokenDigest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** The fingerprint of a token whose SHA-256 digest is already known: no second hash on the request path. */
export function fingerprintOfDigest(digest: Buffer): string {
  return digest.toString('hex', 0, 4);
}

/** The first 8 hex characters of SHA-256 of the token: enough to tell tokens apart, useless to an attacker. */
export function fingerprint(token: string): string {
  return fingerprintOfDigest(tokenDigest(token));
}
