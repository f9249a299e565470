// Loaded by mocha (.mocharc.json "require") before any test file, as the service's preload would be:
// the production telemetry set-up with an in-memory exporter instead of the environment's exporters.
import { tracing } from '@opentelemetry/sdk-node';
import { startTelemetry } from '../../src/telemetry/tracing';

export const memoryExporter = new tracing.InMemorySpanExporter();

startTelemetry({
  env: { OTEL_TRACES_EXPORTER: 'none', OTEL_LOGS_EXPORTER: 'none' },
  spanProcessors: [new tracing.SimpleSpanProcessor(memoryExporter)],
});
