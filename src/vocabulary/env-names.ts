/** The environment variables the service reads (besides the standard OTEL_* ones), as in docs/contract.md and docs/configuration.md. */
export const ENV = {
  token: 'BITRIX24_OUTGOING_WEBHOOK_TOKEN',
  tokenFile: 'BITRIX24_OUTGOING_WEBHOOK_TOKEN_FILE',
  tokens: 'BITRIX24_WEBHOOK_TOKENS',
  tokensFile: 'BITRIX24_WEBHOOK_TOKENS_FILE',
  tokenSources: 'BITRIX24_TOKEN_SOURCES',
  port: 'PORT',
  host: 'HOST',
  webhookPath: 'WEBHOOK_PATH',
  bodyLimit: 'BODY_LIMIT',
  logLevel: 'LOG_LEVEL',
  maxConnections: 'MAX_CONNECTIONS',
  bodyMemoryLimit: 'BODY_MEMORY_LIMIT',
  bodyTimeout: 'BODY_TIMEOUT_SECONDS',
  /** Slowest a body may arrive (bytes a second, averaged from the headers on) before it is cut with 408. */
  bodyMinRate: 'BODY_MIN_BYTES_PER_SECOND',
  shutdownDrain: 'SHUTDOWN_DRAIN_SECONDS',
  dataDir: 'DATA_DIR',
  databaseUrl: 'DATABASE_URL',
  store: 'STORE',
  quarantineRetentionDays: 'QUARANTINE_RETENTION_DAYS',
  eventRetentionDays: 'EVENT_RETENTION_DAYS',
  quarantineMaxRows: 'QUARANTINE_MAX_ROWS',
  storeTimeout: 'STORE_TIMEOUT_SECONDS',
  storeStartupTimeout: 'STORE_STARTUP_TIMEOUT_SECONDS',
  /** Bytes the quarantine may hold (bodies, headers, candidates); beyond it junk is evicted first. */
  quarantineMaxBytes: 'QUARANTINE_MAX_BYTES',
  /** Longest body one quarantine row keeps; a longer one is cut and marked truncated. */
  quarantineMaxBodyBytes: 'QUARANTINE_MAX_BODY_BYTES',
  /** Quarantine writes per second for deliveries that are not plausible (unknown portal or no Bitrix24-shaped token). */
  quarantineWritesPerSecond: 'QUARANTINE_WRITES_PER_SECOND',
  /** SQLite: free disk space under DATA_DIR below which the quarantine stops writing, kept for accepted events. */
  quarantineDiskReserve: 'QUARANTINE_DISK_RESERVE',
  forwardUrl: 'FORWARD_URL',
  forwardUrls: 'FORWARD_URLS',
  forwardSigningSecret: 'FORWARD_SIGNING_SECRET',
  forwardSigningSecretFile: 'FORWARD_SIGNING_SECRET_FILE',
  forwardFormat: 'FORWARD_FORMAT',
  forwardMaxAttempts: 'FORWARD_MAX_ATTEMPTS',
  forwardMaxAge: 'FORWARD_MAX_AGE_SECONDS',
  forwardTimeout: 'FORWARD_TIMEOUT_SECONDS',
  forwardBackoffBase: 'FORWARD_BACKOFF_BASE_SECONDS',
  forwardBackoffMax: 'FORWARD_BACKOFF_MAX_SECONDS',
  forwardConcurrency: 'FORWARD_CONCURRENCY',
  forwardRate: 'FORWARD_RATE_PER_SECOND',
  forwardPoll: 'FORWARD_POLL_SECONDS',
} as const;

export const CONFIG_ENV_NAMES: readonly string[] = Object.values(ENV);

/** Standard OpenTelemetry variables are read by the SDK itself; every one of them starts with this. */
export const OTEL_ENV_PREFIX = 'OTEL_';

/** Tracing knobs of this service (issue #12); the standard OTEL_TRACES_SAMPLER keeps its meaning besides. */
export const TRACING_ENV = {
  /** Share of accepted deliveries whose traces are exported (0…1); refused and failed ones always are. */
  tracesAcceptedRatio: 'BITRIX24_TRACES_ACCEPTED_RATIO',
  /** `service` (default): the service makes the HTTP server span; `instrumentation`: the http and koa instrumentations do. */
  tracesServerSpan: 'BITRIX24_TRACES_SERVER_SPAN',
} as const;
// Known names, so that the unknown-variable warning does not name them (kept apart from ENV to append only).
(CONFIG_ENV_NAMES as string[]).push(...Object.values(TRACING_ENV));

/** Recovery and the operator console (issue 19). */
export const ADMIN_ENV = {
  /** `on` (default): quarantined deliveries whose stored token digest matches a configured token are released at start-up. */
  quarantineAutoReplay: 'QUARANTINE_AUTO_REPLAY',
  /** Enables the operator console under /admin; without it every /admin path answers 404. */
  adminToken: 'ADMIN_TOKEN',
  adminTokenFile: 'ADMIN_TOKEN_FILE',
  /** Serve /admin, /metrics and the detailed /readyz on this port instead of the public one. */
  managementPort: 'MANAGEMENT_PORT',
  /** `on`: trust X-Forwarded-Proto from the proxy in front (the session cookie is then Secure behind HTTPS). */
  trustProxy: 'TRUST_PROXY',
  /** How long a console session lasts (default 8 hours). */
  adminSessionHours: 'ADMIN_SESSION_HOURS',
} as const;
(CONFIG_ENV_NAMES as string[]).push(...Object.values(ADMIN_ENV));
