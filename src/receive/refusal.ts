import { trace } from '@opentelemetry/api';
import type { Context } from 'koa';
import { boundText } from '../telemetry/bound-text';
import type { Logger } from '../telemetry/logger';
import type { ServiceMetrics } from '../telemetry/metrics';
import { ATTR, type TokenSource } from '../telemetry/names';
import { diagnose, RAW_PREFIX_LENGTH, type DiagnosisResult, type RefusalOutcome } from '../verify/diagnose';
import { fingerprint } from '../verify/fingerprint';
import type { DeliveryFacts } from './delivery';
import type { VerificationRun } from './verify-request';

/** Where in the request path a delivery was refused. */
export type RefusalStage = 'limits' | 'route' | 'parse' | 'verify';

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
  run?: VerificationRun;
  facts?: DeliveryFacts;
}

export const REFUSAL_MESSAGE = 'webhook delivery refused';

/** The diagnosis of a refused request, from what the request showed (never from a token's value). */
export function diagnoseRefusal(ctx: Context, refusal: Refusal, sources: readonly TokenSource[]): DiagnosisResult {
  const declared = ctx.get('content-length');
  return diagnose({
    outcome: refusal.reason,
    contentType: ctx.get('content-type') || undefined,
    contentLength: declared === '' ? undefined : ctx.request.length,
    chunked: ctx.get('transfer-encoding').toLowerCase().includes('chunked'),
    body: refusal.body,
    rawPrefix: refusal.raw?.slice(0, RAW_PREFIX_LENGTH),
    query: ctx.query,
    headerNames: Object.keys(ctx.req.headersDistinct),
    sources,
    extractions: refusal.run?.extractions ?? [],
  });
}

/**
 * The one warn line of a refused delivery, whatever the stage that refused it: the same fields every time,
 * so a developer reads every refusal the same way. Header names only: their values may hold the token.
 */
export function refusalLogFields(ctx: Context, refusal: Refusal, diagnosis: DiagnosisResult): Record<string, unknown> {
  const { run, facts } = refusal;
  const verdict = run?.verdict;
  return {
    stage: refusal.stage,
    result: refusal.stage === 'verify' ? (verdict?.result ?? 'not_configured') : 'not_verified',
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
    header_names: Object.keys(ctx.req.headersDistinct).sort().map((name) => boundText(name, 64)),
    content_type: boundText(ctx.get('content-type')) || 'none',
    content_length: boundText(ctx.get('content-length'), 32) || 'none',
    event: facts?.event,
    portal_domain: facts?.domain,
  };
}

export type RefusalLog = (message: string, fields: Record<string, unknown>) => void;

/**
 * Records a refused delivery: its diagnosis on the active span (the server span; the verify span carries
 * its own), in the by-diagnosis counter, and in one warn line (or through `log`, e.g. rate-limited).
 * Returns the diagnosis so that the caller can keep it with the delivery.
 */
export function createRefusalRecorder(deps: { metrics: ServiceMetrics; logger: Logger; sources: readonly TokenSource[] }) {
  const record = (ctx: Context, refusal: Refusal, log?: RefusalLog): DiagnosisResult => {
    const diagnosis = refusal.run?.diagnosis ?? diagnoseRefusal(ctx, refusal, deps.sources);
    deps.metrics.recordDiagnosis(diagnosis.diagnosis);
    const serverSpan = ctx.state.serverContext ? trace.getSpan(ctx.state.serverContext) : trace.getActiveSpan();
    serverSpan?.setAttribute(ATTR.diagnosis, diagnosis.diagnosis);
    const fields = refusalLogFields(ctx, refusal, diagnosis);
    if (log) log(REFUSAL_MESSAGE, fields);
    else deps.logger.warn(REFUSAL_MESSAGE, fields);
    return diagnosis;
  };
  return Object.assign(record, { logger: deps.logger });
}

export type RefusalRecorder = ReturnType<typeof createRefusalRecorder>;

/** The deciding token is the first one found, so its fingerprint is what was received. */
function receivedFingerprint(run: VerificationRun): string {
  const first = run.extractions.find((extraction) => extraction.token !== undefined);
  return first ? fingerprint(first.token!) : 'none';
}
