import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Transport from 'winston-transport';
import { memoryExporter } from './tracing-setup';
import { loadConfig, type Env } from '../../src/config/load';
import { createApp } from '../../src/receive/app';
import type { AcceptedEvent } from '../../src/receive/sink';
import { createLogger } from '../../src/telemetry/logger';
import { createMetrics } from '../../src/telemetry/metrics';

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
  metricsText(accept?: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * The real app (createApp with the real config loader, metrics, logger) on a loopback port, in this
 * process, so spans land in the in-memory exporter and log lines in an array.
 */
export async function startHarness(env: Env, files: Record<string, string> = {}): Promise<Harness> {
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
  const server = http.createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  memoryExporter.reset();
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    logs: capture.lines,
    rawLogs: capture.raw,
    events,
    spans: memoryExporter,
    metricsText: async (accept) => (await metrics.render(accept)).body,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
