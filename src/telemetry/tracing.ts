import type { IncomingMessage } from 'node:http';
import { getNodeAutoInstrumentations } from '@opentelemetry/auto-instrumentations-node';
import { NodeSDK, tracing, type NodeSDKConfiguration } from '@opentelemetry/sdk-node';
import { boundText } from './bound-text';
import { DEFAULT_SERVICE_NAME } from './names';
import { redactQueryValues } from './redact';

type Env = Record<string, string | undefined>;

/** Only what this service needs: the HTTP server span, the router span, and logs joined to traces. */
export const DEFAULT_INSTRUMENTATIONS = 'http,koa,winston';
/** Requests that are not deliveries: tracing them only adds noise to the trace store. */
const UNTRACED_PATHS = new Set(['/metrics', '/healthz', '/readyz']);

export interface ExportPlan {
  disabled: boolean;
  traces: boolean;
  logs: boolean;
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
    const endpoint = env[`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`]?.trim() || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || 'default endpoint';
    const protocol = env[`OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`]?.trim() || env.OTEL_EXPORTER_OTLP_PROTOCOL?.trim() || 'http/protobuf';
    return exporter === 'otlp' ? `otlp ${protocol} to ${endpoint}` : exporter;
  };
  const description = disabled
    ? 'OpenTelemetry SDK disabled (OTEL_SDK_DISABLED): no traces, no trace ids in logs'
    : `traces: ${destination('TRACES', traces)}; logs: ${destination('LOGS', logs)}` +
      (traces || logs ? '' : ' (set OTEL_EXPORTER_OTLP_ENDPOINT to export)');
  return { disabled, traces, logs, description };
}

export interface TelemetryOptions {
  env: Env;
  /** Replaces the span processors chosen from the environment (tests use an in-memory exporter). */
  spanProcessors?: tracing.SpanProcessor[];
}

export interface Telemetry {
  plan: ExportPlan;
  shutdown(): Promise<void>;
}

export function startTelemetry({ env, spanProcessors }: TelemetryOptions): Telemetry {
  const plan = exportPlan(env);
  const configuration: Partial<NodeSDKConfiguration> = {
    // Instrumentations patch modules as soon as they are constructed: none at all when the SDK is disabled.
    instrumentations: plan.disabled ? [] : [instrumentations(env, plan.logs)],
    // The service's metrics are prom-client's, scraped from /metrics; no OpenTelemetry metrics pipeline.
    metricReaders: [],
  };
  if (!env.OTEL_SERVICE_NAME && !/(^|,)\s*service\.name=/.test(env.OTEL_RESOURCE_ATTRIBUTES ?? '')) {
    configuration.serviceName = DEFAULT_SERVICE_NAME;
  }
  if (spanProcessors) configuration.spanProcessors = spanProcessors;
  // A no-op processor still makes the SDK install a tracer provider: spans and trace ids, nothing sent.
  else if (!plan.traces) configuration.spanProcessors = [new tracing.NoopSpanProcessor()];
  if (!plan.logs) configuration.logRecordProcessors = [];
  const sdk = new NodeSDK(configuration);
  sdk.start();
  return { plan, shutdown: () => sdk.shutdown() };
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

function instrumentations(env: Env, sendLogs: boolean) {
  const config = {
    '@opentelemetry/instrumentation-http': {
      ignoreIncomingRequestHook: (request: IncomingMessage) => UNTRACED_PATHS.has((request.url ?? '').split('?')[0]!),
      disableOutgoingRequestInstrumentation: true,
      // Its own redaction (exact names only) is replaced by incomingRequestAttributes: every value redacted.
      redactedQueryParamsServer: [],
      startIncomingSpanHook: incomingRequestAttributes,
    },
    '@opentelemetry/instrumentation-koa': {
      // One span per middleware would multiply the spans of every request for no insight.
      ignoreLayersType: ['middleware' as never],
    },
    '@opentelemetry/instrumentation-winston': {
      // logger.ts adds trace_id/span_id itself, so lines carry them with or without this instrumentation.
      disableLogCorrelation: true,
      disableLogSending: !sendLogs,
    },
  };
  // The package's own switch, honoured when the operator sets it; otherwise only what this service needs.
  const previous = process.env.OTEL_NODE_ENABLED_INSTRUMENTATIONS;
  process.env.OTEL_NODE_ENABLED_INSTRUMENTATIONS = env.OTEL_NODE_ENABLED_INSTRUMENTATIONS || DEFAULT_INSTRUMENTATIONS;
  try {
    return getNodeAutoInstrumentations(config);
  } finally {
    if (previous === undefined) delete process.env.OTEL_NODE_ENABLED_INSTRUMENTATIONS;
    else process.env.OTEL_NODE_ENABLED_INSTRUMENTATIONS = previous;
  }
}
