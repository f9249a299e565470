import { SELF_TEST_HEADER } from '../../receive/self-test';
import { randomInt } from 'node:crypto';
import { ENV } from '../../vocabulary/env-names';
import type { NamedToken } from '../../config/tokens';
import { QUERY_TOKEN_PARAMETERS } from '../../verify/extract';
import { fingerprint } from '../../verify/fingerprint';
import { describeError } from './otlp-probe';
import { httpBuildQuery } from './form-encode';

export type DeliveryKind = 'configured_token' | 'no_token' | 'wrong_token';

export interface Answer {
  /** HTTP status, or null when no answer came. */
  status: number | null;
  /** `reason` (or `status` for an acceptance) of the guard's JSON answer, when the body is one. */
  reason: string | null;
  error?: string;
  location?: string;
}

export interface DeliveryResult {
  delivery: DeliveryKind;
  /** For configured_token: the token's name and fingerprint (never the token). */
  webhook?: string;
  fingerprint?: string;
  expected: { status: number; reason: string };
  got: Answer;
  ok: boolean;
  likely?: string;
}

export interface SelfTest {
  url: string;
  ok: boolean;
  deliveries: DeliveryResult[];
}

const EXPECTED: Record<DeliveryKind, { status: number; reason: string }> = {
  configured_token: { status: 200, reason: 'accepted' },
  no_token: { status: 401, reason: 'token_missing' },
  wrong_token: { status: 403, reason: 'token_mismatch' },
};

/** What event.test makes a portal send (ONAPPTEST), with the token given or none. */
export function appTestDelivery(token: string | undefined): string {
  const domain = 'doctor.bitrix24.invalid';
  return httpBuildQuery({
    event: 'ONAPPTEST',
    event_handler_id: '0',
    data: { FIELDS: { QUERY: 'bitrix24-webhook-guard doctor' } },
    ts: String(Math.floor(Date.now() / 1000)),
    auth: {
      domain,
      client_endpoint: `https://${domain}/rest/`,
      server_endpoint: 'https://oauth.bitrix.info/rest/',
      member_id: '00000000000000000000000000000000',
      application_token: token,
    },
  });
}

/** A Bitrix24-shaped token (32 of [0-9a-z]) that is none of the configured ones. */
export function wrongToken(configured: readonly NamedToken[]): string {
  const alphabet = '0123456789abcdefghijklmnopqrstuvwxyz';
  for (;;) {
    const token = Array.from({ length: 32 }, () => alphabet[randomInt(alphabet.length)]).join('');
    if (!configured.some((entry) => entry.token === token)) return token;
  }
}

/**
 * Sends self-test deliveries to a running deployment, the way Bitrix24 sends them, and checks each answer:
 * one per configured token (200), one without a token (401), one with a wrong token (403).
 */
export async function selfTest(url: string, tokens: readonly NamedToken[], timeoutMs: number): Promise<SelfTest> {
  const results: DeliveryResult[] = [];
  const seen = new Set<string>();
  for (const { name, token } of tokens) {
    const print = fingerprint(token);
    if (seen.has(print)) continue;
    seen.add(print);
    const got = await deliver(url, appTestDelivery(token), timeoutMs);
    results.push(await judge({ delivery: 'configured_token', webhook: name, fingerprint: print }, got, url, timeoutMs));
  }
  results.push(
    await judge({ delivery: 'no_token' }, await deliver(url, appTestDelivery(undefined), timeoutMs), url, timeoutMs),
  );
  results.push(
    await judge(
      { delivery: 'wrong_token' },
      await deliver(url, appTestDelivery(wrongToken(tokens)), timeoutMs),
      url,
      timeoutMs,
    ),
  );
  return { url: displayUrl(url), ok: results.every((result) => result.ok), deliveries: results };
}

/** The URL as shown: a token in its query (`?token=`) appears as its fingerprint, credentials not at all. */
export function displayUrl(url: string): string {
  const parsed = new URL(url);
  parsed.username = '';
  parsed.password = '';
  for (const name of QUERY_TOKEN_PARAMETERS) {
    const values = parsed.searchParams.getAll(name);
    if (values.length === 0) continue;
    parsed.searchParams.delete(name);
    for (const value of values) parsed.searchParams.append(name, `fingerprint-${fingerprint(value)}`);
  }
  return parsed.toString();
}

async function deliver(url: string, body: string, timeoutMs: number): Promise<Answer> {
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'user-agent': 'bitrix24-webhook-guard doctor',
        [SELF_TEST_HEADER]: 'doctor',
      },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    const answer: Answer = { status: response.status, reason: guardReason(text) };
    const location = response.headers.get('location');
    if (location) answer.location = location;
    return answer;
  } catch (error) {
    return { status: null, reason: null, error: describeError(error, timeoutMs) };
  }
}

