import { timingSafeEqual } from 'node:crypto';
import type { NamedToken } from '../config/tokens';
import { bindingMismatch } from '../config/portal-binding';
import { UNKNOWN_WEBHOOK, type TokenSource } from '../vocabulary/names';
import type { Extraction } from './extract';
import { fingerprintOfDigest, tokenDigest } from './fingerprint';

export interface TokenMatcher {
  /** Names the configured token the candidate equals, or undefined. */
  (candidate: string): string | undefined;
  /** The same for a candidate whose SHA-256 digest the caller already has (one hash per request serves all). */
  byDigest(digest: Buffer): string | undefined;
}

/** Compares two equal-length digests; injectable so a test can count the comparisons. */
export type DigestComparison = (a: Buffer, b: Buffer) => boolean;

/**
 * Returns a function that names the configured token a candidate equals, or undefined. Every configured
 * token is compared, always, and only fixed-size SHA-256 digests are compared, so neither the position
 * of a match nor the length of a token shows in the time taken.
 */
export function createTokenMatcher(
  tokens: readonly NamedToken[],
  compare: DigestComparison = timingSafeEqual,
): TokenMatcher {
  const digests = tokens.map(({ name, token }) => ({ name, digest: tokenDigest(token) }));
  const byDigest = (digest: Buffer): string | undefined => {
    let matched: string | undefined;
    for (const configured of digests) {
      if (compare(digest, configured.digest) && matched === undefined) matched = configured.name;
    }
    return matched;
  };
  return Object.assign((candidate: string) => byDigest(tokenDigest(candidate)), { byDigest });
}

/** The SHA-256 hex of a token, as the store keeps a candidate (never the token itself). */
export type DigestMatcher = (digestHex: string) => string | undefined;

/**
 * Names the configured token whose SHA-256 is `digestHex` (a stored candidate), or undefined; for replay.
 * Like createTokenMatcher: every configured digest is compared, in constant time, whatever matches.
 */
export function createDigestMatcher(
  tokens: readonly NamedToken[],
  compare: DigestComparison = timingSafeEqual,
): DigestMatcher {
  const digests = tokens.map(({ name, token }) => ({ name, digest: tokenDigest(token) }));
  return (digestHex) => {
    if (!/^[0-9a-f]{64}$/.test(digestHex)) return undefined;
    const digest = Buffer.from(digestHex, 'hex');
    let matched: string | undefined;
    for (const configured of digests) {
      if (compare(digest, configured.digest) && matched === undefined) matched = configured.name;
    }
    return matched;
  };
}

interface VerdictBase {
  /** Two sources held different tokens. The first one (in the configured order) decided. */
  conflict: boolean;
}

export type Verdict =
  | (VerdictBase & { result: 'accepted'; source: TokenSource; webhook: string; fingerprint: string })
  | (VerdictBase & {
      result: 'mismatched';
      reason: 'token_mismatch';
      source: TokenSource;
      webhook: typeof UNKNOWN_WEBHOOK;
      fingerprint: string;
    })
  /** The token matched `boundTo`, but the delivery names another portal than that token is bound to. */
  | (VerdictBase & {
      result: 'mismatched';
      reason: 'portal_mismatch';
      source: TokenSource;
      webhook: typeof UNKNOWN_WEBHOOK;
      fingerprint: string;
      boundTo: string;
      portalMismatch: string;
    })
  | (VerdictBase & { result: 'missing'; reason: 'token_missing'; source: 'none'; webhook: typeof UNKNOWN_WEBHOOK });

/**
 * The verdict comes from the first source (in examination order) that holds a token. Pure. `digestOf` lets
 * the caller share the deciding token's one SHA-256 (e.g. with the extract span's fingerprint).
 */
/**
 * An accepted verdict turned into a refusal when its token is bound to a portal (config/portal-binding.ts) and
 * the delivery names another. Pure.
 */
export function checkBinding(
  verdict: Verdict,
  tokens: readonly NamedToken[],
  delivery: { memberId: string | undefined; domain: string | undefined },
): Verdict {
  if (verdict.result !== 'accepted') return verdict;
  const portal = tokens.find((token) => token.name === verdict.webhook)?.portal;
  const why = portal && bindingMismatch(portal, delivery, verdict.webhook);
  if (!why) return verdict;
  return {
    result: 'mismatched',
    reason: 'portal_mismatch',
    source: verdict.source,
    webhook: UNKNOWN_WEBHOOK,
    fingerprint: verdict.fingerprint,
    conflict: verdict.conflict,
    boundTo: verdict.webhook,
    portalMismatch: why,
  };
}

export function decide(
  extractions: readonly Extraction[],
  match: TokenMatcher,
  digestOf: (token: string) => Buffer = tokenDigest,
): Verdict {
  const found = extractions.filter(
    (extraction): extraction is Extraction & { token: string } => extraction.token !== undefined,
  );
  const deciding = found[0];
  const conflict = new Set(found.map((extraction) => extraction.token)).size > 1;
  if (!deciding)
    return { result: 'missing', reason: 'token_missing', source: 'none', webhook: UNKNOWN_WEBHOOK, conflict };
  const digest = digestOf(deciding.token);
  const print = fingerprintOfDigest(digest);
  const webhook = match.byDigest(digest);
  if (webhook === undefined) {
    return {
      result: 'mismatched',
      reason: 'token_mismatch',
      source: deciding.source,
      webhook: UNKNOWN_WEBHOOK,
      fingerprint: print,
      conflict,
    };
  }
  return { result: 'accepted', source: deciding.source, webhook, fingerprint: print, conflict };
}
