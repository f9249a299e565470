import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import Transport from 'winston-transport';
import { SpanKind } from '@opentelemetry/api';
import type * as tracing from '@opentelemetry/sdk-trace';
import { memoryExporter, telemetry } from './tracing-setup';
import type { Env } from '../../src/config/env';
import { loadConfig } from '../../src/config/load';
import { createApp } from '../../src/receive/app';
import { openStore } from '../../src/store/open';
import { STORE_DEFAULTS, STORE_FILE_NAME } from '../../src/store/config';
import type { NewEvent, Store } from '../../src/store/types';
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

/**
 * An accepted event as the webhook handed it to the store, with `data` as the store committed it (read back by
 * id): the store strips credential fields while it serialises, so what it was handed is not what is kept.
 */
export interface AcceptedEvent {
  webhook: string;
  event: string | undefined;
  eventHandlerId: string | undefined;
  ts: string | undefined;
  portal: { domain: string | undefined; memberId: string | undefined };
  data: unknown;
  receivedAt: Date;
}

export interface HarnessOptions {
  /** The store under the app; by default a fresh SQLite store in a temporary directory, closed with the harness. */
  store?: Store;
  /** Options of Node's HTTP server (timeouts). */
  serverOptions?: http.ServerOptions;
}

export interface Harness {
  /** The real store under the app. */
  store: Store;
  url: string;
  server: http.Server;
  logs: LogLine[];
  rawLogs: string[];
  /** Every event the store committed (as handed to it), in order: a view of the store's own writes. */
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
export async function startHarness(
  env: Env,
  files: Record<string, string> = {},
  options: HarnessOptions = {},
): Promise<Harness> {
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
  let dataDir: string | undefined;
  let store = options.store;
  if (!store) {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'harness-store-'));
    store = await openStore(
      { kind: 'sqlite', ...STORE_DEFAULTS, dataDir, file: path.join(dataDir, STORE_FILE_NAME) },
      { bodyLimitBytes: config.bodyLimitBytes },
    );
  }
  const real = store;
  // The real store, watched: an event is listed once the store has committed it.
  const watched: Store = Object.assign(Object.create(real) as Store, {
    saveAccepted: async (event: NewEvent) => {
      const id = await real.saveAccepted(event);
      const kept = await real.getEvent(id);
      events.push({
        webhook: event.webhook,
        event: event.event,
        eventHandlerId: event.eventHandlerId,
        ts: event.ts,
        portal: { domain: event.domain, memberId: event.memberId },
        data: kept === undefined ? event.data : kept.data,
        receivedAt: event.receivedAt,
      });
      return id;
    },
  });
  const app = createApp({ config, metrics, logger, store: watched });
  // As main.ts serves it: the service's own server span around the app, Node's own answers counted.
  const server = http.createServer(options.serverOptions ?? {}, serveTraced(app.callback(), telemetry.plan));
  guardConnections(server, metrics, logger, config.maxConnections);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  memoryExporter.reset();
  return {
    store: real,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    logs: capture.lines,
    rawLogs: capture.raw,
    events,
    spans: memoryExporter,
    tracedDeliveries: (count = 1) => tracedDeliveries(count),
    metricsText: async (accept) => (await metrics.render(accept)).body,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
      if (dataDir !== undefined) {
        await real.close();
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
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
    if (Date.now() > deadline)
      throw new Error(`expected ${count} traced deliveries, got ${deliveries.length} (${spans.length} spans)`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
