// The one place that names the service's telemetry. Dashboards, alert rules, the runbook generator and the
// tests import from here, so a rename happens everywhere or nowhere (see docs/contract.md).

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
  /** Store writes by `kind` (accepted/quarantine) and `result` (ok/error). */
  storeWrites: 'bitrix_webhook_store_writes_total',
  /** Refused deliveries kept in quarantine, by `reason`. */
  quarantined: 'bitrix_webhook_quarantined_total',
  /** Quarantine rows deleted by its budgets (QUARANTINE_MAX_ROWS, QUARANTINE_MAX_BYTES): released first, then junk, oldest first. */
  quarantineEvictions: 'bitrix_webhook_quarantine_evictions_total',
  /**
   * Of those, plausible deliveries not yet released: a known portal's delivery with a Bitrix24-shaped token,
   * evicted only once no junk was left to evict. Each one may be a genuine event lost.
   */
  quarantinePlausibleEvictions: 'bitrix_webhook_quarantine_plausible_evictions_total',
  /** Refused deliveries counted and logged but not written to the quarantine, by `reason` (QUARANTINE_DROP_REASONS). */
  quarantineDropped: 'bitrix_webhook_quarantine_dropped_total',
  /** Rows in quarantine (released ones too, until purged or expired), read from the store on each scrape. */
  quarantineSize: 'bitrix_webhook_quarantine_size',
  /** Store operations that ran past STORE_TIMEOUT_SECONDS (answered 503 store_unavailable on the request path). */
  storeTimeouts: 'bitrix_webhook_store_timeouts_total',
  /** 1 while the store's last operations succeed, 0 while they fail or time out (as /readyz says). */
  storeUp: 'bitrix_webhook_store_up',
  /** Rows in quarantine not yet released, read from the store on each scrape: a replay by any process shows. */
  quarantinePending: 'bitrix_webhook_quarantine_pending',
} as const;

export const STORE_WRITE_KINDS = ['accepted', 'quarantine'] as const;
export type StoreWriteKind = (typeof STORE_WRITE_KINDS)[number];
export const STORE_WRITE_RESULTS = ['ok', 'error'] as const;
export type StoreWriteResult = (typeof STORE_WRITE_RESULTS)[number];
/** `reason` of a quarantined delivery: the token reasons, and the body refusals when a body was read. */
/** `not_found`: only a Bitrix24 delivery POSTed to a wrong path (diagnosis wrong_path_bitrix24_body), read whole. */
export const QUARANTINE_REASONS = [
  'token_missing',
  'token_mismatch',
  'not_configured',
  'unsupported_media_type',
  'malformed_body',
  'not_found',
  'portal_mismatch',
] as const;
export type QuarantineReason = (typeof QUARANTINE_REASONS)[number];
/**
 * `reason` of METRIC.quarantineDropped: `write_budget`: past QUARANTINE_WRITES_PER_SECOND (deliveries that
 * are not plausible only); `disk_reserve`: free disk under DATA_DIR below QUARANTINE_DISK_RESERVE.
 */
export const QUARANTINE_DROP_REASONS = ['write_budget', 'disk_reserve'] as const;
export type QuarantineDropReason = (typeof QUARANTINE_DROP_REASONS)[number];

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
  /** An accepted delivery that could not be committed to the store (503): never a 200 for an event not kept. */
  'store_unavailable',
  /** A GET (or HEAD) on the webhook path: a redirect in front of the service turned Bitrix24's POST into a GET (405). */
  'method_not_allowed',
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
  /** The commit of an accepted event (or a quarantined delivery) to the store, child of the server span. */
  storeWrite: 'bitrix.store.write',
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
  /** On the HTTP server span of an accepted chat-bot event whose bot token (data[BOT][<id>]…) differs from auth[application_token]. */
  botTokenDiffers: 'bitrix.bot.token_differs',
  /** Why a delivery was refused: one of DIAGNOSES. */
  diagnosis: 'bitrix.token.diagnosis',
  /** On bitrix.store.write: `accepted` or `quarantine`. */
  storeKind: 'bitrix.store.kind',
  /** On bitrix.store.write: the store behind it, `sqlite`, `postgres` or `none`. */
  storeSystem: 'bitrix.store.system',
  /** On bitrix.store.write: the id of the stored row. */
  storeId: 'bitrix.store.id',
} as const;

