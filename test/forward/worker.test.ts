import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import client from 'prom-client';
import Transport from 'winston-transport';
import { parseForwardConfig, type ForwardConfig } from '../../src/forward/config';
import { registerForwardMetrics } from '../../src/forward/metrics';
import { ForwardWorker } from '../../src/forward/worker';
import { parseStoreConfig } from '../../src/store/config';
import { openStore } from '../../src/store/open';
import type { Store, StoredEvent } from '../../src/store/types';
import { createLogger } from '../../src/telemetry/logger';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { memoryExporter } from '../support/tracing-setup';
import { dealEvent, SIGNING_SECRET, Upstream } from './support/upstream';

// The worker in this process, on a real SQLite store, sending over real HTTP to an upstream on loopback.
// Backoffs are short (50–200 ms) so every case ends in about a second.

type Line = Record<string, unknown>;
class Capture extends Transport {
  readonly lines: Line[] = [];
  override log(info: Record<string | symbol, unknown>, callback: () => void): void {
    this.lines.push(JSON.parse(String(info[Symbol.for('message')])) as Line);
    callback();
  }
}

const FAST = {
  FORWARD_SIGNING_SECRET: SIGNING_SECRET,
  FORWARD_TIMEOUT_SECONDS: '0.3',
  FORWARD_BACKOFF_BASE_SECONDS: '0.05',
  FORWARD_BACKOFF_MAX_SECONDS: '0.2',
  FORWARD_POLL_SECONDS: '0.02',
  FORWARD_RATE_PER_SECOND: '1000',
};

