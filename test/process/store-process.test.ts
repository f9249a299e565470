// Issue #10 with the real service process on a real SQLite file: an event answered 200 survives kill -9; the
// command line reads the file while the service writes to it; STORE=none says loudly that nothing is kept;
// the quarantine cap is enforced at start-up and counted.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { CRM_DEAL_ADD, WEBHOOK_TOKEN, withoutToken } from '../support/bitrix-bodies';
import { runCli } from '../cli/run-cli';
import { spawnService, type RunningService } from '../support/spawn-service';
import { ndjson } from '../support/ndjson';

const PATH = '/api/bitrix/webhook';
const FORM = 'application/x-www-form-urlencoded';

async function post(service: RunningService, body: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${service.url}${PATH}`, { method: 'POST', headers: { 'content-type': FORM }, body });
  return { status: response.status, body: await response.json() };
}

describe('the store under the real service process (SQLite)', function () {
  this.timeout(90_000);
  let dir: string;
  let env: Record<string, string>;
  let service: RunningService | undefined;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'store-process-'));
    env = { DATA_DIR: path.join(dir, 'data'), BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN };
  });
  afterEach(async () => {
    await service?.stop();
    service = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps an event answered 200 through kill -9 of the process; the restarted service and the CLI see it', async () => {
    service = await spawnService({ env });
    expect(await post(service, CRM_DEAL_ADD)).to.deep.equal({ status: 200, body: { status: 'accepted' } });
    expect(await service.stop('SIGKILL')).to.equal(null);
    service = await spawnService({ env });
    const listed = await runCli(['events', 'list', '--json'], env);
    expect(listed.code, listed.stderr).to.equal(0);
    expect(ndjson(listed.stdout).map((event) => [event.webhook, event.event, event.status, event.data])).to.deep.equal([
      ['default', 'ONCRMDEALADD', 'pending', { FIELDS: { ID: '7405' } }],
    ]);
  });

  it('on SIGTERM, stores the delivery still in flight, answers it 200, then closes the store and exits 0', async () => {
    service = await spawnService({ env: { ...env, SHUTDOWN_DRAIN_SECONDS: '1' } });
    const { port } = service;
    const half = Math.floor(CRM_DEAL_ADD.length / 2);
    const answered = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          path: PATH,
          method: 'POST',
          headers: { 'content-type': FORM, 'content-length': CRM_DEAL_ADD.length },
        },
        (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        },
      );
      req.on('error', reject);
      req.write(CRM_DEAL_ADD.slice(0, half));
      // The rest arrives after SIGTERM, during the drain.
      setTimeout(() => {
        service!.process.kill('SIGTERM');
        setTimeout(() => req.end(CRM_DEAL_ADD.slice(half)), 300);
      }, 200);
    });
    expect(await answered).to.deep.equal({ status: 200, body: '{"status":"accepted"}' });
    expect(await service.stop()).to.equal(0);
    expect(service.logs.at(-1)!.message).to.equal('stopped');
    const listed = await runCli(['events', 'list', '--json'], env);
    expect(ndjson(listed.stdout).map((event) => event.event)).to.deep.equal(['ONCRMDEALADD']);
  });

  it('serves deliveries while the command line reads the same file at the same time', async () => {
    service = await spawnService({ env });
    const deliveries = Array.from({ length: 20 }, (_, i) =>
      post(service!, CRM_DEAL_ADD.replace('7405', String(8000 + i))),
    );
    const readers = Array.from({ length: 3 }, () => runCli(['events', 'list', '--json', '--limit', '1000'], env));
    const answers = await Promise.all(deliveries);
    expect(answers.map((answer) => answer.status)).to.deep.equal(Array(20).fill(200));
    for (const reader of await Promise.all(readers)) expect(reader.code, reader.stderr).to.equal(0);
    const ids = ndjson((await runCli(['events', 'list', '--json', '--limit', '1000'], env)).stdout)
      .map((event) => event.data.FIELDS.ID)
      .sort();
    expect(ids).to.deep.equal(Array.from({ length: 20 }, (_, i) => String(8000 + i)));
  });

  it('evicts the oldest quarantined deliveries beyond QUARANTINE_MAX_ROWS at start-up, and counts them', async () => {
    service = await spawnService({ env });
    for (let i = 0; i < 5; i++)
      expect((await post(service, withoutToken(CRM_DEAL_ADD).replace('7405', String(i)))).status).to.equal(401);
    const before = ndjson((await runCli(['quarantine', 'list', '--json'], env)).stdout).map((row) => row.id);
    await service.stop();
    service = await spawnService({ env: { ...env, QUARANTINE_MAX_ROWS: '2' } });
    await service.waitForLog(
      (line) => line.message === 'quarantine full: released and junk deliveries evicted, oldest first',
    );
    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    expect(metrics.split('\n').filter((line) => line.startsWith('bitrix_webhook_quarantine_'))).to.deep.equal([
      'bitrix_webhook_quarantine_evictions_total 3',
      'bitrix_webhook_quarantine_plausible_evictions_total 0',
      'bitrix_webhook_quarantine_dropped_total{reason="write_budget"} 0',
      'bitrix_webhook_quarantine_dropped_total{reason="disk_reserve"} 0',
      'bitrix_webhook_quarantine_size 2',
      'bitrix_webhook_quarantine_pending 2',
      // Nothing was released: the quarantined deliveries carried no token (automatic replay never releases those).
      'bitrix_webhook_quarantine_releases_total{how="auto"} 0',
      'bitrix_webhook_quarantine_releases_total{how="cli"} 0',
      'bitrix_webhook_quarantine_releases_total{how="console"} 0',
    ]);
    expect(ndjson((await runCli(['quarantine', 'list', '--json'], env)).stdout).map((row) => row.id)).to.deep.equal(
      before.slice(3),
    );
  });

  it('refuses to start (exit 1, one error line naming the store, never the password) when the store cannot be opened', async () => {
    const notADirectory = path.join(dir, 'file');
    writeFileSync(notADirectory, 'x');
    service = await spawnService({ env: { ...env, DATA_DIR: notADirectory }, expectExit: true });
    expect(await service.stop()).to.equal(1);
    const errors = service.logs.filter((line) => line.level === 'error');
    expect(errors.map((line) => String(line.message).split(': ')[0])).to.deep.equal([
      `cannot open the store (SQLite file ${path.join(notADirectory, 'bitrix24-webhook-guard.sqlite')})`,
    ]);
    expect(service.logs.some((line) => line.message === 'listening')).to.equal(false);
    service = await spawnService({
      env: { ...env, DATA_DIR: undefined, DATABASE_URL: 'postgres://guard:s3cretpassw0rd@127.0.0.1:1/guard' },
      expectExit: true,
    });
    expect(await service.stop()).to.equal(1);
    expect(service.stdout()).to.include('cannot open the store (PostgreSQL at 127.0.0.1:1/guard)');
    expect(service.stdout() + service.stderr()).not.to.include('s3cretpassw0rd');
  });

  it('STORE=none: start-up warns that nothing is kept; deliveries are still verified; the CLI says there is nothing', async () => {
    service = await spawnService({ env: { BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN, STORE: 'none' } });
    const warning = await service.waitForLog(
      (line) => line.level === 'warn' && String(line.message).startsWith('STORE=none: NOTHING IS KEPT.'),
    );
    expect(warning.store).to.equal('none');
    expect(await post(service, CRM_DEAL_ADD)).to.deep.equal({ status: 200, body: { status: 'accepted' } });
    const listed = await runCli(['events', 'list'], { STORE: 'none' });
    expect(listed.code).to.equal(1);
    expect(listed.stderr).to.include('STORE=none: the service keeps nothing');
  });
});
