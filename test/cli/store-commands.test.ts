// The store commands on a real SQLite store: filters, human-readable and --json output, purge dry run and
// --apply, show, and --help.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { describeStore } from '../../src/store/describe';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { parseStoreConfig } from '../../src/store/config';
import { openStore } from '../../src/store/open';
import type { NewQuarantine, Store } from '../../src/store/types';
import { CRM_DEAL_ADD, WEBHOOK_TOKEN, withoutToken } from '../support/bitrix-bodies';
import { runCli } from './run-cli';
import { ndjson } from '../support/ndjson';

const T0 = Date.UTC(2026, 0, 10, 12, 0, 0);
const HOUR = 3_600_000;

function refused(overrides: Partial<NewQuarantine>): NewQuarantine {
  return {
    receivedAt: new Date(T0),
    status: 401,
    reason: 'token_missing',
    diagnosis: 'auth_without_token',
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    event: 'ONCRMDEALADD',
    eventHandlerId: '975',
    ts: '1766047124',
    domain: 'a.bitrix24.com',
    memberId: 'm',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${WEBHOOK_TOKEN}` },
    rawBody: withoutToken(CRM_DEAL_ADD),
    candidates: [],
    ...overrides,
  };
}

describe('command line: quarantine and events on a real store', function () {
  this.timeout(60_000);
  let dir: string;
  let env: Record<string, string>;
  let ids: string[];

  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'cli-store-'));
    env = { DATA_DIR: dir };
    const store: Store = await openStore(parseStoreConfig(env), { bodyLimitBytes: 256 * 1024 });
    ids = [
      await store.quarantine(refused({})),
      await store.quarantine(
        refused({
          receivedAt: new Date(T0 + HOUR),
          status: 403,
          reason: 'token_mismatch',
          diagnosis: 'mismatch_bitrix24_shaped',
          domain: 'b.bitrix24.com',
          rawBody: CRM_DEAL_ADD,
        }),
      ),
      await store.quarantine(
        refused({
          receivedAt: new Date(T0 + 2 * HOUR),
          status: 503,
          reason: 'not_configured',
          diagnosis: 'not_configured',
        }),
      ),
    ];
    await store.saveAccepted({
      receivedAt: new Date(T0),
      traceId: undefined,
      webhook: 'crm',
      event: 'ONCRMDEALADD',
      eventHandlerId: '1',
      ts: '1',
      domain: 'a.bitrix24.com',
      memberId: 'm',
      data: { FIELDS: { ID: '1' } },
      rawBody: undefined,
      contentType: undefined,
    });
    await store.saveAccepted({
      receivedAt: new Date(T0 + HOUR),
      traceId: undefined,
      webhook: 'tasks',
      event: 'ONTASKADD',
      eventHandlerId: '2',
      ts: '2',
      domain: 'b.bitrix24.com',
      memberId: 'm',
      data: {},
      rawBody: undefined,
      contentType: undefined,
    });
    await store.close();
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('says on stderr which store it opened; a wrong DATA_DIR is an error naming DATA_DIR, and no store is created', async () => {
    const listed = await runCli(['quarantine', 'list', '--json'], env);
    expect(listed.code).to.equal(0);
    expect(listed.stderr.split('\n')[0]).to.equal(
      `store: SQLite file ${path.join(dir, 'bitrix24-webhook-guard.sqlite')}`,
    );
    const wrong = path.join(dir, 'typo');
    for (const args of [
      ['quarantine', 'list'],
      ['events', 'list', '--json'],
      ['quarantine', 'replay', '--apply'],
    ]) {
      const result = await runCli(args, { DATA_DIR: wrong, BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN });
      expect(result.code, args.join(' ')).to.equal(1);
      expect(result.stdout).to.equal('');
      expect(result.stderr).to.include(
        `no store at ${path.join(wrong, 'bitrix24-webhook-guard.sqlite')}: DATA_DIR is "${wrong}"`,
      );
    }
    expect(existsSync(wrong), 'a read command created the store').to.equal(false);
    // Unset DATA_DIR: the default ./data, resolved where the command runs (here a temporary directory).
    const unset = await runCli(['quarantine', 'list'], {}, '', undefined, dir);
    expect(unset.stderr).to.include(`DATA_DIR is unset (default ./data, relative to ${dir})`);
    expect(existsSync(path.join(dir, 'data'))).to.equal(false);
  });

  it('names a PostgreSQL store by host, port and database, never its user or password', () => {
    expect(
      describeStore(
        parseStoreConfig({ DATABASE_URL: 'postgres://guard:s3cr3t-pass@db.internal:5433/webhooks?sslmode=require' }),
      ),
    ).to.equal('PostgreSQL at db.internal:5433/webhooks');
  });

  it('lists quarantined deliveries by reason, diagnosis, portal and time range, human-readable and as JSON lines', async () => {
    const all = await runCli(['quarantine', 'list'], env);
    expect(all.code, all.stderr).to.equal(0);
    expect(all.stdout.split('\n').filter(Boolean)).to.deep.equal([
      `${ids[0]}  2026-01-10T12:00:00.000Z  401  token_missing  auth_without_token  ONCRMDEALADD  a.bitrix24.com  quarantined`,
      `${ids[1]}  2026-01-10T13:00:00.000Z  403  token_mismatch  mismatch_bitrix24_shaped  ONCRMDEALADD  b.bitrix24.com  quarantined`,
      `${ids[2]}  2026-01-10T14:00:00.000Z  503  not_configured  not_configured  ONCRMDEALADD  a.bitrix24.com  quarantined`,
    ]);
    expect(all.stderr).to.equal(
      `store: SQLite file ${path.join(dir, 'bitrix24-webhook-guard.sqlite')}\n3 quarantined deliveries\n`,
    );
    const pick = async (...args: string[]) =>
      ndjson((await runCli(['quarantine', 'list', '--json', ...args], env)).stdout).map((row) => row.id);
    expect(await pick('--reason', 'token_mismatch')).to.deep.equal([ids[1]]);
    expect(await pick('--diagnosis', 'not_configured')).to.deep.equal([ids[2]]);
    expect(await pick('--portal', 'a.bitrix24.com')).to.deep.equal([ids[0], ids[2]]);
    expect(await pick('--since', '2026-01-10T13:00:00Z', '--until', '2026-01-10T14:00:00Z')).to.deep.equal([ids[1]]);
    expect(await pick('--limit', '2')).to.deep.equal([ids[0], ids[1]]);
    const bad = await runCli(['quarantine', 'list', '--since', 'yesterday'], env);
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.include("option '--since <time>' argument 'yesterday' is invalid");
  });

  it('shows one delivery with its diagnosis anchor, harmless headers only and the scrubbed body', async () => {
    const shown = await runCli(['quarantine', 'show', ids[1]!], env);
    expect(shown.code, shown.stderr).to.equal(0);
    expect(shown.stdout)
      .to.include('answered:     403 token_mismatch\n')
      .and.include('(docs/runbooks.md#diagnosis-mismatch_bitrix24_shaped)')
      .and.include('headers:      content-type, authorization\n')
      .and.include(CRM_DEAL_ADD.replace(WEBHOOK_TOKEN, 'REDACTED'));
    expect(shown.stdout).not.to.include(WEBHOOK_TOKEN);
    const missing = await runCli(['quarantine', 'show', 'nope'], env);
    expect(missing).to.deep.include({
      code: 1,
      stdout: '',
      stderr: `store: SQLite file ${path.join(dir, 'bitrix24-webhook-guard.sqlite')}\nno quarantined delivery "nope"\n`,
    });
  });

  it('purges only with --apply, with the same filters', async () => {
    const dry = await runCli(['quarantine', 'purge', '--reason', 'token_missing', '--json'], env);
    expect(ndjson(dry.stdout)).to.deep.equal([{ apply: false, purged: 0, matching: 1 }]);
    expect(ndjson((await runCli(['quarantine', 'list', '--json'], env)).stdout)).to.have.length(3);
    const applied = await runCli(['quarantine', 'purge', '--reason', 'token_missing', '--apply', '--json'], env);
    expect(ndjson(applied.stdout)).to.deep.equal([{ apply: true, purged: 1 }]);
    expect(ndjson((await runCli(['quarantine', 'list', '--json'], env)).stdout).map((row) => row.id)).to.deep.equal([
      ids[1],
      ids[2],
    ]);
  });

  it('lists events by webhook, event and portal', async () => {
    const listed = await runCli(['events', 'list', '--webhook', 'tasks', '--json'], env);
    expect(ndjson(listed.stdout).map((event) => [event.webhook, event.event, event.domain])).to.deep.equal([
      ['tasks', 'ONTASKADD', 'b.bitrix24.com'],
    ]);
    expect(
      ndjson((await runCli(['events', 'list', '--portal', 'a.bitrix24.com', '--json'], env)).stdout).map(
        (event) => event.webhook,
      ),
    ).to.deep.equal(['crm']);
    const human = await runCli(['events', 'list', '--event', 'ONCRMDEALADD'], env);
    expect(human.stdout).to.match(
      /^[0-9A-Z]{26} {2}2026-01-10T12:00:00\.000Z {2}crm {2}ONCRMDEALADD {2}a\.bitrix24\.com {2}pending {2}attempts=0\n$/,
    );
  });

  it('replay explains each delivery in one line, naming the flags that release a tokenless one', async () => {
    const dry = await runCli(['quarantine', 'replay'], { ...env, BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN });
    expect(dry.code).to.equal(0);
    const stays = 'stays: it carried no token (release only with --release-without-token --reason "…")';
    expect(dry.stdout.split('\n').filter(Boolean)).to.deep.equal([
      `${ids[0]}  token_missing  ${stays}`,
      `${ids[1]}  token_mismatch  ${stays}`,
      `${ids[2]}  not_configured  ${stays}`,
    ]);
    expect(dry.stderr).to.match(/dry run \(add --apply to release\): .*no_token=3/);
  });

  it('refuses to replay without a configured token, and explains --help', async () => {
    const replay = await runCli(['quarantine', 'replay'], env);
    expect(replay.code).to.equal(1);
    expect(replay.stderr).to.include('no token is configured here');
    const help = await runCli(['quarantine', 'replay', '--help']);
    expect(help.code).to.equal(0);
    expect(help.stdout)
      .to.include('--release-without-token')
      .and.include('bitrix24-webhook-guard quarantine replay --apply');
  });
});
