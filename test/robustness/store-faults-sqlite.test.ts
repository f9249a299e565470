// The service process on a real SQLite file that fails under it: another process holding the write lock, the
// file deleted, the file replaced, a damaged file at start-up; and `store backup` taken while it runs.
import { copyFileSync, mkdtempSync, openSync, renameSync, rmSync, writeSync, closeSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { runCli } from '../cli/run-cli';
import { WEBHOOK_TOKEN } from '../support/bitrix-bodies';
import { spawnService, type RunningService } from '../support/spawn-service';
import { openSqliteFile } from '../support/sqlite-file';
import { dealIds, deliver, eventually, expectOnly200Or503, timedGet } from './support/store-load';

const STORE_TIMEOUT_SECONDS = 2;
const FILE_NAME = 'bitrix24-webhook-guard.sqlite';

describe('store faults: the SQLite file under the running service', function () {
  this.timeout(90_000);
  let dir: string;
  let dataDir: string;
  let file: string;
  let service: RunningService | undefined;

  const start = async () =>
    spawnService({
      env: {
        DATA_DIR: dataDir,
        BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
        STORE_TIMEOUT_SECONDS: String(STORE_TIMEOUT_SECONDS),
      },
    });
  const storedIds = (at = file) => {
    const database = openSqliteFile(at, { readonly: true });
    try {
      return dealIds(database.prepare('SELECT data FROM events').all() as Array<{ data: string }>);
    } finally {
      database.close();
    }
  };

  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'store-faults-'));
    dataDir = path.join(dir, 'data');
    file = path.join(dataDir, FILE_NAME);
    service = await start();
  });
  afterEach(async () => {
    await service?.stop('SIGKILL');
    service = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('another process holds the write lock: 503 within STORE_TIMEOUT_SECONDS, /metrics and /readyz prompt, 200 once it lets go', async () => {
    expect((await deliver(service!, 1)).status).to.equal(200);
    const holder = openSqliteFile(file);
    holder.exec('BEGIN IMMEDIATE');
    let released = false;
    try {
      const during = await Promise.all(Array.from({ length: 4 }, (_, i) => deliver(service!, 10 + i)));
      for (const sent of during) {
        expect(sent.status, JSON.stringify(sent)).to.equal(503);
        expect(sent.ms).to.be.within(STORE_TIMEOUT_SECONDS * 1000 - 200, STORE_TIMEOUT_SECONDS * 1000 + 3_000);
      }
      // While a delivery waits for the lock, the event loop stays free: /metrics answers at once.
      const waiting = deliver(service!, 20);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const metrics = await timedGet(`${service!.url}/metrics`);
      expect(metrics.ms).to.be.below(1_000);
      expect(metrics.text).to.match(/^bitrix_webhook_store_timeouts_total [1-9]\d*$/m);
      const readyz = await timedGet(`${service!.url}/readyz`);
      expect(readyz.ms).to.be.below(1_000);
      expect(readyz.status).to.equal(503);
      expect(readyz.json!.store).to.deep.include({ status: 'failing', cause: 'timeout' });
      expect(readyz.json!.store.detail).to.include('write lock');
      expect((await waiting).status).to.equal(503);
      holder.exec('ROLLBACK');
      released = true;
      expect((await deliver(service!, 2)).status).to.equal(200);
      await eventually(
        async () => expect((await timedGet(`${service!.url}/readyz`)).status).to.equal(200),
        5_000,
        '/readyz ready again',
      );
      expectOnly200Or503([...during, { id: 1, status: 200, ms: 0 }, { id: 2, status: 200, ms: 0 }], storedIds());
    } finally {
      if (!released) holder.exec('ROLLBACK');
      holder.close();
    }
  });

  it('the file deleted under it: no 200 after that, /readyz says so, a restart opens a new store', async () => {
    expect((await deliver(service!, 1)).status).to.equal(200);
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
    const after = await Promise.all(Array.from({ length: 5 }, (_, i) => deliver(service!, 10 + i)));
    expect(after.map((sent) => [sent.status, sent.reason])).to.deep.equal(Array(5).fill([503, 'store_unavailable']));
    const readyz = await timedGet(`${service!.url}/readyz`);
    expect(readyz.status).to.equal(503);
    expect(readyz.json).to.deep.include({ reason: 'store_unavailable' });
    expect(readyz.json!.store).to.deep.include({ status: 'failing', cause: 'file_changed' });
    expect(readyz.json!.store.detail).to.include(`${file} was deleted under the running service`);
    expect(
      service!.logs.some(
        (line) => line.level === 'error' && String(line.message).includes('was deleted under the running service'),
      ),
    ).to.equal(true);
    expect(service!.process.exitCode).to.equal(null);
    await service!.stop('SIGKILL');
    service = await start();
    expect((await deliver(service, 30)).status).to.equal(200);
    expect([...storedIds()]).to.deep.equal([30]);
  });

  it('the file replaced by a backup under it: no 200 after that, /readyz says replaced; the restarted service serves the restored file', async () => {
    expect((await deliver(service!, 1)).status).to.equal(200);
    const backup = path.join(dir, 'backup.sqlite');
    const made = await runCli(['store', 'backup', backup], { DATA_DIR: dataDir });
    expect(made.code, made.stderr).to.equal(0);
    expect(made.stderr).to.include('1 events');
    expect((await deliver(service!, 2)).status).to.equal(200);
    const copy = path.join(dataDir, 'incoming.sqlite');
    copyFileSync(backup, copy);
    renameSync(copy, file);
    const after = await deliver(service!, 3);
    expect([after.status, after.reason]).to.deep.equal([503, 'store_unavailable']);
    const readyz = await timedGet(`${service!.url}/readyz`);
    expect(readyz.json!.store).to.deep.include({ status: 'failing', cause: 'file_changed' });
    expect(readyz.json!.store.detail).to.include('was replaced under the running service');
    await service!.stop('SIGKILL');
    for (const suffix of ['-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
    service = await start();
    expect([...storedIds()]).to.deep.equal([1]);
    expect((await deliver(service, 4)).status).to.equal(200);
  });

  it('store backup refuses to overwrite, and a damaged file stops the start-up with the integrity check named', async () => {
    expect((await deliver(service!, 1)).status).to.equal(200);
    const backup = path.join(dir, 'backup.sqlite');
    expect((await runCli(['store', 'backup', backup], { DATA_DIR: dataDir })).code).to.equal(0);
    const again = await runCli(['store', 'backup', backup], { DATA_DIR: dataDir });
    expect([again.code, again.stderr.includes('exists already')]).to.deep.equal([1, true]);
    await service!.stop();
    service = undefined;
    // A copy whose table pages are overwritten: the header still reads, the b-trees do not.
    const damaged = path.join(dir, 'damaged', 'data');
    rmSync(damaged, { recursive: true, force: true });
    await import('node:fs').then((fs) => fs.mkdirSync(damaged, { recursive: true }));
    copyFileSync(backup, path.join(damaged, FILE_NAME));
    const fd = openSync(path.join(damaged, FILE_NAME), 'r+');
    writeSync(fd, Buffer.alloc(4096 * 2, 0x5a), 0, 4096 * 2, 4096);
    closeSync(fd);
    const refused = await spawnService({
      expectExit: true,
      env: { DATA_DIR: damaged, BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN },
    });
    expect(refused.process.exitCode).to.equal(1);
    const line = refused.logs.find((entry) => String(entry.message).startsWith('cannot open the store'));
    expect(String(line?.message), refused.stdout()).to.match(/quick_check|malformed|not a database/);
    expect(existsSync(backup)).to.equal(true);
  });
});
