import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { parseStoreConfig } from '../../src/store/config';
import { openStore } from '../../src/store/open';
import type { Store } from '../../src/store/types';
import { runCli } from '../cli/run-cli';
import { dealEvent } from './support/upstream';

// `events redeliver` as the bin runs it, on the same SQLite file as the test's store.

describe('forward: events redeliver (CLI)', function () {
  this.timeout(30_000);
  let dir: string;
  let store: Store;
  const env = () => ({ DATA_DIR: dir });

  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'redeliver-'));
    store = await openStore(parseStoreConfig({ DATA_DIR: dir }), { bodyLimitBytes: 262_144 });
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A stored event made dead the way the worker makes it: claimed, then a permanent refusal. */
  async function deadEvent(n: number): Promise<string> {
    const id = await store.saveAccepted(dealEvent(n));
    const [claimed] = await store.claimDue('test', 60_000, 1);
    expect(claimed!.id).to.equal(id);
    expect(await store.recordAttempt(id, 'test', { result: 'dead', error: 'HTTP 410' })).to.equal(true);
    return id;
  }

  it('<id>: that dead event is pending again, due now, attempts from zero; a pending one is left alone (exit 1)', async () => {
    const dead = await deadEvent(1);
    const pending = await store.saveAccepted(dealEvent(2));
    const result = await runCli(['events', 'redeliver', dead, pending, '--json'], env());
    expect([result.code, result.stdout, result.stderr]).to.deep.equal([
      1,
      `${JSON.stringify({ redelivered: [dead], not_dead: [pending] })}\n`,
      '',
    ]);
    const event = (await store.getEvent(dead))!;
    expect([event.status, event.attempts, event.leaseOwner]).to.deep.equal(['pending', 0, null]);
    expect(event.nextAttemptAt.getTime()).to.be.at.most(Date.now());
  });

  it('--all-dead: every dead event, human-readable, exit 0', async () => {
    const first = await deadEvent(1);
    const second = await deadEvent(2);
    const result = await runCli(['events', 'redeliver', '--all-dead'], env());
    expect([result.code, result.stdout]).to.deep.equal([0, `2 dead events reset to pending: ${first} ${second}\n`]);
    expect((await store.forwardStats()).dead).to.equal(0);
    const again = await runCli(['events', 'redeliver', '--all-dead'], env());
    expect([again.code, again.stdout]).to.deep.equal([0, '0 dead events reset to pending\n']);
  });

  it('neither ids nor --all-dead, or both: exit 2 with the usage', async () => {
    const neither = await runCli(['events', 'redeliver'], env());
    const both = await runCli(['events', 'redeliver', 'X', '--all-dead'], env());
    const expected = [2, '', 'events redeliver: give event ids or --all-dead (one of the two)\n'];
    expect([neither.code, neither.stdout, neither.stderr]).to.deep.equal(expected);
    expect([both.code, both.stdout, both.stderr]).to.deep.equal(expected);
  });
});
