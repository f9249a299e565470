import { diag } from '@opentelemetry/api';
import { OTLPTraceExporter as OtlpGrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as OtlpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import type { Env } from '../config/env';

/**
 * The span processors OTEL_TRACES_EXPORTER asks for, built as the SDK builds them when it is given none, so
 * that the outcome processor can wrap them: `otlp` (the default; its protocol from
 * OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, then OTEL_EXPORTER_OTLP_PROTOCOL, then http/protobuf) and `console`;
 * `none` alone exports nothing. Each exporter reads its own OTEL_EXPORTER_OTLP_* settings and each batch
 * processor its OTEL_BSP_* settings.
 */
export function spanProcessorsFromEnv(env: Env): SpanProcessor[] {
  const names = [
    ...new Set(
      (env.OTEL_TRACES_EXPORTER ?? '')
        .split(',')
        .map((name) => name.trim())
        .filter((name) => name !== '' && name !== 'null'),
    ),
  ];
  if (names.length === 1 && names[0] === 'none') return [];
  const wanted = names.length === 0 || names.includes('none') ? ['otlp'] : names;
  const processors: SpanProcessor[] = [];
  for (const name of wanted) {
    if (name === 'console') processors.push(new SimpleSpanProcessor({ exporter: new ConsoleSpanExporter() }));
    else if (name === 'otlp')
      processors.push(new BatchSpanProcessor({ exporter: otlpExporter(env), ...batchSettings(env) }));
    else diag.warn(`Unrecognized OTEL_TRACES_EXPORTER value: ${name}.`);
  }
  return processors;
}

function otlpExporter(env: Env): SpanExporter {
  const protocol =
    env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL?.trim() || env.OTEL_EXPORTER_OTLP_PROTOCOL?.trim() || 'http/protobuf';
  if (protocol === 'grpc') return new OtlpGrpcExporter();
  if (protocol === 'http/json') return new OtlpJsonExporter();
  if (protocol !== 'http/protobuf') diag.warn(`Unsupported OTLP traces protocol: ${protocol}. Using http/protobuf.`);
  return new OtlpProtobufExporter();
}

/** The standard OTEL_BSP_* settings; one that is not a positive whole number keeps the processor's default. */
function batchSettings(env: Env): {
  scheduledDelayMillis?: number;
  exportTimeoutMillis?: number;
  maxQueueSize?: number;
  maxExportBatchSize?: number;
} {
  const read = (name: string): number | undefined => {
    const value = Number(env[name]?.trim() || Number.NaN);
    return Number.isInteger(value) && value > 0 ? value : undefined;
  };
  const settings = {
    scheduledDelayMillis: read('OTEL_BSP_SCHEDULE_DELAY'),
    exportTimeoutMillis: read('OTEL_BSP_EXPORT_TIMEOUT'),
    maxQueueSize: read('OTEL_BSP_MAX_QUEUE_SIZE'),
    maxExportBatchSize: read('OTEL_BSP_MAX_EXPORT_BATCH_SIZE'),
  };
  return Object.fromEntries(Object.entries(settings).filter(([, value]) => value !== undefined));
}
