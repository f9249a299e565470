import type { IncomingMessage, RequestListener, RequestOptions } from 'node:http';
import { getNodeAutoInstrumentations } from '@opentelemetry/auto-instrumentations-node';
import { NodeSDK, type NodeSDKConfiguration } from '@opentelemetry/sdk-node';
import * as tracing from '@opentelemetry/sdk-trace';
import { KoaLayerType } from '@opentelemetry/instrumentation-koa';
import { TRACING_ENV } from '../vocabulary/env-names';
import { boundText } from './bound-text';
import { setLogRecordsExported } from './log-export';
import { DEFAULT_SERVICE_NAME } from '../vocabulary/names';
import { OutcomeSpanProcessor } from './outcome-processor';
import { outgoingUrlAttributes, requestOptionsUrl } from './outgoing-url';
import { redactQueryValues } from './redact';
import { spanProcessorsFromEnv } from './trace-exporters';
import { describePolicy, samplingPolicy, type SamplingPolicy } from './sampling';
import { RequestIdGenerator } from './request-ids';
import { RequestTracer } from './request-tracer';
import { UNTRACED_PATHS, setRequestTracer, traceRequests } from './server-span';
import { setExportDecider } from './trace-links';
import { setDroppedSpanCounts } from './tracing-metrics';
import type { Env } from '../config/env';

/**
 * Only what this service needs: outgoing HTTP (http for the forwarder, undici for fetch), the database
 * client, logs joined to traces. The service makes the HTTP server span itself (server-span.ts).
 */
export const DEFAULT_INSTRUMENTATIONS = 'http,undici,pg,winston';
/** The old path, kept for comparison (BITRIX24_TRACES_SERVER_SPAN=instrumentation): the http and koa instrumentations make the server and router spans. */
export const INSTRUMENTED_SERVER_INSTRUMENTATIONS = 'http,koa,undici,pg,winston';

/** Who makes the HTTP server span: the service (default) or the http and koa instrumentations. */
export type ServerSpanMaker = 'service' | 'instrumentation';

export function serverSpanMaker(env: Env): ServerSpanMaker {
  return env[TRACING_ENV.tracesServerSpan]?.trim().toLowerCase() === 'instrumentation' ? 'instrumentation' : 'service';
}

export interface ExportPlan {
  disabled: boolean;
  traces: boolean;
  logs: boolean;
  /** What is exported (decided by outcome, see sampling.ts). */
  policy: SamplingPolicy;
  serverSpan: ServerSpanMaker;
  /** Variables set to values the tracing set-up does not use. */
  warnings: string[];
  /** One line for the start-up log: where traces and logs go. */
  description: string;
}

/**
 * Traces are always created (log lines and exemplars carry their ids); they and the logs are exported only
 * when the standard variables ask for it: an OTEL_*_EXPORTER other than none, or an OTLP endpoint.
 */
export function exportPlan(env: Env): ExportPlan {
  const disabled = /^true$/i.test(env.OTEL_SDK_DISABLED?.trim() ?? '');
  const wanted = (signal: 'TRACES' | 'LOGS'): boolean => {
    const exporters = env[`OTEL_${signal}_EXPORTER`]?.trim();
    if (exporters) return !exporters.split(',').every((name) => name.trim() === 'none');
    return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || env[`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`]?.trim());
  };
  const traces = !disabled && wanted('TRACES');
  const logs = !disabled && wanted('LOGS');
  const destination = (signal: 'TRACES' | 'LOGS', on: boolean): string => {
    if (!on) return 'not exported';
    const exporter = env[`OTEL_${signal}_EXPORTER`]?.trim() || 'otlp';
    const endpoint =
      env[`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`]?.trim() ||
      env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() ||
      'default endpoint';
    const protocol =
      env[`OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`]?.trim() ||
      env.OTEL_EXPORTER_OTLP_PROTOCOL?.trim() ||
      'http/protobuf';
    return exporter === 'otlp' ? `otlp ${protocol} to ${endpoint}` : exporter;
  };
  const { policy, warnings } = samplingPolicy(env);
  const description = disabled
    ? 'OpenTelemetry SDK disabled (OTEL_SDK_DISABLED): no traces, no trace ids in logs'
    : `traces: ${destination('TRACES', traces)}${traces ? `, ${describePolicy(policy)}` : ''}; logs: ${destination('LOGS', logs)}` +
      (traces || logs ? '' : ' (set OTEL_EXPORTER_OTLP_ENDPOINT to export)') +
      warnings.map((warning) => `; ${warning}`).join('');
  return { disabled, traces, logs, policy, serverSpan: serverSpanMaker(env), warnings, description };
}

export interface TelemetryOptions {
  env: Env;
  /** Replaces the exporting span processors chosen from the environment (tests use an in-memory exporter). */
  spanProcessors?: tracing.SpanProcessor[];
}

export interface Telemetry {
  plan: ExportPlan;
  /** Holds each trace until its outcome is known; its `policy` may be changed at run time (tests do). */
  outcome: OutcomeSpanProcessor | undefined;
  shutdown(): Promise<void>;
}

