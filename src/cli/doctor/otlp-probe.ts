import net from 'node:net';
import type { Check } from '../../checklist/checks';
import type { Env } from '../../config/env';

type Signal = 'traces' | 'logs';

export interface OtlpTarget {
  signals: Signal[];
  protocol: string;
  url: string;
}

/** Where the service's OTLP exporters send, as the OpenTelemetry SDK reads the standard variables. */
export function otlpTargets(env: Env, exported: Record<Signal, boolean>): OtlpTarget[] {
  const targets: OtlpTarget[] = [];
  for (const signal of ['traces', 'logs'] as const) {
    if (!exported[signal]) continue;
    const upper = signal.toUpperCase();
    const exporters = (env[`OTEL_${upper}_EXPORTER`]?.trim() || 'otlp').split(',').map((name) => name.trim());
    if (!exporters.includes('otlp')) continue;
    const protocol =
      env[`OTEL_EXPORTER_OTLP_${upper}_PROTOCOL`]?.trim() || env.OTEL_EXPORTER_OTLP_PROTOCOL?.trim() || 'http/protobuf';
    const grpc = protocol === 'grpc';
    const own = env[`OTEL_EXPORTER_OTLP_${upper}_ENDPOINT`]?.trim();
    const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || (grpc ? 'http://localhost:4317' : 'http://localhost:4318');
    const url = own || (grpc ? base : `${base.replace(/\/+$/, '')}/v1/${signal}`);
    const same = targets.find((target) => target.url === url && target.protocol === protocol);
    if (same) same.signals.push(signal);
    else targets.push({ signals: [signal], protocol, url });
  }
  return targets;
}

/** Whether the endpoint answers: an empty OTLP export over HTTP (valid, and harmless), a TCP connect for gRPC. */
export async function probeOtlp(target: OtlpTarget, timeoutMs: number): Promise<Check> {
  const check = `OTLP ${target.signals.join('+')} endpoint`;
  const where = `${target.url} (${target.protocol})`;
  try {
    if (target.protocol === 'grpc') {
      await connect(target.url, timeoutMs);
      return { check, status: 'ok', detail: `${where} accepts connections` };
    }
    const json = target.protocol === 'http/json';
    const response = await fetch(target.url, {
      method: 'POST',
      headers: { 'content-type': json ? 'application/json' : 'application/x-protobuf' },
      body: json ? '{}' : new Uint8Array(0),
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.arrayBuffer().catch(() => undefined);
    if (response.ok) return { check, status: 'ok', detail: `${where} answers (HTTP ${response.status})` };
    return {
      check,
      status: 'warn',
      detail: `${where} answers HTTP ${response.status} to an empty export`,
      likely: 'something answers there, but not an OTLP receiver taking this path and protocol',
    };
  } catch (error) {
    return {
      check,
      status: 'fail',
      detail: `${where} does not answer: ${describeError(error, timeoutMs)}`,
      likely: 'no collector listens there: traces and logs are being dropped (check OTEL_EXPORTER_OTLP_ENDPOINT)',
    };
  }
}

export function describeError(error: unknown, timeoutMs: number): string {
  const failure = error as {
    name?: string;
    code?: string;
    message?: string;
    cause?: { code?: string; message?: string };
  };
  if (failure.name === 'TimeoutError') return `no answer within ${timeoutMs} ms`;
  return failure.cause?.code ?? failure.code ?? failure.cause?.message ?? failure.message ?? String(error);
}

function connect(endpoint: string, timeoutMs: number): Promise<void> {
  const parsed = new URL(/^[a-z]+:\/\//i.test(endpoint) ? endpoint : `http://${endpoint}`);
  const port = Number(parsed.port || (parsed.protocol === 'https:' ? 443 : 80));
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: parsed.hostname.replace(/^\[|\]$/g, ''), port });
    const timer = setTimeout(
      () => socket.destroy(Object.assign(new Error('timeout'), { name: 'TimeoutError' })),
      timeoutMs,
    );
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.end();
      resolve();
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}
