import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { parseStoreConfig } from '../../src/store/config';
import { openStore } from '../../src/store/open';
import type { Store } from '../../src/store/types';
import { spawnService, type RunningService } from '../support/spawn-service';
import { dealEvent, SIGNING_SECRET, Upstream } from '../forward/support/upstream';

// The service process with forwarding configured: what it says at start-up, what /metrics shows, SIGTERM.

describe('forward: the service process', function () {
  this.timeout(60_000);
  let dir: string;
  let store: Store;
  let upstream: Upstream;
  let service: RunningService | undefined;

  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'forward-svc-'));
    store = await openStore(parseStoreConfig({ DATA_DIR: dir }), { bodyLimitBytes: 262_144 });
    upstream = new Upstream();
    await upstream.start();
  });
  afterEach(async () => {
    await service?.stop('SIGKILL');
    service = undefined;
    await upstream.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const env = (extra: Record<string, string> = {}) => ({
    BITRIX24_WEBHOOK_TOKENS: 'default=jvh9y1ulvt2m6k5or90v9mg8nn32ozas',
    DATA_DIR: dir,
    FORWARD_URL: upstream.url,
    FORWARD_SIGNING_SECRET: SIGNING_SECRET,
    FORWARD_POLL_SECONDS: '0.05',
    FORWARD_BACKOFF_BASE_SECONDS: '0.05',
    FORWARD_BACKOFF_MAX_SECONDS: '0.1',
    SHUTDOWN_DRAIN_SECONDS: '0',
    ...extra,
  });

  it('logs where events go (no query value, no secret) and exposes the forwarding metrics with exact values', async () => {
    upstream.reply = (request) => (request.body.includes('"ID":"2"') ? { status: 410 } : { status: 200 });
    const ids = [await store.saveAccepted(dealEvent(1)), await store.saveAccepted(dealEvent(2))];
    service = await spawnService({ env: env() });
    const started = await service.waitForLog((line) => line.message === 'forwarding accepted events');
    expect(started).to.deep.include({
      upstream: upstream.url.replace('s3cret', 'REDACTED'),
      format: 'json',
      store: 'sqlite',
      max_attempts: 15,
      concurrency: 4,
      rate_per_second: 20,
    });
    expect(service.stdout()).not.to.include('s3cret');
    expect(service.stdout()).not.to.include(SIGNING_SECRET.slice(6, 20));
    await upstream.waitFor(() => upstream.received.length === 2, 10_000, 'both events sent');
    expect(upstream.received.map((r) => r.id).sort()).to.deep.equal([...ids].sort());
    // The gauges refresh every 5 s from the store.
    const deadline = Date.now() + 15_000;
    let text = '';
    while (Date.now() < deadline) {
      text = await (await fetch(`${service.url}/metrics`)).text();
      if (text.includes('bitrix_webhook_forward_dead_letters 1')) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const series = text.split('\n').filter((line) => line.startsWith('bitrix_webhook_forward_'));
    expect(series).to.deep.equal([
      'bitrix_webhook_forward_attempts_total{result="delivered"} 1',
      'bitrix_webhook_forward_attempts_total{result="retry"} 0',
      'bitrix_webhook_forward_attempts_total{result="dead"} 1',
      'bitrix_webhook_forward_backlog 0',
      'bitrix_webhook_forward_oldest_pending_age_seconds 0',
      'bitrix_webhook_forward_dead_letters 1',
      'bitrix_webhook_forward_unreadable_events_total 0',
    ]);
  });

  it('SIGTERM during a send: the send finishes and is recorded, then the process exits 0', async () => {
    upstream.reply = () => ({ status: 200, delayMs: 1500 });
    const id = await store.saveAccepted(dealEvent(3));
    service = await spawnService({ env: env() });
    await upstream.waitFor(() => upstream.received.length === 1, 10_000, 'the send to start');
    expect(await service.stop('SIGTERM')).to.equal(0);
    const event = (await store.getEvent(id))!;
    expect([event.status, event.attempts, upstream.received[0]!.status]).to.deep.equal(['delivered', 1, 200]);
  });

  it('STORE=none with FORWARD_URL: refused at start-up (exit 2), naming the variable', async () => {
    service = await spawnService({ env: env({ STORE: 'none' }), expectExit: true });
    expect(service.process.exitCode).to.equal(2);
    const line = service.logs.find((entry) => entry.level === 'error')!;
    expect(line.message).to.equal(
      'configuration error: STORE: none keeps no event to forward; unset it or unset FORWARD_URL/FORWARD_URLS',
    );
  });
});
