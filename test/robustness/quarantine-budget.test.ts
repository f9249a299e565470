// Issue 16, items 3 and 4: the quarantine is bounded by rows, bytes and writes per second, and what it keeps
// is ranked: a known portal's delivery with a Bitrix24-shaped token outlives junk. Real bodies through the
// real HTTP stack, on a real SQLite file and a real PostgreSQL.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { parseStoreConfig, type StoreConfig } from '../../src/store/config';
import { openStore } from '../../src/store/open';
import type { Store } from '../../src/store/types';
import { startHarness, type Harness } from '../support/harness';
import { CRM_DEAL_ADD, WEBHOOK_TOKEN, httpBuildQuery, webhookAuth } from '../support/bitrix-bodies';
import { startPostgres, type TestPostgres } from '../support/postgres';
import { runCli } from '../cli/run-cli';
import { Client } from './support/client';

const ROTATED_TOKEN = 'r0tat3dt0ken0000000000000000abcd';
const PORTAL = { domain: 'some-domain.bitrix24.com', memberId: 'd897063e1ce7c5eb9f04b9751eef5915' };
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

/** A deal event of the known portal, signed with `token`, deal `id`. */
function dealAdd(token: string, id: number): string {
  return httpBuildQuery({
    event: 'ONCRMDEALADD',
    event_handler_id: '975',
    data: { FIELDS: { ID: String(id) } },
    ts: '1766047124',
    auth: webhookAuth(token),
  });
}

/** Junk of the kinds a scanner sends: no token, an unknown portal with a well-shaped token, a known portal with a token of another shape. */
function junk(i: number, padding = ''): string {
  switch (i % 3) {
    case 0:
      return `event=ONCRMDEALADD&data%5BFIELDS%5D%5BID%5D=${i}&pad=${padding}`;
    case 1:
      return httpBuildQuery({
        event: 'ONCRMDEALADD',
        data: { FIELDS: { ID: String(i) }, PAD: padding },
        auth: webhookAuth(
          '0123456789abcdefghijklmnopqrstuv',
          `evil${i}.example.com`,
          'ffffffffffffffffffffffffffffffff',
        ),
      });
    default:
      return httpBuildQuery({
        event: 'ONCRMDEALADD',
        data: { FIELDS: { ID: String(i) }, PAD: padding },
        auth: webhookAuth(`NOT-SHAPED-${i}`),
      });
  }
}

interface Backend {
  name: 'sqlite' | 'postgres';
  env(): Promise<Record<string, string>>;
}

let postgres: TestPostgres | undefined;
let databases = 0;
const tempDirs: string[] = [];

const BACKENDS: Backend[] = [
  {
    name: 'sqlite',
    async env() {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'quarantine-budget-'));
      tempDirs.push(dir);
      return { DATA_DIR: path.join(dir, 'data') };
    },
  },
  {
    name: 'postgres',
    async env() {
      postgres ??= await startPostgres();
      databases += 1;
      return { DATABASE_URL: await postgres.createDatabase(`quarantine_budget_${process.pid}_${databases}`) };
    },
  },
];

