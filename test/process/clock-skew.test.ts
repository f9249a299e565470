// Two replicas on one real PostgreSQL 15, one with its clock 60 s ahead: leases are computed by the
// database's clock, so the skewed replica never takes an event the other is still sending.
import path from 'node:path';
import { expect } from 'chai';
import { parseStoreConfig } from '../../src/store/config';
import { openStore } from '../../src/store/open';
import type { Store } from '../../src/store/types';
import { startPostgres, type TestPostgres } from '../support/postgres';
import { spawnService, type RunningService } from '../support/spawn-service';
import { dealEvent, SIGNING_SECRET, Upstream } from '../forward/support/upstream';

const SHIFT_CLOCK = path.resolve(__dirname, 'support/shift-clock.js');

describe('forwarding: replicas with skewed clocks (PostgreSQL)', function () {
  this.timeout(120_000);
  let postgres: TestPostgres;
  let store: Store;
  let upstream: Upstream;
  const services: RunningService[] = [];

  before(async () => {
    postgres = await startPostgres();
  });
  after(async () => {
    await postgres?.stop();
  });
  afterEach(async () => {
    await Promise.all(services.splice(0).map((service) => service.stop('SIGKILL')));
    await upstream?.stop();
    await store?.close();
  });

  it('one replica 60 s ahead: every event delivered exactly once (no lease taken early)', async () => {
    const url = await postgres.createDatabase('skew');
    store = await openStore(parseStoreConfig({ DATABASE_URL: url }), { bodyLimitBytes: 262_144 });
    upstream = new Upstream();
    await upstream.start();
    // Each send takes 400 ms: while one replica sends, the other polls and sees its leases.
    upstream.reply = () => ({ status: 200, delayMs: 400 });
    const env = (extra: Record<string, string>) => ({
      DATABASE_URL: url,
      BITRIX24_OUTGOING_WEBHOOK_TOKEN: 'jvh9y1ulvt2m6k5or90v9mg8nn32ozas',
      FORWARD_URL: upstream.url,
      FORWARD_SIGNING_SECRET: SIGNING_SECRET,
      FORWARD_TIMEOUT_SECONDS: '1',
      FORWARD_POLL_SECONDS: '0.05',
      FORWARD_CONCURRENCY: '4',
      FORWARD_RATE_PER_SECOND: '20',
      LOG_LEVEL: 'debug',
      ...extra,
    });
    const [onTime, ahead] = await Promise.all([
      spawnService({ env: env({}) }),
      spawnService({ env: env({ NODE_OPTIONS: `--require ${SHIFT_CLOCK}`, CLOCK_SHIFT_MS: '60000' }) }),
    ]);
    services.push(onTime!, ahead!);
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) ids.push(await store.saveAccepted(dealEvent(i + 1)));
    await upstream.waitFor(() => new Set(upstream.deliveredIds()).size === 40, 60_000, 'every event delivered');
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const sent = upstream.received.map((request) => request.id);
    const twice = sent.filter((id, index) => sent.indexOf(id) !== index);
    expect(twice, 'events sent twice').to.deep.equal([]);
    expect([...new Set(sent)].sort()).to.deep.equal([...ids].sort());
    const forwardedBy = (service: RunningService) => service.logs.filter((line) => line.message === 'forwarded').length;
    expect(forwardedBy(onTime!) + forwardedBy(ahead!)).to.equal(40);
  });
});
