/**
 * Demo traffic for the docker compose stack: Bitrix24-shaped, form-encoded outgoing-webhook deliveries,
 * a mix of accepted ones, ones without a token and ones with a wrong token, so the dashboard and the
 * alerts have something to show within minutes.
 *
 * Runs in the service image as `node dist/scripts/traffic.js`, configured by its own variables:
 *   TRAFFIC_TARGET_URL       the guard's webhook URL (required)
 *   TRAFFIC_TOKEN            the token the guard accepts (required: 32 characters of [0-9a-z])
 *   TRAFFIC_RATE_PER_SECOND  deliveries per second (default 2, at most 50)
 *   TRAFFIC_MIX              weights, e.g. `accepted=55,missing=30,mismatched=15` (the default)
 *   TRAFFIC_MAX_REQUESTS     stop after this many deliveries (default 0: run until stopped)
 * It sends only to TRAFFIC_TARGET_URL, one request at a time, and never logs the token.
 * Each kind has one right answer (200 accepted, 401 missing, 403 mismatched): at the first other answer
 * (or no answer) it stops, says which, and exits 1, so a misconfigured stack does not look busy and healthy.
 */
import { VERIFICATION_RESULTS, type VerificationResult } from '../src/vocabulary/names';

export type DeliveryKind = VerificationResult;
export type Mix = Record<DeliveryKind, number>;

export interface TrafficOptions {
  targetUrl: URL;
  token: string;
  ratePerSecond: number;
  mix: Mix;
  /** 0 means no limit. */
  maxRequests: number;
}

export interface UnexpectedAnswer {
  seq: number;
  kind: DeliveryKind;
  expected: string;
  got: string;
}

export interface TrafficSummary {
  sent: number;
  /** The answer that stopped the run, when one was not the kind's expected status. */
  unexpected?: UnexpectedAnswer;
  /** Deliveries sent, by the kind chosen. */
  byKind: Record<DeliveryKind, number>;
  /** Answers by HTTP status, `error` for requests that got none. */
  byStatus: Record<string, number>;
}

export const DEFAULT_MIX: Mix = { accepted: 55, missing: 30, mismatched: 15 };
/** What the guard answers each kind of delivery (its contract: docs/contract.md). */
export const EXPECTED_STATUS: Record<DeliveryKind, string> = { accepted: '200', missing: '401', mismatched: '403' };
const TOKEN_PATTERN = /^[0-9a-z]{32}$/;
const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';
const EVENTS = ['ONCRMDEALADD', 'ONCRMDEALUPDATE', 'ONCRMLEADADD', 'ONCRMCONTACTUPDATE', 'ONTASKADD'] as const;
const PORTAL = 'demo-portal.bitrix24.com';
const MEMBER_ID = 'd897063e1ce7c5eb9f04b9751eef5915';

export function parseMix(text: string): Mix {
  const mix: Mix = { accepted: 0, missing: 0, mismatched: 0 };
  for (const entry of text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)) {
    const match = /^([a-z]+)=(\d+)$/.exec(entry);
    const kind = match?.[1] as DeliveryKind | undefined;
    if (!match || !kind || !VERIFICATION_RESULTS.includes(kind)) {
      throw new Error(`TRAFFIC_MIX: "${entry}" is not <${VERIFICATION_RESULTS.join('|')}>=<weight>`);
    }
    mix[kind] = Number(match[2]);
  }
  if (VERIFICATION_RESULTS.every((kind) => mix[kind] === 0)) throw new Error('TRAFFIC_MIX: all weights are 0');
  return mix;
}

export function readOptions(env: Record<string, string | undefined>): TrafficOptions {
  const target = env.TRAFFIC_TARGET_URL;
  if (!target) throw new Error('TRAFFIC_TARGET_URL is required');
  const targetUrl = new URL(target);
  const token = env.TRAFFIC_TOKEN ?? '';
  if (!TOKEN_PATTERN.test(token)) throw new Error('TRAFFIC_TOKEN must be 32 characters of [0-9a-z]');
  const ratePerSecond = Number(env.TRAFFIC_RATE_PER_SECOND ?? '2');
  if (!(ratePerSecond > 0 && ratePerSecond <= 50)) throw new Error('TRAFFIC_RATE_PER_SECOND must be in (0, 50]');
  const maxRequests = Number(env.TRAFFIC_MAX_REQUESTS ?? '0');
  if (!Number.isInteger(maxRequests) || maxRequests < 0)
    throw new Error('TRAFFIC_MAX_REQUESTS must be an integer >= 0');
  const mix = env.TRAFFIC_MIX ? parseMix(env.TRAFFIC_MIX) : { ...DEFAULT_MIX };
  return { targetUrl, token, ratePerSecond, mix, maxRequests };
}

/** A token of the same shape that differs from `token` in every character. */
export function wrongToken(token: string): string {
  return [...token].map((char) => ALPHABET[(ALPHABET.indexOf(char) + 1) % ALPHABET.length]).join('');
}

