import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { parseStoreConfig, type StoreConfig } from '../../src/store/config';
import { openStore } from '../../src/store/open';
import type { Store } from '../../src/store/types';
import { startPostgres, type TestPostgres } from '../support/postgres';
import { spawnService, type RunningService } from '../support/spawn-service';
import { dealEvent, SIGNING_SECRET, Upstream } from '../forward/support/upstream';

// Real service processes (as `npm start` runs them) forwarding from a real store to one upstream on loopback.

const TOKEN = 'jvh9y1ulvt2m6k5or90v9mg8nn32ozas';

function serviceEnv(upstream: Upstream, store: Record<string, string>): Record<string, string> {
  return {
    BITRIX24_WEBHOOK_TOKENS: `default=${TOKEN}`,
    FORWARD_URL: upstream.url,
    FORWARD_SIGNING_SECRET: SIGNING_SECRET,
    // A lease of 2 × 1 s + 5 s: a killed process's events are sent again about 7 s later.
    FORWARD_TIMEOUT_SECONDS: '1',
    FORWARD_BACKOFF_BASE_SECONDS: '0.05',
    FORWARD_BACKOFF_MAX_SECONDS: '0.2',
    FORWARD_POLL_SECONDS: '0.05',
    FORWARD_CONCURRENCY: '2',
    FORWARD_RATE_PER_SECOND: '10',
    LOG_LEVEL: 'debug',
    ...store,
  };
}

const forwardedBy = (service: RunningService) =>
  service.logs.filter((line) => line.message === 'forwarded').map((line) => String(line.event_id));

async function saveEvents(store: Store, count: number, from: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) ids.push(await store.saveAccepted(dealEvent(from + i)));
  return ids;
}

describe('forward: service processes', function () {
  this.timeout(120_000);
  const services: RunningService[] = [];
  let upstream: Upstream;

  beforeEach(async () => {
    upstream = new Upstream();
    await upstream.start();
  });

  afterEach(async () => {
    await Promise.all(services.splice(0).map((service) => service.stop('SIGKILL')));
    await upstream.stop();
  });

  describe('SQLite (one process; SQLite is single-node)', () => {
    let dir: string;
    let config: StoreConfig;
    let store: Store;

    beforeEach(async () => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'forward-proc-'));
      config = parseStoreConfig({ DATA_DIR: dir });
      store = await openStore(config, { bodyLimitBytes: 262_144 });
    });

    afterEach(async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('kill -9 with a backlog: after the restart every event is delivered, signed', async () => {
      const ids = await saveEvents(store, 30, 1);
      upstream.reply = () => ({ status: 200, delayMs: 100 });
      const first = await spawnService({ env: serviceEnv(upstream, { DATA_DIR: dir }) });
      services.push(first);
      await upstream.waitFor(() => upstream.deliveredIds().length >= 5, 20_000, 'five deliveries');
      await first.stop('SIGKILL');
      const beforeRestart = new Set(upstream.deliveredIds()).size;
      expect(beforeRestart).to.be.below(30);
      services.push(await spawnService({ env: serviceEnv(upstream, { DATA_DIR: dir }) }));
      await upstream.waitFor(() => new Set(upstream.deliveredIds()).size === 30, 60_000, 'every event delivered');
      expect([...new Set(upstream.deliveredIds())].sort()).to.deep.equal([...ids].sort());
      expect(upstream.received.every((r) => r.verified)).to.equal(true);
      // A send answered but not recorded before the kill is sent again once its lease expires (~7 s).
      let stats = await store.forwardStats();
      for (
        const deadline = Date.now() + 30_000;
        stats.pending > 0 && Date.now() < deadline;
        stats = await store.forwardStats()
      ) {
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(stats).to.deep.equal({ pending: 0, oldestPendingAt: null, dead: 0 });
    });
  });

  describe('PostgreSQL (replicas share the work)', () => {
    let postgres: TestPostgres;
    let databases = 0;
    let store: Store;
    let url: string;

    before(async () => {
      postgres = await startPostgres();
    });
    after(async () => {
      await postgres?.stop();
    });
    beforeEach(async () => {
      databases += 1;
      url = await postgres.createDatabase(`forward_${databases}`);
      store = await openStore(parseStoreConfig({ DATABASE_URL: url }), { bodyLimitBytes: 262_144 });
    });
    afterEach(async () => {
      await store.close();
    });

    it('two processes, one upstream: every event delivered exactly once, and both did some of the work', async () => {
      upstream.reply = () => ({ status: 200, delayMs: 20 });
      const [a, b] = await Promise.all([
        spawnService({ env: serviceEnv(upstream, { DATABASE_URL: url }) }),
        spawnService({ env: serviceEnv(upstream, { DATABASE_URL: url }) }),
      ]);
      services.push(a!, b!);
      const ids = await saveEvents(store, 60, 1);
      await upstream.waitFor(() => upstream.deliveredIds().length >= 60, 30_000, 'sixty deliveries');
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(upstream.received.map((r) => r.id).sort()).to.deep.equal([...ids].sort());
      expect(upstream.received.every((r) => r.verified)).to.equal(true);
      const byA = forwardedBy(a!);
      const byB = forwardedBy(b!);
      expect([...byA, ...byB].sort()).to.deep.equal([...ids].sort());
      expect(byA.length).to.be.above(0);
      expect(byB.length).to.be.above(0);
    });

    it('one of two processes killed mid-run: still every event delivered (at least once, same webhook-id)', async () => {
      upstream.reply = () => ({ status: 200, delayMs: 150 });
      const [a, b] = await Promise.all([
        spawnService({ env: serviceEnv(upstream, { DATABASE_URL: url }) }),
        spawnService({ env: serviceEnv(upstream, { DATABASE_URL: url }) }),
      ]);
      services.push(a!, b!);
      const ids = await saveEvents(store, 40, 1);
      await upstream.waitFor(() => upstream.deliveredIds().length >= 8, 30_000, 'eight deliveries');
      await a!.stop('SIGKILL');
      await upstream.waitFor(() => new Set(upstream.deliveredIds()).size === 40, 60_000, 'every event delivered');
      expect([...new Set(upstream.deliveredIds())].sort()).to.deep.equal([...ids].sort());
      // An event the killed process had sent but not recorded is sent again once its lease expires (~7 s).
      let stats = await store.forwardStats();
      for (
        const deadline = Date.now() + 30_000;
        stats.pending > 0 && Date.now() < deadline;
        stats = await store.forwardStats()
      ) {
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(stats).to.deep.equal({ pending: 0, oldestPendingAt: null, dead: 0 });
      // Only what the killed process had in flight (FORWARD_CONCURRENCY=2) may arrive twice.
      const counts = new Map<string, number>();
      for (const r of upstream.received) counts.set(r.id, (counts.get(r.id) ?? 0) + 1);
      expect([...counts.values()].filter((n) => n > 1).length).to.be.at.most(2);
    });
  });
});
