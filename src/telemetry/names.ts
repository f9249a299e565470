// The one place that names the service's telemetry. Dashboards, alert rules, the runbook generator and the
// tests import from here, so a rename happens everywhere or nowhere (see ../shared/CONTRACT.md).

export const METRIC = {
  verifications: 'bitrix_webhook_token_verifications_total',
  extractions: 'bitrix_webhook_token_extractions_total',
  requestsRejected: 'bitrix_webhook_requests_rejected_total',
  tokensConfigured: 'bitrix_webhook_tokens_configured',
  events: 'bitrix_webhook_events_total',
  lastAcceptedTimestamp: 'bitrix_webhook_last_accepted_timestamp_seconds',
  httpRequestDuration: 'http_server_request_duration_seconds',
  /** Every refused delivery, whatever its stage, by its `diagnosis` (one of DIAGNOSES). */
  rejectionsByDiagnosis: 'bitrix_webhook_rejections_by_diagnosis_total',
} as const;

/** Names of prom-client's default metrics that the dashboard relies on. */
export const PROCESS_METRIC = {
  cpuSeconds: 'process_cpu_seconds_total',
  residentMemoryBytes: 'process_resident_memory_bytes',
  heapUsedBytes: 'nodejs_heap_size_used_bytes',
  eventLoopLagP99Seconds: 'nodejs_eventloop_lag_p99_seconds',
} as const;

export const TOKEN_SOURCES = ['body', 'query', 'header'] as const;
export type TokenSource = (typeof TOKEN_SOURCES)[number];

export const VERIFICATION_RESULTS = ['accepted', 'missing', 'mismatched'] as const;
export type VerificationResult = (typeof VERIFICATION_RESULTS)[number];

/** `source` label of a verification: where the deciding token was found, or `none`. */
export const VERIFICATION_SOURCES = [...TOKEN_SOURCES, 'none'] as const;
export type VerificationSource = (typeof VERIFICATION_SOURCES)[number];

export const REJECTION_REASONS = [
  'not_configured',
  'unsupported_media_type',
  'payload_too_large',
  'malformed_body',
  /** Past a bound on connections or on body bytes in flight (503 with Retry-After). */
  'overloaded',
  /** A body that did not arrive within BODY_TIMEOUT_SECONDS, or a request cut by the server's own timeouts (408). */
  'request_timeout',
  /** A POST to a path that is not the webhook route (a handler URL with a typo loses events). */
  'not_found',
] as const;
export type RejectionReason = (typeof REJECTION_REASONS)[number];

/** `webhook` label when no configured token matched. */
export const UNKNOWN_WEBHOOK = 'unknown';
/** `event` label for names outside the allowed pattern or beyond the distinct-name budget. */
export const OTHER_EVENT = 'other';

/** The label that carries the trace id in exemplars; Grafana's exemplar link is keyed on it. */
export const EXEMPLAR_TRACE_ID_LABEL = 'trace_id';

export const SPAN = {
  verify: 'bitrix.token.verify',
  extract: (source: TokenSource) => `bitrix.token.extract.${source}` as const,
} as const;

export const ATTR = {
  result: 'bitrix.token.result',
  source: 'bitrix.token.source',
  webhookName: 'bitrix.webhook.name',
  event: 'bitrix.event',
  portalDomain: 'bitrix.portal.domain',
  portalMemberId: 'bitrix.portal.member_id',
  conflict: 'bitrix.token.conflict',
  found: 'bitrix.token.found',
  location: 'bitrix.token.location',
  fingerprint: 'bitrix.token.fingerprint',
  /** Places that held a value that is not a token (a repeated key, an empty string), and why. */
  notAToken: 'bitrix.token.not_a_token',
  /** Why a delivery was refused: one of DIAGNOSES. */
  diagnosis: 'bitrix.token.diagnosis',
} as const;

/**
 * The likely cause of a refused delivery (src/verify/diagnose.ts), a fixed set: a metric label, a span
 * attribute and a log field. Each has a section `#diagnosis-<value>` in docs/runbooks.md.
 */
export const DIAGNOSES = [
  'not_configured',
  'content_type_missing',
  'unsupported_media_type',
  'payload_too_large',
  'form_body_labelled_json',
  'malformed_body',
  'request_timeout',
  'overloaded',
  'empty_body',
  'json_body_labelled_form',
  'token_repeated',
  'token_empty',
  'token_not_a_string',
  'token_in_unchecked_source',
  'token_key_double_encoded',
  'token_key_wrong_case',
  'token_key_top_level',
  'token_in_query_as_form_key',
  'auth_without_token',
  'json_without_auth',
  'no_auth_block',
  'mismatch_bitrix24_shaped',
  'mismatch_not_bitrix24_shaped',
  'wrong_path_bitrix24_body',
  'wrong_path',
  'unknown',
] as const;
export type Diagnosis = (typeof DIAGNOSES)[number];
/** The label of METRIC.rejectionsByDiagnosis. */
export const DIAGNOSIS_LABEL = 'diagnosis';

export const DEFAULT_SERVICE_NAME = 'bitrix24-webhook';

/** Forwarding of stored events to the application (src/forward/). */
export const FORWARD_METRIC = {
  attempts: 'bitrix_webhook_forward_attempts_total',
  backlog: 'bitrix_webhook_forward_backlog',
  oldestPendingAge: 'bitrix_webhook_forward_oldest_pending_age_seconds',
  deadLetters: 'bitrix_webhook_forward_dead_letters',
} as const;

/** `result` label of FORWARD_METRIC.attempts. */
export const FORWARD_RESULTS = ['delivered', 'retry', 'dead'] as const;
export type ForwardResult = (typeof FORWARD_RESULTS)[number];

/** One span per forwarding attempt, kind CLIENT, linked to the trace of the delivery that carried the event. */
export const FORWARD_SPAN = 'bitrix.forward';

export const FORWARD_ATTR = {
  attempt: 'bitrix.forward.attempt',
  result: 'bitrix.forward.result',
  eventId: 'bitrix.event.id',
  /** OpenTelemetry HTTP client semantic conventions. */
  httpMethod: 'http.request.method',
  urlFull: 'url.full',
  serverAddress: 'server.address',
  serverPort: 'server.port',
  httpStatus: 'http.response.status_code',
  errorType: 'error.type',
} as const;
