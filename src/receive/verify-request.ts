import { context, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';
import { startChildOf, startChildSpan } from '../telemetry/request-spans';
import { extractToken, type Extraction, type TokenCarrier } from '../verify/extract';
import { fingerprintOfDigest, tokenDigest } from '../verify/fingerprint';
import { checkBinding, decide, type TokenMatcher, type Verdict } from '../verify/verify';
import type { NamedToken } from '../config/tokens';
import { ATTR, SPAN, type TokenSource } from '../vocabulary/names';
import type { ServiceMetrics } from '../telemetry/metrics';
import type { DeliveryFacts } from './delivery';
import type { DiagnosisResult } from '../verify/diagnose';

const tracer = trace.getTracer('bitrix24-webhook-guard');

export interface VerificationRun {
  extractions: Extraction[];
  /** Undefined when no token is configured: there is nothing to verify against. */
  verdict: Verdict | undefined;
  traceId: string | undefined;
  /** Why it was refused, when it was (see diagnoseRefusal). */
  diagnosis?: DiagnosisResult;
}

/**
 * Runs extraction and verification inside the `bitrix.token.verify` span, one child span per source in
 * the configured order, and counts each look-up. The caller answers and records the verdict.
 */
export function verifyRequest(
  carrier: TokenCarrier,
  sources: readonly TokenSource[],
  match: TokenMatcher | undefined,
  facts: DeliveryFacts,
  metrics: ServiceMetrics,
  /** The HTTP server span's context: the verify span is its child, whatever koa spans lie between. */
  parent: Context = context.active(),
  /** Diagnoses a verification that did not accept, so the verify span carries the diagnosis. */
  diagnoseRefusal?: (run: VerificationRun) => DiagnosisResult,
  /** The configured tokens, for their portal bindings. */
  tokens: readonly NamedToken[] = [],
): VerificationRun {
  // Parents are passed explicitly: nothing on the request path needs an active context.
  const span = startChildSpan(tracer, SPAN.verify, parent);
  try {
    const digestOf = lastDigestMemo();
    const extractions = sources.map((source) => extractInSpan(span, source, carrier, metrics, digestOf));
    const decided = match ? decide(extractions, match, digestOf) : undefined;
    const verdict = decided && checkBinding(decided, tokens, facts);
    describeVerification(span, verdict, facts);
    const spanContext = span.spanContext();
    const run: VerificationRun = {
      extractions,
      verdict,
      traceId: trace.isSpanContextValid(spanContext) ? spanContext.traceId : undefined,
    };
    if (verdict?.result !== 'accepted' && diagnoseRefusal) {
      run.diagnosis = diagnoseRefusal(run);
      span.setAttribute(ATTR.diagnosis, run.diagnosis.diagnosis);
    }
    return run;
  } finally {
    span.end();
  }
}

/**
 * SHA-256 of a token, remembering the last one: the extract span of the deciding source and decide() hash
 * the same token, and one digest serves the span's fingerprint, the matcher and the verdict's fingerprint.
 */
function lastDigestMemo(): (token: string) => Buffer {
  let lastToken: string | undefined;
  let lastDigest: Buffer | undefined;
  return (token) => {
    if (lastDigest === undefined || token !== lastToken) {
      lastToken = token;
      lastDigest = tokenDigest(token);
    }
    return lastDigest;
  };
}

function extractInSpan(
  verify: Span,
  source: TokenSource,
  carrier: TokenCarrier,
  metrics: ServiceMetrics,
  digestOf: (token: string) => Buffer,
): Extraction {
  const span = startChildOf(tracer, SPAN.extract(source), verify);
  try {
    const extraction = extractToken(source, carrier);
    const found = extraction.token !== undefined;
    span.setAttributes({
      [ATTR.source]: source,
      [ATTR.found]: found,
      [ATTR.location]: extraction.location,
    });
    // Only for a span that records (none when tracing is off or always_off).
    if (found && span.isRecording())
      span.setAttribute(ATTR.fingerprint, fingerprintOfDigest(digestOf(extraction.token!)));
    if (extraction.rejected.length > 0) {
      span.setAttribute(
        ATTR.notAToken,
        extraction.rejected.map(({ location, reason }) => `${location}: ${reason}`),
      );
    }
    metrics.recordExtraction(source, found);
    return extraction;
  } finally {
    span.end();
  }
}

function describeVerification(span: Span, verdict: Verdict | undefined, facts: DeliveryFacts): void {
  span.setAttributes({
    [ATTR.result]: verdict?.result ?? 'not_configured',
    [ATTR.source]: verdict?.source ?? 'none',
    [ATTR.webhookName]: verdict?.webhook ?? 'unknown',
    [ATTR.conflict]: verdict?.conflict ?? false,
  });
  if (facts.event !== undefined) span.setAttribute(ATTR.event, facts.event);
  if (facts.domain !== undefined) span.setAttribute(ATTR.portalDomain, facts.domain);
  if (facts.memberId !== undefined) span.setAttribute(ATTR.portalMemberId, facts.memberId);
  if (verdict?.result !== 'accepted') {
    span.setStatus({ code: SpanStatusCode.ERROR, message: verdict ? verdict.reason : 'not_configured' });
  }
}
