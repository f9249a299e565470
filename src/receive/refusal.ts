import { isSelfTest } from './self-test';
import { trace } from '@opentelemetry/api';
import type { Config } from '../config/load';
import { createTokenMatcher } from '../verify/verify';
import qs from 'qs';
import { FORM_PARSE_OPTIONS } from './form-options';
import type { Context } from 'koa';
import { boundText } from '../telemetry/bound-text';
import { LOG_CONTEXT, type Logger } from '../telemetry/logger';
import type { ServiceMetrics } from '../telemetry/metrics';
import { sha256Hex } from '../secrets/scrub';
import type { Store, TokenCandidate } from '../store/types';
import { ATTR, QUARANTINE_REASONS, TOKEN_SOURCES, type QuarantineReason, type TokenSource } from '../vocabulary/names';
import { extractToken } from '../verify/extract';
import {
  diagnose,
  looksLikeBitrix24Token,
  RAW_PREFIX_LENGTH,
  type ConfiguredTokenFault,
  type DiagnosisResult,
  type RefusalOutcome,
} from '../verify/diagnose';
import { fingerprint } from '../verify/fingerprint';
import { deliveryFacts, type DeliveryFacts } from './delivery';
import { STATUS_FOR } from './answers';
import { writeToStore } from './store-write';
import { rateLimitedWarn } from './rate-limited-log';
import { headerNames, tokenHeaders } from './request-headers';
import type { VerificationRun } from './verify-request';

/** Where in the request path a delivery was refused. */
export type RefusalStage = 'limits' | 'route' | 'parse' | 'verify' | 'store';

/** What one refused request showed: enough to diagnose it and to write its one warn line. */
export interface Refusal {
  stage: RefusalStage;
  reason: RefusalOutcome;
  /** Which limit or check, in words of the service's own (never a value from the request). */
  detail?: string;
  /** The parsed body, when parsing got that far. */
  body?: unknown;
  /** The raw body text, when it was read (only its first RAW_PREFIX_LENGTH characters are looked at). */
  raw?: string;
  /** For a route refusal, whose body is only peeked at: `raw` is the whole body, so it may be kept. */
  whole?: boolean;
  run?: VerificationRun;
  facts?: DeliveryFacts;
}

export const REFUSAL_MESSAGE = 'webhook delivery refused';
export const QUARANTINE_DROPPED_MESSAGE = 'refused delivery not kept in quarantine';
const DROPPED_LOG_INTERVAL_MS = 1000;
const OVERLOADED_LOG_INTERVAL_MS = 1000;

/** What the configuration contributes to every diagnosis: where tokens are looked for, and its token faults. */
export interface DiagnosisSetup {
  sources: readonly TokenSource[];
  tokenFaults: readonly ConfiguredTokenFault[];
  /** Whether a value equals a configured token (for a chat-bot event's inner token); absent with none configured. */
  isConfiguredToken?: (token: string) => boolean;
}

function portalMismatchOf(run: VerificationRun | undefined): { portalMismatch?: string } {
  const verdict = run?.verdict;
  return verdict && verdict.result === 'mismatched' && verdict.reason === 'portal_mismatch'
    ? { portalMismatch: verdict.portalMismatch }
    : {};
}

/** The diagnosis setup of a configuration: computed once, shared by every refusal. */
export function diagnosisSetup(config: Pick<Config, 'sources' | 'tokenFaults' | 'tokens'>): DiagnosisSetup {
  const match = config.tokens.length > 0 ? createTokenMatcher(config.tokens) : undefined;
  return {
    sources: config.sources,
    tokenFaults: config.tokenFaults,
    ...(match ? { isConfiguredToken: (token: string) => match(token) !== undefined } : {}),
  };
}

/** The diagnosis of a refused request, from what the request showed (never from a token's value). */
export function diagnoseRefusal(
  ctx: Context,
  refusal: Refusal,
  { sources, tokenFaults, isConfiguredToken }: DiagnosisSetup,
): DiagnosisResult {
  const declared = ctx.get('content-length');
  return diagnose({
    outcome: refusal.reason,
    contentType: ctx.get('content-type') || undefined,
    contentLength: declared === '' ? undefined : ctx.request.length,
    chunked: ctx.get('transfer-encoding').toLowerCase().includes('chunked'),
    body: refusal.body,
    // A wrong path's body read whole (within the body budget) is read whole: a long chat message puts
    // `auth[…]` past the prefix.
    rawPrefix: refusal.whole ? refusal.raw : refusal.raw?.slice(0, RAW_PREFIX_LENGTH),
    query: ctx.query,
    headerNames: headerNames(ctx.req),
    sources,
    extractions: refusal.run?.extractions ?? [],
    configuredTokenFaults: tokenFaults,
    ...(isConfiguredToken ? { isConfiguredToken } : {}),
    ...portalMismatchOf(refusal.run),
  });
}

/**
 * The one warn line of a refused delivery, whatever the stage that refused it: the same fields every time,
 * so a developer reads every refusal the same way. Header names only: their values may hold the token.
 */