export function startTelemetry({ env, spanProcessors }: TelemetryOptions): Telemetry {
  const plan = exportPlan(env);
  const configuration: Partial<NodeSDKConfiguration> = {
    // Instrumentations patch modules as soon as they are constructed: none at all when the SDK is disabled.
    instrumentations: plan.disabled ? [] : [instrumentations(env, plan)],
    // The service's metrics are prom-client's, scraped from /metrics; no OpenTelemetry metrics pipeline.
    metricReaders: [],
  };
  if (!env.OTEL_SERVICE_NAME && !/(^|,)\s*service\.name=/.test(env.OTEL_RESOURCE_ATTRIBUTES ?? '')) {
    configuration.serviceName = DEFAULT_SERVICE_NAME;
  }
  // A no-op processor still makes the SDK install a tracer provider: spans and trace ids, nothing sent.
  const exporting = spanProcessors ?? (plan.traces ? spanProcessorsFromEnv(env) : [new tracing.NoopSpanProcessor()]);
  const outcome = plan.disabled ? undefined : new OutcomeSpanProcessor(exporting, plan.policy);
  configuration.spanProcessors = outcome ? [outcome] : exporting;
  // Every span is recorded (its outcome decides later); always_off records none, and the ids stay valid.
  if (outcome) configuration.sampler = new OutcomeSampler(outcome);
  // Request spans are recorded as data with ids chosen up front; an exported one is built with those ids.
  const ids = new RequestIdGenerator();
  configuration.idGenerator = ids;
  if (!plan.logs) configuration.logRecordProcessors = [];
  const sdk = new NodeSDK(configuration);
  sdk.start();
  // Traces that go nowhere are not linked from logs or exemplars either.
  setExportDecider(spanProcessors || plan.traces ? outcome : NOTHING_EXPORTED);
  setDroppedSpanCounts(outcome?.dropped);
  setRequestTracer(outcome ? new RequestTracer(outcome, ids) : undefined);
  setLogRecordsExported(plan.logs);
  return { plan, outcome, shutdown: () => sdk.shutdown() };
}

const NOTHING_EXPORTED = { exported: () => false };

/** Records every span unless the policy exports nothing; an incoming `traceparent` sets the trace id either way. */
class OutcomeSampler implements tracing.Sampler {
  constructor(private readonly outcome: OutcomeSpanProcessor) {}
  shouldSample(): tracing.SamplingResult {
    return {
      decision:
        this.outcome.policy.mode === 'none'
          ? tracing.SamplingDecision.NOT_RECORD
          : tracing.SamplingDecision.RECORD_AND_SAMPLED,
    };
  }
  toString(): string {
    return 'OutcomeSampler';
  }
}

/**
 * Overrides the HTTP server span's client-chosen attributes before the span starts: the query with every value
 * redacted (any of them may hold a token, whatever its name's case, brackets or encoding), path and user agent
 * bounded and without control characters.
 */
export function incomingRequestAttributes(request: IncomingMessage): Record<string, string> {
  const url = request.url ?? '';
  const question = url.indexOf('?');
  const attributes: Record<string, string> = {
    'url.path': boundText(question < 0 ? url : url.slice(0, question), MAX_PATH),
  };
  if (question >= 0) attributes['url.query'] = boundText(redactQueryValues(url.slice(question + 1)), MAX_QUERY);
  const userAgent = request.headers['user-agent'];
  if (userAgent !== undefined) attributes['user_agent.original'] = boundText(userAgent, MAX_USER_AGENT);
  return attributes;
}

const MAX_PATH = 256;
const MAX_QUERY = 512;
const MAX_USER_AGENT = 256;

function instrumentations(env: Env, plan: ExportPlan) {
  const sendLogs = plan.logs;
  const ownServerSpan = plan.serverSpan === 'service';
  const config = {
    '@opentelemetry/instrumentation-http': {
      // The service makes the server span itself unless asked for the old path; outgoing requests are traced.
      disableIncomingRequestInstrumentation: ownServerSpan,
      ignoreIncomingRequestHook: (request: IncomingMessage) => UNTRACED_PATHS.has((request.url ?? '').split('?')[0]!),
      // Its own redaction (exact names only) is replaced by incomingRequestAttributes: every value redacted.
      redactedQueryParamsServer: [],
      startIncomingSpanHook: incomingRequestAttributes,
      // Every query value of an outgoing URL redacted too (a forward URL may carry a token).
      startOutgoingSpanHook: (options: RequestOptions) => outgoingUrlAttributes(requestOptionsUrl(options)),
    },
    '@opentelemetry/instrumentation-undici': {
      startSpanHook: (request: { origin: string; path: string }) =>
        outgoingUrlAttributes(`${request.origin}${request.path}`),
    },
    '@opentelemetry/instrumentation-koa': {
      // One span per middleware would multiply the spans of every request for no insight.
      ignoreLayersType: [KoaLayerType.MIDDLEWARE],
    },
    '@opentelemetry/instrumentation-winston': {
      // logger.ts adds trace_id/span_id itself, so lines carry them with or without this instrumentation.
      disableLogCorrelation: true,
      disableLogSending: !sendLogs,
    },
  };
  // The package's own switch, honoured when the operator sets it; otherwise only what this service needs.
  const previous = process.env.OTEL_NODE_ENABLED_INSTRUMENTATIONS;
  process.env.OTEL_NODE_ENABLED_INSTRUMENTATIONS =
    env.OTEL_NODE_ENABLED_INSTRUMENTATIONS ||
    (ownServerSpan ? DEFAULT_INSTRUMENTATIONS : INSTRUMENTED_SERVER_INSTRUMENTATIONS);
  try {
    return getNodeAutoInstrumentations(config);
  } finally {
    if (previous === undefined) delete process.env.OTEL_NODE_ENABLED_INSTRUMENTATIONS;
    else process.env.OTEL_NODE_ENABLED_INSTRUMENTATIONS = previous;
  }
}

/**
 * The request listener the server runs: wrapped in the service's own server span, or as it is when the http
 * instrumentation makes that span (BITRIX24_TRACES_SERVER_SPAN=instrumentation) or the SDK is off.
 */
export function serveTraced(listener: RequestListener, plan: ExportPlan = exportPlan(process.env)): RequestListener {
  return plan.disabled || plan.serverSpan === 'instrumentation' ? listener : traceRequests(listener);
}
