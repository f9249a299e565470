import client from 'prom-client';
import {
  DIAGNOSES,
  DIAGNOSIS_LABEL,
  type Diagnosis,
  EXEMPLAR_TRACE_ID_LABEL,
  METRIC,
  OTHER_EVENT,
  REJECTION_REASONS,
  type RejectionReason,
  TOKEN_SOURCES,
  type TokenSource,
  UNKNOWN_WEBHOOK,
  VERIFICATION_RESULTS,
  VERIFICATION_SOURCES,
  type VerificationResult,
  type VerificationSource,
} from '../vocabulary/names';
import { gauge, type Registers, zeroedCounter } from './families';
import { linkableTraceId } from './trace-links';

export const EVENT_NAME_PATTERN = /^ON[A-Z0-9_]{1,64}$/;
export const MAX_DISTINCT_EVENTS = 200;
const HTTP_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
/** Buckets for a handler that should answer in milliseconds; the upper ones catch a stalled event loop. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What each delivery reports: where the token was looked for, the verdict, the refusal and its diagnosis, the answer. */
export interface DeliveryMetrics {
  recordExtraction(source: TokenSource, found: boolean): void;
  recordVerification(result: VerificationResult, source: VerificationSource, webhook: string, traceId?: string): void;
  recordRejection(reason: RejectionReason): void;
  /** Every refused delivery, whatever its stage, by its diagnosis. */
  recordDiagnosis(diagnosis: Diagnosis): void;
  recordAcceptedEvent(event: unknown, webhook: string): void;
  observeRequest(method: string, route: string, statusCode: number, seconds: number, traceId?: string): void;
}

export interface DeliveryMetricsOptions {
  /** Names of the configured tokens: the only values the `webhook` label can take besides `unknown`. */
  webhookNames: readonly string[];
  tokensConfigured: number;
}

export function registerDeliveryMetrics(registers: Registers, options: DeliveryMetricsOptions): DeliveryMetrics {
  const verifications = zeroedCounter(
    registers,
    METRIC.verifications,
    'Webhook token verifications by result, the source that held the deciding token, and the matched token name.',
    { result: [], source: [], webhook: [] },
    { enableExemplars: true },
  );
  // Only an accepted verification has a webhook name; every other series is `unknown`.
  const webhookNames = options.webhookNames.length > 0 ? [...new Set(options.webhookNames)] : [UNKNOWN_WEBHOOK];
  for (const result of VERIFICATION_RESULTS) {
    for (const source of VERIFICATION_SOURCES) {
      const names = result === 'accepted' && source !== 'none' ? webhookNames : [UNKNOWN_WEBHOOK];
      for (const webhook of names) verifications.inc({ labels: { result, source, webhook }, value: 0 });
    }
  }
  const extractions = zeroedCounter(
    registers,
    METRIC.extractions,
    'Token look-ups per source, and whether the source held a token.',
    {
      source: TOKEN_SOURCES,
      found: ['true', 'false'],
    },
  );
  const rejected = zeroedCounter(
    registers,
    METRIC.requestsRejected,
    'Webhook requests rejected before or instead of token verification, by reason.',
    {
      reason: REJECTION_REASONS,
    },
  );
  const diagnoses = zeroedCounter(
    registers,
    METRIC.rejectionsByDiagnosis,
    'Refused deliveries, whatever the stage that refused them, by the likely cause (docs/runbooks.md#diagnosis-<value>).',
    { [DIAGNOSIS_LABEL]: DIAGNOSES },
  );
  gauge(
    registers,
    METRIC.tokensConfigured,
    'Number of webhook tokens configured; 0 means every delivery is refused.',
  ).set(options.tokensConfigured);
  const events = new client.Counter({
    name: METRIC.events,
    help: `Accepted events by event code (codes outside ON[A-Z0-9_] and beyond the first ${MAX_DISTINCT_EVENTS} count as "${OTHER_EVENT}").`,
    labelNames: ['event'] as const,
    registers: registers as client.Registry[],
  });
  const lastAccepted = gauge(
    registers,
    METRIC.lastAcceptedTimestamp,
    'Unix time of the last accepted delivery per webhook token name.',
    ['webhook'],
  );
  const duration = new client.Histogram({
    name: METRIC.httpRequestDuration,
    help: 'HTTP request duration in seconds by method, matched route and status code.',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: DURATION_BUCKETS,
    enableExemplars: true,
    registers: registers as client.Registry[],
  });

  const eventLabel = boundedEventLabel();
  return {
    recordExtraction: (source, found) => extractions.inc({ source, found: String(found) }),
    recordVerification: (result, source, webhook, traceId) =>
      verifications.inc({ labels: { result, source, webhook }, value: 1, exemplarLabels: exemplar(traceId) }),
    recordDiagnosis: (diagnosis) => diagnoses.inc({ [DIAGNOSIS_LABEL]: diagnosis }),
    recordRejection: (reason) => rejected.inc({ reason }),
    recordAcceptedEvent(event, webhook) {
      events.inc({ event: eventLabel(event) });
      lastAccepted.set({ webhook }, Date.now() / 1000);
    },
    observeRequest(method, route, statusCode, seconds, traceId) {
      duration.observe({
        labels: { method: HTTP_METHODS.has(method) ? method : 'OTHER', route, status_code: String(statusCode) },
        value: seconds,
        exemplarLabels: exemplar(traceId),
      });
    },
  };
}

/** Event codes as a label: well-formed ones, the first MAX_DISTINCT_EVENTS of them; anything else is OTHER_EVENT. */
function boundedEventLabel(): (event: unknown) => string {
  const seen = new Set<string>();
  return (event) => {
    if (typeof event !== 'string' || !EVENT_NAME_PATTERN.test(event)) return OTHER_EVENT;
    if (seen.has(event)) return event;
    if (seen.size >= MAX_DISTINCT_EVENTS) return OTHER_EVENT;
    seen.add(event);
    return event;
  };
}

/**
 * No link to a trace that is not exported: then no exemplar at all (prom-client keeps the series' last one).
 * prom-client's types wrongly demand that exemplar labels be among the metric's own label names.
 */
function exemplar(traceId: string | undefined): Record<string, never> {
  return (linkableTraceId(traceId) ? { [EXEMPLAR_TRACE_ID_LABEL]: traceId } : undefined) as unknown as Record<
    string,
    never
  >;
}
