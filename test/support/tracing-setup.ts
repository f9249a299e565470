// Loaded by mocha (.mocharc.json "require") before any test file, as the service's preload would be:
// the production telemetry set-up (outcome span processor included) with an in-memory exporter instead of the
// environment's exporters. Most tests read every trace, so the suite's policy is "export all"; the sampling
// tests set `outcome.policy` themselves and put it back with `exportEverything()`.
import * as tracing from '@opentelemetry/sdk-trace';
import { startTelemetry } from '../../src/telemetry/tracing';

export const memoryExporter = new tracing.InMemorySpanExporter();

/** The names of every SDK span started, exported or not (an unexported accepted delivery should start none). */
export const startedSpans: string[] = [];
const countStarts: tracing.SpanProcessor = {
  onStart: (span) => {
    startedSpans.push(span.name);
  },
  onEnd: () => undefined,
  forceFlush: async () => undefined,
  shutdown: async () => undefined,
};

export const telemetry = startTelemetry({
  env: {
    OTEL_TRACES_EXPORTER: 'none',
    OTEL_LOGS_EXPORTER: 'none',
    OTEL_TRACES_SAMPLER: 'always_on',
    // Not http: the tests' own outgoing requests (supertest, fetch) would become client spans whose injected
    // traceparent parents every server span. The process tests run the production set.
    OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'winston',
  },
  spanProcessors: [new tracing.SimpleSpanProcessor({ exporter: memoryExporter }), countStarts],
});

export const outcome = telemetry.outcome!;

export function exportEverything(): void {
  outcome.policy = { mode: 'all' };
}
