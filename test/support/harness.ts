import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Transport from 'winston-transport';
import { SpanKind } from '@opentelemetry/api';
import type { tracing } from '@opentelemetry/sdk-node';
import { memoryExporter, telemetry } from './tracing-setup';
import { loadConfig, type Env } from '../../src/config/load';
import { createApp } from '../../src/receive/app';
import type { AcceptedEvent } from '../../src/receive/sink';
import { createLogger } from '../../src/telemetry/logger';
import { createMetrics } from '../../src/telemetry/metrics';
import { guardConnections } from '../../src/serve/connection-guards';
import { serveTraced } from '../../src/telemetry/tracing';

export interface TracedDelivery {
  server: ReadableSpan;
  verify: ReadableSpan;
  extracts: ReadableSpan[];
  /** Every span of the delivery's trace. */
  all: ReadableSpan[];
}

export type LogLine = Record<string, unknown> & { level: string; message: string };

/** Captures what the logger would write to stdout, as the parsed JSON lines. */
class CaptureTransport extends Transport {
  readonly lines: LogLine[] = [];
  readonly raw: string[] = [];
  override log(info: Record<string | symbol, unknown>, callback: () => void): void {
    const text = String(info[Symbol.for('message')]);
    this.raw.push(text);
    this.lines.push(JSON.parse(text) as LogLine);
    callback();
  }
}

export interface Harness {
  url: string;
  server: http.Server;
  logs: LogLine[];
  rawLogs: string[];
  events: AcceptedEvent[];
  spans: typeof memoryExporter;
  /**
   * Waits until `count` deliveries have been traced completely (verify span and the HTTP server span that
   * holds it both exported: the server span ends after the answer is written) and returns them, oldest first.
   */
  tracedDeliveries(count?: number): Promise<TracedDelivery[]>;
  metricsText(accept?: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * The real app (createApp with the real config loader, metrics, logger) on a loopback port, in this
 * process, so spans land in the in-memory exporter and log lines in an array.
 */
export async function startHarness(env: Env, files: Record<string, string> = {}, serverOptions: http.ServerOptions = {}): Promise<Harness> {
  const config = loadConfig(env, (path) => {
    if (!(path in files)) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    return files[path]!;
  });
  const capture = new CaptureTransport();
  const logger = createLogger(config.logLevel, [capture]);
  const metrics = createMetrics({
    webhookNames: config.tokens.map(({ name }) => name),
    tokensConfigured: config.tokens.length,
    defaultMetrics: false,
  });
  const events: AcceptedEvent[] = [];
  const app = createApp({ config, metrics, logger, sink: (event) => void events.push(event) });
  // As main.ts serves it: the service's own server span around the app, Node's own answers counted.
  const server = http.createServer(serverOptions, serveTraced(app.callback(), telemetry.plan));
  guardConnections(server, metrics, logger, config.maxConnections);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  memoryExporter.reset();
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    logs: capture.lines,
    rawLogs: capture.raw,
    events,
    spans: memoryExporter,
    tracedDeliveries: (count = 1) => tracedDeliveries(count),
    metricsText: async (accept) => (await metrics.render(accept)).body,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

type ReadableSpan = tracing.ReadableSpan;

async function tracedDeliveries(count: number, timeoutMs = 5000): Promise<TracedDelivery[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const spans = memoryExporter.getFinishedSpans();
    const deliveries = spans
      .filter((span) => span.name === 'bitrix.token.verify')
      .map((verify) => {
        const all = spans.filter((span) => span.spanContext().traceId === verify.spanContext().traceId);
        return {
          verify,
          all,
          server: all.find((span) => span.kind === SpanKind.SERVER)!,
          extracts: all.filter((span) => span.name.startsWith('bitrix.token.extract.')),
        };
      })
      .filter((delivery) => delivery.server !== undefined);
    if (deliveries.length >= count) return deliveries;
    if (Date.now() > deadline) throw new Error(`expected ${count} traced deliveries, got ${deliveries.length} (${spans.length} spans)`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