function guardReason(text: string): string | null {
  try {
    const parsed = JSON.parse(text) as { status?: unknown; reason?: unknown };
    if (typeof parsed.reason === 'string') return parsed.reason;
    return typeof parsed.status === 'string' ? parsed.status : null;
  } catch {
    return null;
  }
}

type Identity = Pick<DeliveryResult, 'delivery' | 'webhook' | 'fingerprint'>;

async function judge(identity: Identity, got: Answer, url: string, timeoutMs: number): Promise<DeliveryResult> {
  const expected = EXPECTED[identity.delivery];
  const ok = got.status === expected.status && got.reason === expected.reason;
  const result: DeliveryResult = { ...identity, expected, got, ok };
  if (!ok) result.likely = await likelyCause(identity, got, url, timeoutMs);
  return result;
}

const TOKEN_LOST =
  'the token was lost on the way: something in front of the service dropped or rewrote the body ' +
  '(a proxy or load balancer stripping the body, a redirect turning the POST into a GET, a body parser ' +
  're-encoding the form or changing its content type)';

async function likelyCause(identity: Identity, got: Answer, url: string, timeoutMs: number): Promise<string> {
  const { status, reason } = got;
  if (status === null) return `the deployment does not answer (${got.error}): wrong host or port, or it is not running`;
  if (status >= 300 && status < 400) {
    return `a redirect${got.location ? ` to ${got.location}` : ''}: Bitrix24 does not follow it with the body; put the final URL in Bitrix24`;
  }
  if (status === 503 && reason === 'not_configured') {
    return `no token is configured on that deployment: ${ENV.token} (or ${ENV.tokenFile}, or ${ENV.tokens}) is unset there`;
  }
  if (status === 404 || status === 405) {
    return `wrong path: nothing takes deliveries at ${new URL(url).pathname} there; the service's path is ${ENV.webhookPath} (default /api/bitrix/webhook)`;
  }
  if (status === 415) return 'a proxy rewrote the Content-Type: the service received neither a form nor JSON';
  if (status === 413) return `the body was refused as too large: ${ENV.bodyLimit} on the service, or a proxy's limit`;
  if (status === 400) return 'the body arrived damaged: a proxy re-encoded or cut it';
  const guardAnswered = reason !== null;
  if (status === 200 && identity.delivery !== 'configured_token') {
    const inUrl = QUERY_TOKEN_PARAMETERS.find((name) => new URL(url).searchParams.has(name));
    if (inUrl) {
      return `the URL itself carries a token (?${inUrl}=), so a delivery without one in its body is accepted too; Bitrix24 sends its token in the body: leave it out of the URL`;
    }
    return guardAnswered
      ? 'a delivery without the right token was accepted: the deployment does not verify tokens'
      : 'a delivery without the right token was accepted: something other than this service answers at that URL';
  }
  if (status === 401 && reason === 'token_missing' && identity.delivery !== 'no_token') return TOKEN_LOST;
  if (status === 403 && reason === 'token_mismatch' && identity.delivery === 'configured_token') {
    const theirs = await deployedFingerprints(url, timeoutMs);
    return (
      `the deployment is configured with another token: this one's fingerprint is ${identity.fingerprint}` +
      (theirs ? `, the deployment's /readyz lists ${theirs}` : '; compare with its /readyz or start-up line')
    );
  }
  if (status === 403 && identity.delivery === 'no_token') {
    return 'a token was found where none was sent: something in front of the service adds one (a header?)';
  }
  if (!guardAnswered)
    return `HTTP ${status} without the guard's answer: something other than this service answers at that URL`;
  return `unexpected answer HTTP ${status} ${reason}`;
}

/** The token names and fingerprints the deployment's /readyz lists, when it is reachable at the same origin. */
async function deployedFingerprints(url: string, timeoutMs: number): Promise<string | undefined> {
  try {
    const response = await fetch(new URL('/readyz', url), { signal: AbortSignal.timeout(timeoutMs) });
    const body = (await response.json()) as { tokens?: Array<{ name?: unknown; fingerprint?: unknown }> };
    if (!Array.isArray(body.tokens) || body.tokens.length === 0) return undefined;
    return body.tokens.map(({ name, fingerprint: print }) => `${String(name)} ${String(print)}`).join(', ');
  } catch {
    return undefined;
  }
}

export function describeAnswer(answer: Answer): string {
  if (answer.status === null) return `no answer (${answer.error})`;
  return answer.reason === null ? `HTTP ${answer.status}` : `${answer.status} ${answer.reason}`;
}

export function deliveryLabel(result: DeliveryResult): string {
  if (result.delivery === 'configured_token')
    return `ONAPPTEST with the token "${result.webhook}" (${result.fingerprint})`;
  return result.delivery === 'no_token' ? 'ONAPPTEST with no token' : 'ONAPPTEST with a wrong token';
}