after(async () => {
  await postgres?.stop();
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

for (const backend of BACKENDS) {
  describe(`quarantine budget and ranking (${backend.name})`, function () {
    this.timeout(120_000);
    let storeEnv: Record<string, string>;
    let store: Store;
    let harness: Harness;
    let client: Client;

    async function start(budget: Record<string, string>): Promise<void> {
      storeEnv = { ...(await backend.env()), ...budget };
      const config: StoreConfig = parseStoreConfig(storeEnv);
      store = await openStore(config, { bodyLimitBytes: 256 * 1024 });
      harness = await startHarness({ BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN }, {}, { store });
      client = new Client(harness.url);
    }

    afterEach(async () => {
      client?.close();
      await harness?.close();
      await store?.close();
    });

    it('keeps five deliveries of a known portal with a rotated token through junk well past the cap; all five replay', async () => {
      await start({ QUARANTINE_MAX_ROWS: '40', QUARANTINE_WRITES_PER_SECOND: '100000' });
      // The portal is known once an event of it was accepted.
      expect((await client.send({ headers: FORM, body: CRM_DEAL_ADD })).status).to.equal(200);
      await until(() => store.isKnownPortal(PORTAL), 'the portal to be remembered');
      // The portal's webhook token was rotated in Bitrix24, not yet here: five genuine events refused.
      for (let id = 1; id <= 5; id++)
        expect((await client.send({ headers: FORM, body: dealAdd(ROTATED_TOKEN, id) })).status).to.equal(403);
      // Then junk, well past the cap (4× QUARANTINE_MAX_ROWS).
      for (let i = 0; i < 160; i++)
        expect((await client.send({ headers: FORM, body: junk(i) })).status).to.be.oneOf([401, 403]);

      const retention = await store.applyRetention(new Date());
      expect(await store.quarantineSize()).to.be.at.most(40);
      expect(retention.quarantinePlausibleEvicted).to.equal(0);
      const kept = await store.listQuarantine({ limit: 1000 });
      const genuine = kept.filter(
        (row) =>
          row.memberId === PORTAL.memberId &&
          row.domain === PORTAL.domain &&
          row.reason === 'token_mismatch' &&
          row.diagnosis === 'mismatch_bitrix24_shaped',
      );
      expect(genuine.map((row) => (row.body ?? '').match(/ID%5D=(\d+)/)?.[1])).to.deep.equal(['1', '2', '3', '4', '5']);
      // Eviction metrics: every eviction counted, none of a plausible delivery.
      const metrics = await harness.metricsText();
      expect(metrics).to.match(/^bitrix_webhook_quarantine_plausible_evictions_total 0$/m);
      expect(Number(/^bitrix_webhook_quarantine_evictions_total (\d+)$/m.exec(metrics)?.[1])).to.be.greaterThan(120);

      // The operator configures the new token and replays: all five become accepted events.
      const replay = await runCli(['quarantine', 'replay', '--apply', '--json'], {
        ...storeEnv,
        BITRIX24_OUTGOING_WEBHOOK_TOKEN: ROTATED_TOKEN,
      });
      expect(replay.code, replay.stderr).to.equal(0);
      const released = (await store.listEvents({ limit: 1000 })).filter((event) => event.quarantineId !== null);
      expect(released.map((event) => (event.data as { FIELDS: { ID: string } }).FIELDS.ID).sort()).to.deep.equal([
        '1',
        '2',
        '3',
        '4',
        '5',
      ]);
    });

    it('evicts plausible deliveries only when nothing else is left, and counts them apart', async () => {
      await start({ QUARANTINE_MAX_ROWS: '3', QUARANTINE_WRITES_PER_SECOND: '100000' });
      expect((await client.send({ headers: FORM, body: CRM_DEAL_ADD })).status).to.equal(200);
      await until(() => store.isKnownPortal(PORTAL), 'the portal to be remembered');
      for (let id = 1; id <= 5; id++)
        expect((await client.send({ headers: FORM, body: dealAdd(ROTATED_TOKEN, id) })).status).to.equal(403);
      // The first write past the cap started an eviction itself; this run finishes what it left.
      await store.enforceQuarantineCap();
      await store.enforceQuarantineCap();
      expect(await store.enforceQuarantineCap()).to.deep.equal({ evicted: 0, plausibleEvicted: 0 });
      expect((await store.listQuarantine()).map((row) => (row.body ?? '').match(/ID%5D=(\d+)/)?.[1])).to.deep.equal([
        '3',
        '4',
        '5',
      ]);
      const metrics = await harness.metricsText();
      expect(metrics).to.match(/^bitrix_webhook_quarantine_plausible_evictions_total 2$/m);
      const evictionLines = harness.logs.filter(
        (line) => line.level === 'error' && /plausible deliveries .* evicted/.test(line.message),
      );
      expect(evictionLines.reduce((sum, line) => sum + Number(line.plausible_evicted), 0)).to.equal(2);
    });

    it('holds the quarantine to QUARANTINE_MAX_BYTES, evicting as writes pass it, and cuts bodies at QUARANTINE_MAX_BODY_BYTES', async () => {
      await start({
        QUARANTINE_MAX_BYTES: '200kb',
        QUARANTINE_MAX_BODY_BYTES: '16kb',
        QUARANTINE_WRITES_PER_SECOND: '100000',
      });
      const padding = 'x'.repeat(100 * 1024);
      for (let i = 0; i < 40; i++) {
        expect((await client.send({ headers: FORM, body: junk(i, padding) })).status).to.be.oneOf([401, 403]);
        // Writes past the budget start an eviction at most once a second: space them so that some do.
        if (i % 10 === 9) await new Promise((resolve) => setTimeout(resolve, 1100));
      }
      const rows = await store.listQuarantine({ limit: 1000 });
      for (const row of rows) {
        expect(row.bodyTruncated).to.equal(true);
        expect(Buffer.byteLength(row.body ?? '')).to.be.at.most(16 * 1024);
      }
      // 40 rows of ~17 KB were written: a budget of 200 KB keeps about a dozen, evicted without a retention run.
      expect(rows.length).to.be.below(40);
      await store.enforceQuarantineCap();
      const after = await store.listQuarantine({ limit: 1000 });
      expect(after.length).to.be.within(9, 12);
      // The newest are the ones kept.
      expect(after.at(-1)!.id).to.equal(rows.at(-1)!.id);
    });

    it('stores at most QUARANTINE_WRITES_PER_SECOND junk refusals a second; the rest are counted and logged, not stored', async () => {
      await start({ QUARANTINE_WRITES_PER_SECOND: '5' });
      expect((await client.send({ headers: FORM, body: CRM_DEAL_ADD })).status).to.equal(200);
      await until(() => store.isKnownPortal(PORTAL), 'the portal to be remembered');
      const started = Date.now();
      for (let i = 0; i < 30; i++)
        expect((await client.send({ headers: FORM, body: junk(i) })).status).to.be.oneOf([401, 403]);
      // Plausible deliveries are not held to the junk budget.
      for (let id = 1; id <= 5; id++)
        expect((await client.send({ headers: FORM, body: dealAdd(ROTATED_TOKEN, id) })).status).to.equal(403);
      const seconds = (Date.now() - started) / 1000;
      const rows = await store.listQuarantine({ limit: 1000 });
      const junkKept = rows.filter(
        (row) =>
          row.diagnosis !== 'mismatch_bitrix24_shaped' ||
          row.memberId !== PORTAL.memberId ||
          row.domain !== PORTAL.domain,
      ).length;
      expect(junkKept)
        .to.be.at.least(5)
        .and.at.most(5 + Math.ceil(seconds * 5));
      expect(rows.length - junkKept).to.equal(5);
      const metrics = await harness.metricsText();
      const dropped = Number(
        /^bitrix_webhook_quarantine_dropped_total\{reason="write_budget"\} (\d+)$/m.exec(metrics)?.[1],
      );
      expect(dropped).to.equal(30 - junkKept);
      expect(metrics).to.match(/^bitrix_webhook_quarantine_dropped_total\{reason="disk_reserve"\} 0$/m);
      const lines = harness.logs.filter((line) => line.message === 'refused delivery not kept in quarantine');
      expect(lines.length)
        .to.be.at.least(1)
        .and.at.most(Math.ceil(seconds) + 1);
      expect(lines[0]).to.include({ dropped: 'write_budget', plausible: false });
    });
  });
}

describe('quarantine disk reserve (SQLite on a full tmpfs)', function () {
  this.timeout(120_000);
  let mountPoint: string | undefined;

  before(function () {
    if (process.getuid?.() !== 0) this.skip();
    mountPoint = mkdtempSync(path.join(os.tmpdir(), 'quarantine-tmpfs-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', mountPoint]);
    } catch {
      rmSync(mountPoint, { recursive: true, force: true });
      mountPoint = undefined;
      this.skip();
    }
  });

  after(() => {
    if (mountPoint === undefined) return;
    execFileSync('umount', [mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  });

  it('stops quarantine writes at the reserve: accepted events still commit and purge works on the fullest disk', async () => {
    const dataDir = path.join(mountPoint!, 'data');
    mkdirSync(dataDir);
    const storeEnv = {
      DATA_DIR: dataDir,
      QUARANTINE_DISK_RESERVE: '8mb',
      QUARANTINE_WRITES_PER_SECOND: '100000',
      QUARANTINE_MAX_BYTES: '1gb',
    };
    const store = await openStore(parseStoreConfig(storeEnv), { bodyLimitBytes: 256 * 1024 });
    const harness = await startHarness({ BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN }, {}, { store });
    const client = new Client(harness.url);
    try {
      // Someone else fills the disk too (logs, another file): 6 MB.
      writeFileSync(path.join(mountPoint!, 'ballast'), Buffer.alloc(6 * 1024 * 1024));
      const padding = 'x'.repeat(60 * 1024);
      for (let i = 0; i < 400; i++) {
        expect((await client.send({ headers: FORM, body: junk(i, padding) })).status).to.be.oneOf([401, 403]);
        if (/disk_reserve"\} [1-9]/.test(await harness.metricsText())) break;
      }
      expect(await harness.metricsText()).to.match(
        /^bitrix_webhook_quarantine_dropped_total\{reason="disk_reserve"\} [1-9]\d*$/m,
      );
      // The reserve is there for accepted events: they still commit.
      for (let id = 1; id <= 20; id++)
        expect((await client.send({ headers: FORM, body: dealAdd(WEBHOOK_TOKEN, id) })).status).to.equal(200);
      expect(await store.listEvents({ limit: 1000 })).to.have.length(20);
      // And the operator's purge works (it writes to the WAL too).
      await store.close();
      const purge = await runCli(['quarantine', 'purge', '--apply'], storeEnv);
      expect(purge.code, purge.stderr).to.equal(0);
      const reopened = await openStore(parseStoreConfig(storeEnv), { bodyLimitBytes: 256 * 1024 });
      expect(await reopened.quarantineSize()).to.equal(0);
      await reopened.close();
    } finally {
      client.close();
      await harness.close();
      await store.close().catch(() => undefined);
    }
  });
});
