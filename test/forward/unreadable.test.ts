// Issue #16, item 2: an event that cannot be read never blocks others. A stored row whose data is not JSON
// (damaged) and an event nested far deeper than any real one are dead-lettered at once with their reason,
// counted; the events claimed with them are delivered; `events list` shows them instead of crashing.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { Writable } from 'node:stream';
import winston from 'winston';
import path from 'node:path';
import { expect } from 'chai';
import client from 'prom-client';
import { parseForwardConfig } from '../../src/forward/config';
import { registerForwardMetrics } from '../../src/forward/metrics';
import { ForwardWorker } from '../../src/forward/worker';
import { parseStoreConfig, STORE_FILE_NAME } from '../../src/store/config';
import { openStore } from '../../src/store/open';
import type { Store, StoredEvent } from '../../src/store/types';
import { createLogger } from '../../src/telemetry/logger';
import { runCli } from '../cli/run-cli';
import { openSqliteFile } from '../support/sqlite-file';
import { dealEvent, SIGNING_SECRET, Upstream } from './support/upstream';

function nested(levels: number): unknown {
  let value: unknown = 'deep';
  for (let i = 0; i < levels; i++) value = { a: value };
  return value;
}

describe('forward: an unreadable stored event never blocks the others', function () {
  this.timeout(30_000);
  let dir: string;
  let store: Store;
  let upstream: Upstream;
  let worker: ForwardWorker | undefined;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'forward-unreadable-'));
    store = await openStore(parseStoreConfig({ DATA_DIR: dir }), { bodyLimitBytes: 262_144 });
    upstream = new Upstream();
    await upstream.start();
  });
  after(async () => {
    await worker?.stop(1000);
    await upstream.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('dead-letters bad JSON and deep nesting with a reason, counts them, and delivers the rest', async () => {
    const ids = [];
    for (let n = 1; n <= 4; n++) ids.push(await store.saveAccepted(dealEvent(n)));
    const deep = await store.saveAccepted({ ...dealEvent(5), data: nested(5000) });
    const file = openSqliteFile(path.join(dir, STORE_FILE_NAME));
    file.prepare('UPDATE events SET data = ? WHERE id = ?').run('{"FIELDS":{"ID":"2","TEXT":"cut', ids[1]);
    file.close();

    expect((await store.listEvents()).map((event) => event.unreadable)).to.deep.equal([
      undefined,
      'data is not valid JSON',
      undefined,
      undefined,
      'data nested deeper than 256 levels',
    ]);
    const registry = new client.Registry();
    worker = new ForwardWorker({
      store,
      config: parseForwardConfig(
        {
          FORWARD_URL: upstream.url,
          FORWARD_SIGNING_SECRET: SIGNING_SECRET,
          FORWARD_POLL_SECONDS: '0.02',
          FORWARD_RATE_PER_SECOND: '1000',
        },
        () => '',
      )!,
      tokens: [{ name: 'default', token: 'jvh9y1ulvt2m6k5or90v9mg8nn32ozas' }],
      logger: createLogger('error', [
        new winston.transports.Stream({ stream: new Writable({ write: (_chunk, _encoding, done) => done() }) }),
      ]),
      metrics: registerForwardMetrics(registry),
      owner: 'test-worker',
    });
    worker.start();
    const all = [...ids, deep];
    const deadline = Date.now() + 15_000;
    let events: StoredEvent[] = [];
    while (Date.now() < deadline) {
      events = await Promise.all(all.map(async (id) => (await store.getEvent(id))!));
      if (events.every((event) => event.status !== 'pending')) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(events.map((event) => [event.status, event.attempts, event.lastError])).to.deep.equal([
      ['delivered', 1, null],
      ['dead', 1, 'the stored event cannot be read: data is not valid JSON'],
      ['delivered', 1, null],
      ['delivered', 1, null],
      ['dead', 1, 'the stored event cannot be read: data nested deeper than 256 levels'],
    ]);
    const unreadable = await registry.getSingleMetric('bitrix_webhook_forward_unreadable_events_total')!.get();
    expect(unreadable.values.map((value) => value.value)).to.deep.equal([2]);
  });

  it('events list shows them, human-readable and as JSON', async () => {
    const listed = await runCli(['events', 'list', '--status', 'dead'], { DATA_DIR: dir });
    expect(listed.code, listed.stderr).to.equal(0);
    const lines = listed.stdout.split('\n').filter(Boolean);
    expect(lines.map((line) => line.slice(line.indexOf('unreadable:')))).to.deep.equal([
      'unreadable: data is not valid JSON',
      'unreadable: data nested deeper than 256 levels',
    ]);
    const json = await runCli(['events', 'list', '--status', 'dead', '--json'], { DATA_DIR: dir });
    expect(
      json.stdout
        .split('\n')
        .filter(Boolean)
        .map((line) => (JSON.parse(line) as StoredEvent).unreadable),
    ).to.have.length(2);
  });
});