export function refusalLogFields(
  ctx: Context,
  refusal: Refusal,
  diagnosis: DiagnosisResult,
  tokenFaults: readonly ConfiguredTokenFault[] = [],
): Record<string, unknown> {
  const { run, facts } = refusal;
  const verdict = run?.verdict;
  return {
    stage: refusal.stage,
    result:
      refusal.stage === 'verify' || refusal.stage === 'store' ? (verdict?.result ?? 'not_configured') : 'not_verified',
    reason: refusal.reason,
    ...(refusal.detail !== undefined ? { detail: refusal.detail } : {}),
    diagnosis: diagnosis.diagnosis,
    ...(diagnosis.detail !== undefined ? { diagnosis_detail: diagnosis.detail } : {}),
    received: run ? receivedFingerprint(run) : 'none',
    source: verdict?.source ?? 'none',
    sources_checked: run?.extractions.map((extraction) => extraction.source) ?? [],
    locations_checked: run?.extractions.map((extraction) => extraction.location) ?? [],
    not_a_token: run?.extractions.flatMap((extraction) => extraction.rejected) ?? [],
    conflict: verdict?.conflict ?? false,
    path: boundText(ctx.path),
    ...loggedHeaderNames(headerNames(ctx.req)),
    content_type: boundText(ctx.get('content-type')) || 'none',
    content_length: boundText(ctx.get('content-length'), 32) || 'none',
    event: facts?.event,
    portal_domain: facts?.domain,
    // Whatever refused it, a configured token that can match no Bitrix24 delivery is worth reading first.
    ...(tokenFaults.length > 0
      ? { configured_token_faults: tokenFaults.map(({ where, problem }) => `${where}: the token ${problem}`) }
      : {}),
  };
}

/** Header names a refusal's line lists at most: enough for any real client, and a bound on what junk costs. */
export const MAX_LOGGED_HEADER_NAMES = 32;

/** The names, sorted and cut, and how many were left out (a request may send hundreds). */
function loggedHeaderNames(names: string[]): { header_names: string[]; header_names_omitted?: number } {
  const sorted = names.sort();
  const kept = sorted.slice(0, MAX_LOGGED_HEADER_NAMES).map((name) => boundText(name, 64));
  return sorted.length > kept.length
    ? { header_names: kept, header_names_omitted: sorted.length - kept.length }
    : { header_names: kept };
}

export type RefusalLog = (message: string, fields: Record<string, unknown>) => void;

/**
 * Records a refused delivery: its diagnosis on the active span (the server span; the verify span carries
 * its own), in the by-diagnosis counter, and in one warn line (or through `log`, e.g. rate-limited).
 * Returns the diagnosis so that the caller can keep it with the delivery.
 *
 * `keep` records it the same way, then quarantines it when it may be replayed later: every token refusal,
 * and a body refusal whose body was read. Refusals at the limits and route stages (overloaded,
 * request_timeout, not_found) read no body and are not kept.
 */
