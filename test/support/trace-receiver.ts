import { OtlpReceiver } from './otlp-receiver';

/**
 * A local OTLP/HTTP receiver and the environment that makes the service export its traces to it. Trace ids
 * appear in log lines and exemplars only for exported traces, as in a deployment that exports them.
 */
export async function traceReceiver(): Promise<{ receiver: OtlpReceiver; env: Record<string, string> }> {
  const receiver = await new OtlpReceiver().start();
  return {
    receiver,
    env: {
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    },
  };
}