describe('forward: the worker against a real upstream and a real store', function () {
  this.timeout(30_000);
  let dir: string;
  let store: Store;
  let upstream: Upstream;
  let worker: ForwardWorker | undefined;
  let capture: Capture;
  let registry: client.Registry;

  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'forward-'));
    store = await openStore(parseStoreConfig({ DATA_DIR: dir }), { bodyLimitBytes: 262_144 });
    upstream = new Upstream();
    await upstream.start();
    capture = new Capture();
    registry = new client.Registry();
  });

  afterEach(async () => {
    await worker?.stop(1000);
    worker = undefined;
    await upstream.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function config(env: Record<string, string> = {}): ForwardConfig {
    return parseForwardConfig({ FORWARD_URL: upstream.url, ...FAST, ...env }, () => '')!;
  }

  function start(forward: ForwardConfig, wrapped: Store = store): ForwardWorker {
    worker = new ForwardWorker({
      store: wrapped,
      config: forward,
      tokens: [{ name: 'default', token: 'jvh9y1ulvt2m6k5or90v9mg8nn32ozas' }],
      logger: createLogger('debug', [capture]),
      metrics: registerForwardMetrics(registry),
      owner: 'test-worker',
    });
    worker.start();
    return worker;
  }

  async function settled(id: string, timeoutMs = 10_000): Promise<StoredEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const event = (await store.getEvent(id))!;
      if (event.status !== 'pending') return event;
      if (Date.now() > deadline) throw new Error(`event ${id} still pending after ${event.attempts} attempts`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async function attemptCounts(): Promise<Record<string, number>> {
    const metric = await registry.getSingleMetric('bitrix_webhook_forward_attempts_total')!.get();
    return Object.fromEntries(metric.values.map((value) => [String(value.labels.result), value.value]));
  }

  it('fails three times with 503, then succeeds: delivered on the 4th attempt, same webhook-id, every signature valid', async () => {
    upstream.reply = (_request, nth) => (nth <= 3 ? { status: 503, body: 'down for maintenance' } : { status: 200 });
    const id = await store.saveAccepted(dealEvent(1));
    start(config());
    const event = await settled(id);
    expect([event.status, event.attempts, event.lastError]).to.deep.equal(['delivered', 4, null]);
    expect(upstream.received.map((r) => [r.id, r.verified, r.status])).to.deep.equal([
      [id, true, 503],
      [id, true, 503],
      [id, true, 503],
      [id, true, 200],
    ]);
    expect(JSON.parse(upstream.received[3]!.body)).to.include({ id, webhook: 'default', event: 'ONCRMDEALADD' });
    expect(await attemptCounts()).to.deep.equal({ delivered: 1, retry: 3, dead: 0 });
    const retries = capture.lines.filter((line) => line.message === 'forwarding failed; will retry');
    expect(retries.map((line) => [line.event_id, line.attempt, line.status, line.error, line.upstream])).to.deep.equal(
      [1, 2, 3].map((attempt) => [
        id,
        attempt,
        503,
        'HTTP 503: down for maintenance',
        upstream.url.replace('s3cret', 'REDACTED'),
      ]),
    );
  });

  it("each attempt is a CLIENT span bitrix.forward with HTTP client attributes, linked to the delivery's trace", async () => {
    upstream.reply = (_request, nth) => (nth === 1 ? { status: 502 } : { status: 204 });
    const id = await store.saveAccepted(dealEvent(11));
    memoryExporter.reset();
    start(config());
    await settled(id);
    const spans = memoryExporter.getFinishedSpans().filter((span) => span.name === 'bitrix.forward');
    const port = Number(new URL(upstream.url).port);
    expect(
      spans.map((span) => [
        span.kind,
        span.status.code,
        span.attributes,
        span.links.map((link) => link.context.traceId),
      ]),
    ).to.deep.equal(
      [
        [502, 1, SpanStatusCode.ERROR, 'retry'],
        [204, 2, SpanStatusCode.UNSET, 'delivered'],
      ].map(([status, attempt, code, result]) => [
        SpanKind.CLIENT,
        code,
        {
          'http.request.method': 'POST',
          'url.full': `http://127.0.0.1:${port}/hooks/bitrix?key=REDACTED`,
          'server.address': '127.0.0.1',
          'server.port': port,
          'bitrix.forward.attempt': attempt,
          'bitrix.event.id': id,
          'http.response.status_code': status,
          'bitrix.forward.result': result,
          ...(result === 'retry' ? { 'error.type': '502' } : {}),
        },
        ['0af7651916cd43dd8448eb211c80319c'],
      ]),
    );
    expect(JSON.stringify(memoryExporter.getFinishedSpans().map((span) => span.attributes))).not.to.include('s3cret');
  });

  it('FORWARD_FORMAT=bitrix24: the original form body with the token put back, signed; an echoed token is kept out of the error', async () => {
    upstream.reply = (request) => ({ status: 422, body: `bad: ${request.body.slice(-60)}` });
    const event = dealEvent(12);
    const id = await store.saveAccepted(event);
    start(config({ FORWARD_FORMAT: 'bitrix24' }));
    expect((await settled(id)).status).to.equal('dead');
    const [received] = upstream.received;
    expect([received!.contentType, received!.body, received!.verified]).to.deep.equal([
      'application/x-www-form-urlencoded',
      event.rawBody,
      true,
    ]);
    const stored = (await store.getEvent(id))!;
    expect(stored.lastError).to.equal(
      `HTTP 422: bad: ${event.rawBody.slice(-60).replace('jvh9y1ulvt2m6k5or90v9mg8nn32ozas', 'REDACTED')}`,
    );
    expect(stored.lastError).to.equal('HTTP 422: bad: auth%5Bapplication_token%5D=REDACTED');
    expect(JSON.stringify(capture.lines)).not.to.include('jvh9y1ulvt2m6k5or90v9mg8nn32ozas');
  });

  it('FORWARD_URLS routes by token name, FORWARD_URL takes the rest; a name with no upstream is a dead letter', async () => {
    const crm = new Upstream();
    await crm.start();
    try {
      const toCrm = await store.saveAccepted(dealEvent(13, 'crm'));
      const toDefault = await store.saveAccepted(dealEvent(14, 'default'));
      start(config({ FORWARD_URLS: `crm=${crm.url}` }));
      await settled(toCrm);
      await settled(toDefault);
      expect([crm.received.map((r) => r.id), upstream.received.map((r) => r.id)]).to.deep.equal([[toCrm], [toDefault]]);
      await worker!.stop(1000);
      worker = undefined;
      const orphan = await store.saveAccepted(dealEvent(15, 'tasks'));
      registry = new client.Registry();
      start(parseForwardConfig({ ...FAST, FORWARD_URLS: `crm=${crm.url}` }, () => '')!);
      const event = await settled(orphan);
      expect([event.status, event.lastError]).to.deep.equal([
        'dead',
        'no upstream for webhook tasks: add it to FORWARD_URLS (or set FORWARD_URL), then events redeliver',
      ]);
    } finally {
      await crm.stop();
    }
  });

  it('hangs past the per-attempt timeout: the attempt is cut, retried, then delivered', async () => {
    upstream.reply = (_request, nth) => (nth === 1 ? { status: 200, delayMs: 3000 } : { status: 200 });
    const id = await store.saveAccepted(dealEvent(2));
    start(config());
    const event = await settled(id);
    expect([event.status, event.attempts]).to.deep.equal(['delivered', 2]);
    const retry = capture.lines.find((line) => line.message === 'forwarding failed; will retry')!;
    expect([retry.attempt, retry.status, retry.error]).to.deep.equal([1, undefined, 'timed out after 0.3 s']);
    // The second attempt started within a second of the first, long before the hung answer would have come.
    expect(upstream.received[1]!.at - upstream.received[0]!.at).to.be.below(2000);
  });

  it('429 with Retry-After: 2 waits those 2 seconds (the backoff alone would be at most 0.05 s)', async () => {
    upstream.reply = (_request, nth) =>
      nth === 1 ? { status: 429, headers: { 'retry-after': '2' } } : { status: 200 };
    const id = await store.saveAccepted(dealEvent(3));
    start(config({ FORWARD_BACKOFF_MAX_SECONDS: '10' }));
    const event = await settled(id);
    expect([event.status, event.attempts]).to.deep.equal(['delivered', 2]);
    expect(upstream.received[1]!.at - upstream.received[0]!.at).to.be.at.least(1950);
  });

  it('a Retry-After beyond FORWARD_BACKOFF_MAX_SECONDS is capped at it', async () => {
    upstream.reply = (_request, nth) =>
      nth === 1 ? { status: 503, headers: { 'retry-after': '3600' } } : { status: 200 };
    const id = await store.saveAccepted(dealEvent(10));
    start(config({ FORWARD_BACKOFF_MAX_SECONDS: '1' }));
    const event = await settled(id);
    expect([event.status, event.attempts]).to.deep.equal(['delivered', 2]);
    expect(upstream.received[1]!.at - upstream.received[0]!.at).to.be.at.least(950);
  });

  it('410: a dead letter after one attempt, with the answer as its error, and never sent again', async () => {
    upstream.reply = () => ({ status: 410, body: 'gone' });
    const id = await store.saveAccepted(dealEvent(4));
    start(config());
    const event = await settled(id);
    expect([event.status, event.attempts, event.lastError]).to.deep.equal(['dead', 1, 'HTTP 410: gone']);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(upstream.received).to.have.length(1);
    expect(await attemptCounts()).to.deep.equal({ delivered: 0, retry: 0, dead: 1 });
    expect(
      capture.lines.filter((line) => line.level === 'error').map((line) => [line.message, line.event_id, line.error]),
    ).to.deep.equal([
      ['forwarding gave up: event is a dead letter (events redeliver after fixing the cause)', id, 'HTTP 410: gone'],
    ]);
  });

  it('always 503 with FORWARD_MAX_ATTEMPTS=3: dead after exactly three attempts', async () => {
    upstream.reply = () => ({ status: 503 });
    const id = await store.saveAccepted(dealEvent(5));
    start(config({ FORWARD_MAX_ATTEMPTS: '3' }));
    const event = await settled(id);
    expect([event.status, event.attempts, event.lastError]).to.deep.equal([
      'dead',
      3,
      'HTTP 503; gave up after 3 attempts',
    ]);
    expect(upstream.received).to.have.length(3);
    expect(await attemptCounts()).to.deep.equal({ delivered: 0, retry: 2, dead: 1 });
  });

  it('redeliver: a dead event back to pending is sent again and delivered', async () => {
    upstream.reply = (_request, nth) => (nth === 1 ? { status: 410 } : { status: 200 });
    const id = await store.saveAccepted(dealEvent(6));
    start(config());
    expect((await settled(id)).status).to.equal('dead');
    expect(await store.redeliver([id, 'NOT-AN-ID'])).to.deep.equal([id]);
    const event = await settled(id);
    expect([event.status, event.attempts]).to.deep.equal(['delivered', 1]);
    expect(upstream.received.map((r) => [r.id, r.status])).to.deep.equal([
      [id, 410],
      [id, 200],
    ]);
  });

  it('upstream down (connection refused, then 503) under steady deliveries, then up: every event delivered once, at most FORWARD_CONCURRENCY held at a time', async () => {
    const forward = config({ FORWARD_CONCURRENCY: '3', FORWARD_MAX_ATTEMPTS: '1000' });
    const port = Number(new URL(upstream.url).port);
    await upstream.stop();
    let held = 0;
    let maxHeld = 0;
    // The worker's only memory of the backlog is what it claimed and has not recorded yet.
    const counting: Store = Object.create(store, {
      claimDue: {
        value: async (...args: Parameters<Store['claimDue']>) => {
          const claimed = await store.claimDue(...args);
          held += claimed.length;
          maxHeld = Math.max(maxHeld, held);
          return claimed;
        },
      },
      recordAttempt: {
        value: async (...args: Parameters<Store['recordAttempt']>) => {
          held -= 1;
          return store.recordAttempt(...args);
        },
      },
    });
    start(forward, counting);
    const ids: string[] = [];
    for (let i = 0; i < 200; i++) {
      ids.push(await store.saveAccepted(dealEvent(100 + i)));
      if (i === 100) {
        // Half-way: the application is back but answers 503 for a while.
        upstream = Object.assign(new Upstream(), { reply: () => ({ status: 503 }) });
        await upstream.start(port);
      }
      if (i % 20 === 0) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const refused = capture.lines.filter(
      (line) =>
        line.message === 'forwarding failed; will retry' &&
        String(line.error).startsWith('network error: ECONNREFUSED'),
    );
    expect(refused.length).to.be.above(0);
    expect((await store.forwardStats()).pending).to.equal(200);
    upstream.reply = () => ({ status: 200 });
    await upstream.waitFor(() => new Set(upstream.deliveredIds()).size === 200, 20_000, 'every event delivered');
    const delivered = upstream.deliveredIds().sort();
    expect(delivered).to.deep.equal([...ids].sort());
    expect(upstream.received.every((r) => r.verified)).to.equal(true);
    expect(maxHeld).to.be.at.most(3);
    expect(upstream.maxActive).to.be.at.most(3);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await store.forwardStats()).to.deep.equal({ pending: 0, oldestPendingAt: null, dead: 0 });
  });

  it('a store that fails to claim: one error line (the repeats counted, not logged), then the event is delivered', async () => {
    let failures = 5;
    const flaky: Store = Object.create(store, {
      claimDue: {
        value: async (...args: Parameters<Store['claimDue']>) => {
          if (failures > 0) {
            failures -= 1;
            throw new Error('connection terminated unexpectedly');
          }
          return store.claimDue(...args);
        },
      },
    });
    const id = await store.saveAccepted(dealEvent(16));
    start(config(), flaky);
    expect((await settled(id)).status).to.equal('delivered');
    expect(
      capture.lines.filter((line) => line.level === 'error').map((line) => [line.message, line.suppressed]),
    ).to.deep.equal([['forwarding: cannot claim events from the store: connection terminated unexpectedly', 0]]);
  });

  it('drains a backlog at FORWARD_RATE_PER_SECOND: 30 events at 20/s take at least 1.4 s', async () => {
    for (let i = 0; i < 30; i++) await store.saveAccepted(dealEvent(300 + i));
    start(config({ FORWARD_RATE_PER_SECOND: '20', FORWARD_CONCURRENCY: '8' }));
    await upstream.waitFor(() => upstream.deliveredIds().length === 30, 20_000, '30 deliveries');
    const span = upstream.received[29]!.at - upstream.received[0]!.at;
    expect(span).to.be.at.least(1400);
  });

  it('stop finishes a send in flight within its deadline and records it', async () => {
    upstream.reply = () => ({ status: 200, delayMs: 200 });
    const id = await store.saveAccepted(dealEvent(7));
    start(config({ FORWARD_TIMEOUT_SECONDS: '5' }));
    await upstream.waitFor(() => upstream.received.length === 1, 5000, 'the send to start');
    await worker!.stop(3000);
    const event = (await store.getEvent(id))!;
    expect([event.status, event.attempts]).to.deep.equal(['delivered', 1]);
  });

  it('the backlog gauges from the store', async () => {
    upstream.reply = () => ({ status: 410 });
    const dead = await store.saveAccepted(dealEvent(8));
    start(config());
    await settled(dead);
    await worker!.stop(1000);
    worker = undefined;
    const receivedAt = new Date(Date.now() - 60_000);
    await store.saveAccepted({ ...dealEvent(9), receivedAt });
    const local = new client.Registry();
    const gauges = registerForwardMetrics(local);
    gauges.setStats(await store.forwardStats(), new Date(receivedAt.getTime() + 60_000));
    const text = await local.metrics();
    expect(text).to.include('bitrix_webhook_forward_backlog 1\n');
    expect(text).to.include('bitrix_webhook_forward_oldest_pending_age_seconds 60\n');
    expect(text).to.include('bitrix_webhook_forward_dead_letters 1\n');
  });
});
