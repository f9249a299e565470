import client from 'prom-client';
import {
  DIAGNOSES,
  DIAGNOSIS_LABEL,
  EXEMPLAR_TRACE_ID_LABEL,
  METRIC,
  OTHER_EVENT,
  QUARANTINE_REASONS,
  REJECTION_REASONS,
  STORE_WRITE_KINDS,
  STORE_WRITE_RESULTS,
  TOKEN_SOURCES,
  UNKNOWN_WEBHOOK,
  VERIFICATION_RESULTS,
  VERIFICATION_SOURCES,
  type Diagnosis,
  type QuarantineReason,
  QUARANTINE_DROP_REASONS,
  type QuarantineDropReason,
  type StoreWriteKind,
  type StoreWriteResult,
  type RejectionReason,
  type TokenSource,
  type VerificationResult,
  type VerificationSource,
} from './names';
import { linkableTraceId } from './trace-links';
import { registerTracingMetrics } from './tracing-metrics';

export const EVENT_NAME_PATTERN = /^ON[A-Z0-9_]{1,64}$/;
export const MAX_DISTINCT_EVENTS = 200;
const HTTP_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
/** Buckets for a handler that should answer in milliseconds; the upper ones catch a stalled event loop. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const MISNAMED_DEFAULT_GAUGES = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

export interface RenderedMetrics {
  contentType: string;
  body: string;
}

/** Longest wait for the store's quarantine counts during a scrape. */
const QUARANTINE_SIZE_READ_MS = 250;

/**
 * Sets a gauge from a store read during a scrape. /metrics answers promptly whatever the store does: a read
 * that takes longer than QUARANTINE_SIZE_READ_MS, or fails, keeps the last value (the store-write counters and
 * their alerts say why).
 */
async function collectFromStore(gauge: client.Gauge, read: (() => Promise<number>) | undefined): Promise<void> {
  if (!read) return;
  try {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), QUARANTINE_SIZE_READ_MS)));
    const value = await Promise.race([read(), late]).finally(() => clearTimeout(timer));
    if (value !== undefined) gauge.set(value);
  } catch {
    // The store is unreachable: keep the last value.
  }
}

export interface ServiceMetrics {
  recordExtraction(source: TokenSource, found: boolean): void;
  recordVerification(result: VerificationResult, source: VerificationSource, webhook: string, traceId?: string): void;
  recordRejection(reason: RejectionReason): void;
  /** Every refused delivery, whatever its stage, by its diagnosis. */
  recordDiagnosis(diagnosis: Diagnosis): void;
  recordAcceptedEvent(event: unknown, webhook: string): void;
  observeRequest(method: string, route: string, statusCode: number, seconds: number, traceId?: string): void;
  recordStoreWrite(kind: StoreWriteKind, result: StoreWriteResult): void;
  /** A store operation past STORE_TIMEOUT_SECONDS. */
  recordStoreTimeout(): void;
  /** The store's health as /readyz reports it. */
  setStoreUp(up: boolean): void;
  recordQuarantined(reason: QuarantineReason): void;
  /** Rows a quarantine eviction run deleted, and of them the plausible deliveries not yet released. */
  recordQuarantineEvictions(count: number, plausible?: number): void;
  recordQuarantineDropped(reason: QuarantineDropReason): void;
  /** Where the quarantine-size gauge reads from on each scrape (the store); 0 until set. */
  setQuarantineSizeSource(read: () => Promise<number>): void;
  /** Where bitrix_webhook_quarantine_pending is read from on each scrape (the store, shared by every process). */
  setQuarantinePendingSource(read: () => Promise<number>): void;
  /** Prometheus text, or OpenMetrics with exemplars when the Accept header asks for it. */
  render(accept: string | undefined): Promise<RenderedMetrics>;
}

export interface MetricsOptions {
  /** Names of the configured tokens: the only values the `webhook` label can take besides `unknown`. */
  webhookNames: readonly string[];
  tokensConfigured: number;
  /** prom-client's process and Node.js metrics; off only where several instances share a process. */
  defaultMetrics?: boolean;
  /** Registers more metrics (e.g. forwarding's) in the service's registry, before it is rendered. */
  register?: (registry: client.Registry) => void;
}