export function createRefusalRecorder(deps: {
  metrics: ServiceMetrics;
  logger: Logger;
  setup: DiagnosisSetup;
  store: Store;
}) {
  const record = (ctx: Context, refusal: Refusal, log?: RefusalLog): DiagnosisResult => {
    const diagnosis = refusal.run?.diagnosis ?? diagnoseRefusal(ctx, refusal, deps.setup);
    deps.metrics.recordDiagnosis(diagnosis.diagnosis);
    const serverSpan = ctx.state.serverContext ? trace.getSpan(ctx.state.serverContext) : trace.getActiveSpan();
    serverSpan?.setAttribute(ATTR.diagnosis, diagnosis.diagnosis);
    const fields: Record<string | symbol, unknown> = refusalLogFields(ctx, refusal, diagnosis, deps.setup.tokenFaults);
    if (ctx.state.serverContext) fields[LOG_CONTEXT] = ctx.state.serverContext;
    if (log) log(REFUSAL_MESSAGE, fields);
    else deps.logger.warn(REFUSAL_MESSAGE, fields);
    return diagnosis;
  };
  // One line a second for deliveries not kept, however many: the counter has the exact number.
  const warnDropped = rateLimitedWarn(deps.logger, DROPPED_LOG_INTERVAL_MS);
  deps.store.onQuarantineEvicted(({ evicted, plausibleEvicted }) => {
    deps.metrics.recordQuarantineEvictions(evicted, plausibleEvicted);
    const fields = { evicted, plausible_evicted: plausibleEvicted };
    if (plausibleEvicted > 0)
      deps.logger.error('quarantine full: plausible deliveries (known portal, Bitrix24-shaped token) evicted', fields);
    else deps.logger.warn('quarantine full: released and junk deliveries evicted, oldest first', fields);
  });
  const keep = async (ctx: Context, refusal: Refusal, log?: RefusalLog): Promise<DiagnosisResult> => {
    const diagnosis = record(ctx, refusal, log);
    const reason = quarantineReason(refusal, diagnosis);
    if (reason === undefined) return diagnosis;
    const facts = refusal.facts ?? deliveryFacts(refusal.body ?? formBodyOf(refusal.raw));
    const plausible = isPlausible(deps.store, facts, refusal.run);
    const dropped = deps.store.admitQuarantine(plausible);
    if (dropped !== undefined) {
      deps.metrics.recordQuarantineDropped(dropped);
      warnDropped(QUARANTINE_DROPPED_MESSAGE, {
        reason,
        dropped,
        diagnosis: diagnosis.diagnosis,
        plausible,
        [LOG_CONTEXT]: ctx.state.serverContext,
      });
      return diagnosis;
    }
    const serverContext = ctx.state.serverContext;
    const traceContext = (serverContext ? trace.getSpan(serverContext) : trace.getActiveSpan())?.spanContext();
    const written = await writeToStore(deps.store, 'quarantine', deps.metrics, serverContext, () =>
      deps.store.quarantine({
        ...facts,
        receivedAt: ctx.state.receivedAt instanceof Date ? ctx.state.receivedAt : new Date(),
        status: STATUS_FOR[reason],
        reason,
        diagnosis: diagnosis.diagnosis,
        traceId: traceContext && trace.isSpanContextValid(traceContext) ? traceContext.traceId : undefined,
        headers: ctx.req.headers,
        rawBody: refusal.raw,
        // A body read but not parsed (a wrong type or path): the receiver's reader looks at it as Bitrix24's form.
        candidates: receivedCandidates(ctx, refusal.body ?? formBodyOf(refusal.raw)),
        ...(isSelfTest(ctx.req.headers) ? { selfTest: true } : {}),
        plausible,
      }),
    );
    if (written.ok) {
      deps.metrics.recordQuarantined(reason);
    } else {
      // Never a 5xx for this: the answer stays the refusal's own. Counted (store writes, error) and logged.
      deps.logger.error('quarantine write failed: this refused delivery is not kept', {
        reason,
        diagnosis: diagnosis.diagnosis,
        error: written.error,
        [LOG_CONTEXT]: serverContext,
      });
    }
    return diagnosis;
  };
  // One limiter for every `overloaded` refusal, at the door (limits.ts) or mid-body (the body reader): a flood
  // of them costs one line a second, however they are cut.
  const warnOverloaded = rateLimitedWarn(deps.logger, OVERLOADED_LOG_INTERVAL_MS);
  return Object.assign(record, { logger: deps.logger, keep, warnOverloaded, setup: deps.setup });
}

/**
 * Likely genuine: a portal the service has accepted events from, with a token of Bitrix24's shape (a rotated
 * or mistyped token). Everything else (no token, an unknown portal, a token of another shape) is evicted first.
 */
function isPlausible(store: Store, facts: DeliveryFacts, run: VerificationRun | undefined): boolean {
  if (!store.isKnownPortal({ memberId: facts.memberId, domain: facts.domain })) return false;
  return (
    run?.extractions.some((extraction) => extraction.token !== undefined && looksLikeBitrix24Token(extraction.token)) ??
    false
  );
}

function quarantineReason(refusal: Refusal, diagnosis: DiagnosisResult): QuarantineReason | undefined {
  const reason = refusal.reason as QuarantineReason;
  if (!QUARANTINE_REASONS.includes(reason)) return undefined;
  // A wrong path sees scanners all day: only a whole Bitrix24 delivery is worth keeping.
  if (reason === 'not_found')
    return diagnosis.diagnosis === 'wrong_path_bitrix24_body' && refusal.whole === true ? reason : undefined;
  return refusal.stage === 'verify' || refusal.raw !== undefined ? reason : undefined;
}

/**
 * The tokens the receiver reads, from every source (not only the configured ones: a replay after
 * BITRIX24_TOKEN_SOURCES changes should find them), as digests, read by the receiver's own extractor: a
 * replay decides from these only. (The store adds what its raw-body scan saw, for the operator's eyes.)
 */
function receivedCandidates(ctx: Context, body: unknown): TokenCandidate[] {
  const candidates: TokenCandidate[] = [];
  for (const source of TOKEN_SOURCES) {
    const extraction = extractToken(source, { body, query: ctx.query, headers: tokenHeaders(ctx.req.rawHeaders) });
    if (extraction.token !== undefined)
      candidates.push({ source, location: extraction.location, digest: sha256Hex(extraction.token) });
  }
  return candidates;
}

export type RefusalRecorder = ReturnType<typeof createRefusalRecorder>;

/** A body read but not parsed (a wrong type or path), parsed as Bitrix24's form for its facts only. */
function formBodyOf(raw: string | undefined): unknown {
  if (raw === undefined) return undefined;
  try {
    return qs.parse(raw, FORM_PARSE_OPTIONS);
  } catch {
    return undefined;
  }
}

/** The deciding token is the first one found, so its fingerprint is what was received. */
function receivedFingerprint(run: VerificationRun): string {
  // The verdict has it already (no second hash); without a verdict (no token configured) it is computed.
  if (run.verdict && run.verdict.result !== 'missing') return run.verdict.fingerprint;
  const first = run.extractions.find((extraction) => extraction.token !== undefined);
  return first ? fingerprint(first.token!) : 'none';
}