/**
 * The likely cause of a refused delivery (src/verify/diagnose.ts), a fixed set: a metric label, a span
 * attribute and a log field. Each has a section `#diagnosis-<value>` in docs/runbooks.md.
 */
export const DIAGNOSES = [
  'not_configured',
  'content_type_missing',
  'unsupported_media_type',
  'unsupported_media_type_bitrix24_body',
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
  'configured_token_malformed',
  'portal_mismatch',
  'bot_token_configured',
  'mismatch_bitrix24_shaped',
  'mismatch_not_bitrix24_shaped',
  'wrong_path_bitrix24_body',
  'wrong_path',
  'redirected_to_get',
  'store_unavailable',
  'unknown',
] as const;
export type Diagnosis = (typeof DIAGNOSES)[number];
/** The label of METRIC.rejectionsByDiagnosis. */
export const DIAGNOSIS_LABEL = 'diagnosis';

export const DEFAULT_SERVICE_NAME = 'bitrix24-webhook';

/** Tracing's own health (issue #12): spans dropped before export, and requests Node answered before the app. */
export const TRACING_METRIC = {
  /** `reason` = one of SPAN_DROP_REASONS. */
  spansDropped: 'bitrix_webhook_trace_spans_dropped_total',
  /** `status_code` = 400/408/413/431: requests Node's HTTP server answered itself (timeouts, unparseable requests). */
  answeredByNode: 'bitrix_webhook_requests_answered_by_node_total',
} as const;
/**
 * `buffer_full`: more traces or spans awaiting their export decision than the bounds allow;
 * `export_queue_full`: the batch span processor's queue was full (the exporter cannot keep up).
 */
export const SPAN_DROP_REASONS = ['buffer_full', 'export_queue_full'] as const;
export type SpanDropReason = (typeof SPAN_DROP_REASONS)[number];
export const NODE_ANSWER_STATUSES = ['400', '408', '413', '431'] as const;
/** The HTTP server span when the service makes it: `POST /api/bitrix/webhook` once routed, `POST` before. */
export const SERVER_SPAN_INSTRUMENTATION = 'bitrix24-webhook-guard.http-server';
/** Forwarding of stored events to the application (src/forward/). */
export const FORWARD_METRIC = {
  attempts: 'bitrix_webhook_forward_attempts_total',
  backlog: 'bitrix_webhook_forward_backlog',
  oldestPendingAge: 'bitrix_webhook_forward_oldest_pending_age_seconds',
  deadLetters: 'bitrix_webhook_forward_dead_letters',
  /** Stored events that could not be read back (bad JSON, nested too deep): each is dead-lettered at once. */
  unreadable: 'bitrix_webhook_forward_unreadable_events_total',
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

/** Recovery of quarantined deliveries (src/recover/): releases as accepted events, by `how` (RELEASE_HOWS). */
export const RECOVER_METRIC = {
  releases: 'bitrix_webhook_quarantine_releases_total',
} as const;
/** `auto`: QUARANTINE_AUTO_REPLAY at start-up; `cli`: `quarantine replay --apply`; `console`: the operator console. */
export const RELEASE_HOWS = ['auto', 'cli', 'console'] as const;
export type ReleaseHow = (typeof RELEASE_HOWS)[number];
/** One span per release, linked to the trace of the refused delivery. */
export const RELEASE_SPAN = 'bitrix.quarantine.release';
export const RELEASE_ATTR = {
  how: 'bitrix.quarantine.how',
  quarantineId: 'bitrix.quarantine.id',
  eventId: 'bitrix.event.id',
  webhookName: 'bitrix.webhook.name',
} as const;

/** The operator console (src/admin/): failed sign-ins, and every action an operator took, by `action`. */
export const ADMIN_METRIC = {
  signInFailures: 'bitrix_webhook_admin_sign_in_failures_total',
  actions: 'bitrix_webhook_admin_actions_total',
} as const;
export const ADMIN_ACTIONS = ['sign_in', 'sign_out', 'replay', 'redeliver'] as const;
export type AdminAction = (typeof ADMIN_ACTIONS)[number];