export function createMetrics(options: MetricsOptions): ServiceMetrics {
  // Exemplars exist only in OpenMetrics, and prom-client allows them only on an OpenMetrics registry, so the
  // metrics live in one and a second registry holding the same objects renders the plain text format.
  const openMetrics = new client.Registry<client.OpenMetricsContentType>();
  openMetrics.setContentType(client.Registry.OPENMETRICS_CONTENT_TYPE);
  const registers = [openMetrics];

  const verifications = new client.Counter({
    name: METRIC.verifications,
    help: 'Webhook token verifications by result, the source that held the deciding token, and the matched token name.',
    labelNames: ['result', 'source', 'webhook'] as const,
    enableExemplars: true,
    registers,
  });
  const extractions = new client.Counter({
    name: METRIC.extractions,
    help: 'Token look-ups per source, and whether the source held a token.',
    labelNames: ['source', 'found'] as const,
    registers,
  });
  const rejected = new client.Counter({
    name: METRIC.requestsRejected,
    help: 'Webhook requests rejected before or instead of token verification, by reason.',
    labelNames: ['reason'] as const,
    registers,
  });
  const diagnoses = new client.Counter({
    name: METRIC.rejectionsByDiagnosis,
    help: 'Refused deliveries, whatever the stage that refused them, by the likely cause (docs/runbooks.md#diagnosis-<value>).',
    labelNames: [DIAGNOSIS_LABEL] as const,
    registers,
  });
  const tokensConfigured = new client.Gauge({
    name: METRIC.tokensConfigured,
    help: 'Number of webhook tokens configured; 0 means every delivery is refused.',
    registers,
  });
  const events = new client.Counter({
    name: METRIC.events,
    help: `Accepted events by event code (codes outside ON[A-Z0-9_] and beyond the first ${MAX_DISTINCT_EVENTS} count as "${OTHER_EVENT}").`,
    labelNames: ['event'] as const,
    registers,
  });
  const lastAccepted = new client.Gauge({
    name: METRIC.lastAcceptedTimestamp,
    help: 'Unix time of the last accepted delivery per webhook token name.',
    labelNames: ['webhook'] as const,
    registers,
  });
  const duration = new client.Histogram({
    name: METRIC.httpRequestDuration,
    help: 'HTTP request duration in seconds by method, matched route and status code.',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: DURATION_BUCKETS,
    enableExemplars: true,
    registers,
  });
  const storeWrites = new client.Counter({
    name: METRIC.storeWrites,
    help: 'Writes to the store by kind (accepted event or quarantined delivery) and result.',
    labelNames: ['kind', 'result'] as const,
    registers,
  });
  const storeTimeouts = new client.Counter({
    name: METRIC.storeTimeouts,
    help: 'Store operations that took longer than STORE_TIMEOUT_SECONDS (connect, pool wait, statement or lock wait).',
    registers,
  });
  const storeUp = new client.Gauge({
    name: METRIC.storeUp,
    help: '1 while store operations succeed, 0 while they fail or time out (then /readyz is not ready).',
    registers,
  });
  const quarantined = new client.Counter({
    name: METRIC.quarantined,
    help: 'Refused deliveries kept in quarantine, by the reason they were refused.',
    labelNames: ['reason'] as const,
    registers,
  });
  const evictions = new client.Counter({
    name: METRIC.quarantineEvictions,
    help: 'Quarantined deliveries deleted because the quarantine reached QUARANTINE_MAX_ROWS or QUARANTINE_MAX_BYTES (released, then junk, then plausible; oldest first).',
    registers,
  });
  const plausibleEvictions = new client.Counter({
    name: METRIC.quarantinePlausibleEvictions,
    help: 'Plausible quarantined deliveries (known portal, Bitrix24-shaped token, not released) evicted by the quarantine budgets: each may be a genuine event lost.',
    registers,
  });
  const dropped = new client.Counter({
    name: METRIC.quarantineDropped,
    help: 'Refused deliveries counted and logged but not written to the quarantine, by reason (write_budget, disk_reserve).',
    labelNames: ['reason'] as const,
    registers,
  });
  let readQuarantineSize: (() => Promise<number>) | undefined;
  new client.Gauge({
    name: METRIC.quarantineSize,
    help: 'Quarantined deliveries in the store (released ones too, until purged or expired).',
    registers,
    async collect() {
      await collectFromStore(this, readQuarantineSize);
    },
  }).set(0);
  let readQuarantinePending: (() => Promise<number>) | undefined;
  new client.Gauge({
    name: METRIC.quarantinePending,
    help: 'Quarantined deliveries not yet released, read from the store on each scrape (replays by the CLI or another replica show).',
    registers,
    async collect() {
      await collectFromStore(this, readQuarantinePending);
    },
  }).set(0);
  if (options.defaultMetrics !== false) {
    client.collectDefaultMetrics({ register: openMetrics });
    // Gauges that prom-client names *_total, which Prometheus' linter (promtool check metrics) rejects.
    for (const name of MISNAMED_DEFAULT_GAUGES) openMetrics.removeSingleMetric(name);
  }
  registerTracingMetrics(registers);

  options.register?.(openMetrics as unknown as client.Registry);

  const text = new client.Registry();
  const counterNames = new Map<{ name: string }, string>();
  for (const metric of openMetrics.getMetricsAsArray() as unknown as Array<client.Metric & { name: string; type: string }>) {
    text.registerMetric(metric);
    if (metric.type === 'counter') counterNames.set(metric, metric.name);
  }

  tokensConfigured.set(options.tokensConfigured);
  const webhookNames = options.webhookNames.length > 0 ? [...new Set(options.webhookNames)] : [UNKNOWN_WEBHOOK];
  for (const result of VERIFICATION_RESULTS) {
    for (const source of VERIFICATION_SOURCES) {
      const names = result === 'accepted' && source !== 'none' ? webhookNames : [UNKNOWN_WEBHOOK];
      for (const webhook of names) verifications.inc({ labels: { result, source, webhook }, value: 0 });
    }
  }
  for (const source of TOKEN_SOURCES) {
    for (const found of ['true', 'false']) extractions.inc({ source, found }, 0);
  }
  for (const reason of REJECTION_REASONS) rejected.inc({ reason }, 0);
  for (const diagnosis of DIAGNOSES) diagnoses.inc({ [DIAGNOSIS_LABEL]: diagnosis }, 0);
  for (const kind of STORE_WRITE_KINDS) for (const result of STORE_WRITE_RESULTS) storeWrites.inc({ kind, result }, 0);
  for (const reason of QUARANTINE_REASONS) quarantined.inc({ reason }, 0);
  evictions.inc(0);
  storeTimeouts.inc(0);
  storeUp.set(1);
  plausibleEvictions.inc(0);
  for (const reason of QUARANTINE_DROP_REASONS) dropped.inc({ reason }, 0);

  const seenEvents = new Set<string>();
  const eventLabel = (event: unknown): string => {
    if (typeof event !== 'string' || !EVENT_NAME_PATTERN.test(event)) return OTHER_EVENT;
    if (seenEvents.has(event)) return event;
    if (seenEvents.size >= MAX_DISTINCT_EVENTS) return OTHER_EVENT;
    seenEvents.add(event);
    return event;
  };
  // prom-client's types wrongly demand that exemplar labels be among the metric's own label names.
  // No link to a trace that is not exported: then no exemplar at all (prom-client keeps the series' last one).
  const exemplar = (traceId: string | undefined) => (linkableTraceId(traceId) ? { [EXEMPLAR_TRACE_ID_LABEL]: traceId } : undefined) as unknown as Record<string, never>;

  return {
    recordExtraction(source, found) {
      extractions.inc({ source, found: String(found) });
    },
    recordVerification(result, source, webhook, traceId) {
      verifications.inc({ labels: { result, source, webhook }, value: 1, exemplarLabels: exemplar(traceId) });
    },
    recordDiagnosis(diagnosis) {
      diagnoses.inc({ [DIAGNOSIS_LABEL]: diagnosis });
    },
    recordRejection(reason) {
      rejected.inc({ reason });
    },
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
    recordStoreWrite(kind, result) {
      storeWrites.inc({ kind, result });
    },
    recordStoreTimeout() {
      storeTimeouts.inc();
    },
    setStoreUp(up) {
      storeUp.set(up ? 1 : 0);
    },
    recordQuarantined(reason) {
      quarantined.inc({ reason });
    },
    recordQuarantineEvictions(count, plausible = 0) {
      if (count > 0) evictions.inc(count);
      if (plausible > 0) plausibleEvictions.inc(plausible);
    },
    recordQuarantineDropped(reason) {
      dropped.inc({ reason });
    },
    setQuarantinePendingSource(read) {
      readQuarantinePending = read;
    },
    setQuarantineSizeSource(read) {
      readQuarantineSize = read;
    },
    async render(accept) {
      if (accept?.includes('application/openmetrics-text')) {
        return { contentType: openMetrics.contentType, body: await openMetrics.metrics() };
      }
      // Rendering OpenMetrics strips `_total` from counter names in place; the text format needs it back.
      for (const [metric, name] of counterNames) metric.name = name;
      return { contentType: text.contentType, body: await text.metrics() };
    },
  };
}