/** Picks a kind by weight; `random` is a number in [0, 1). */
export function pickKind(mix: Mix, random: number): DeliveryKind {
  const total = VERIFICATION_RESULTS.reduce((sum, kind) => sum + mix[kind], 0);
  let threshold = random * total;
  for (const kind of VERIFICATION_RESULTS) {
    if (threshold < mix[kind]) return kind;
    threshold -= mix[kind];
  }
  return VERIFICATION_RESULTS.filter((kind) => mix[kind] > 0).at(-1)!;
}

/**
 * The body Bitrix24 sends for an outgoing-webhook event, as PHP's http_build_query encodes it
 * (nested keys in percent-encoded brackets, spaces as `+`). `missing` leaves the token out.
 */
export function deliveryBody(kind: DeliveryKind, token: string, seq: number): string {
  const event = EVENTS[seq % EVENTS.length]!;
  const fields: Array<[string, string]> = [
    ['event', event],
    ['event_handler_id', String(900 + (seq % 7))],
    [event === 'ONTASKADD' ? 'data[FIELDS_AFTER][ID]' : 'data[FIELDS][ID]', String(1000 + seq)],
    ['ts', String(Math.floor(Date.now() / 1000))],
    ['auth[domain]', PORTAL],
    ['auth[client_endpoint]', `https://${PORTAL}/rest/`],
    ['auth[server_endpoint]', 'https://oauth.bitrix.info/rest/'],
    ['auth[member_id]', MEMBER_ID],
  ];
  if (kind === 'accepted') fields.push(['auth[application_token]', token]);
  if (kind === 'mismatched') fields.push(['auth[application_token]', wrongToken(token)]);
  return new URLSearchParams(fields).toString();
}

export async function runTraffic(
  options: TrafficOptions,
  hooks: { signal?: AbortSignal; log?: (line: Record<string, unknown>) => void; random?: () => number } = {},
): Promise<TrafficSummary> {
  const random = hooks.random ?? Math.random;
  const log = hooks.log ?? (() => undefined);
  const summary: TrafficSummary = { sent: 0, byKind: { accepted: 0, missing: 0, mismatched: 0 }, byStatus: {} };
  const intervalMs = 1000 / options.ratePerSecond;
  const started = Date.now();
  let lastReport = started;
  while (!hooks.signal?.aborted && (options.maxRequests === 0 || summary.sent < options.maxRequests)) {
    const kind = pickKind(options.mix, random());
    const status = await deliver(options.targetUrl, deliveryBody(kind, options.token, summary.sent));
    summary.sent += 1;
    summary.byKind[kind] += 1;
    summary.byStatus[status] = (summary.byStatus[status] ?? 0) + 1;
    if (status !== EXPECTED_STATUS[kind]) {
      summary.unexpected = { seq: summary.sent - 1, kind, expected: EXPECTED_STATUS[kind], got: status };
      break;
    }
    if (Date.now() - lastReport >= 30_000) {
      lastReport = Date.now();
      log({ message: 'traffic', sent: summary.sent, by_kind: summary.byKind, by_status: summary.byStatus });
    }
    const wait = started + summary.sent * intervalMs - Date.now();
    if (wait > 0) await sleep(wait, hooks.signal);
  }
  return summary;
}

async function deliver(url: URL, body: string): Promise<string> {
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body,
      signal: AbortSignal.timeout(5000),
    });
    await response.arrayBuffer();
    return String(response.status);
  } catch {
    return 'error';
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

function main(): void {
  const print = (line: Record<string, unknown>) =>
    console.log(JSON.stringify({ timestamp: new Date().toISOString(), ...line }));
  let options: TrafficOptions;
  try {
    options = readOptions(process.env);
  } catch (error) {
    print({ level: 'error', message: (error as Error).message });
    process.exit(2);
  }
  const controller = new AbortController();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => controller.abort());
  print({
    level: 'info',
    message: 'traffic starting',
    target: options.targetUrl.href,
    rate_per_second: options.ratePerSecond,
    mix: options.mix,
  });
  void runTraffic(options, { signal: controller.signal, log: (line) => print({ level: 'info', ...line }) }).then(
    (summary) => {
      const { unexpected } = summary;
      if (unexpected) {
        print({
          level: 'error',
          message: `${unexpected.kind} delivery answered ${unexpected.got}, expected ${unexpected.expected}: check TRAFFIC_TARGET_URL, TRAFFIC_TOKEN and the service`,
          kind: unexpected.kind,
          expected: unexpected.expected,
          got: unexpected.got,
          sent: summary.sent,
        });
        process.exitCode = 1;
      }
      print({
        level: 'info',
        message: 'traffic stopped',
        sent: summary.sent,
        by_kind: summary.byKind,
        by_status: summary.byStatus,
      });
    },
  );
}

if (require.main === module) main();
