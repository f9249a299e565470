// Issue #16, item 8: an upstream answer that echoes the token is redacted BEFORE it is cut: the stored last
// error and the log lines keep no part of the token, even where the cut falls inside it.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import Transport from 'winston-transport';
import { parseForwardConfig } from '../../src/forward/config';
import { ForwardWorker } from '../../src/forward/worker';
import { parseStoreConfig } from '../../src/store/config';
import { openStore } from '../../src/store/open';
import type { Store } from '../../src/store/types';
import { createLogger } from '../../src/telemetry/logger';
import { dealEvent, SIGNING_SECRET, Upstream } from './support/upstream';

const TOKEN = 'jvh9y1ulvt2m6k5or90v9mg8nn32ozas';

class Capture extends Transport {
  readonly text: string[] = [];
  override log(info: Record<string | symbol, unknown>, callback: () => void): void {
    this.text.push(String(info[Symbol.for('message')]));
    callback();
  }
}

describe('forward: an echoed token is redacted before the answer is cut', function () {
  this.timeout(30_000);
  let dir: string;
  let store: Store;
  let upstream: Upstream;
  let worker: ForwardWorker | undefined;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'forward-echo-'));
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

  it('keeps none of the token when the 200-byte cut falls inside it', async () => {
    // The token starts at byte 189 of the answer: a cut at 200 before redaction kept its first 11 characters.
    upstream.reply = (request) => ({
      status: 422,
      body: `${'x'.repeat(189)}${new URLSearchParams(request.body).get('auth[application_token]')} and more`,
    });
    const id = await store.saveAccepted(dealEvent(1));
    const capture = new Capture();
    worker = new ForwardWorker({
      store,
      config: parseForwardConfig(
        {
          FORWARD_URL: upstream.url,
          FORWARD_SIGNING_SECRET: SIGNING_SECRET,
          FORWARD_FORMAT: 'bitrix24',
          FORWARD_POLL_SECONDS: '0.02',
        },
        () => '',
      )!,
      tokens: [{ name: 'default', token: TOKEN }],
      logger: createLogger('debug', [capture]),
      owner: 'test-worker',
    });
    worker.start();
    const deadline = Date.now() + 10_000;
    while ((await store.getEvent(id))!.status === 'pending' && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 20));
    const event = (await store.getEvent(id))!;
    expect(event.status).to.equal('dead');
    expect(event.lastError).to.equal(`HTTP 422: ${'x'.repeat(189)}REDACTED an`);
    expect(capture.text.join('\n')).to.not.include(TOKEN.slice(0, 6));
  });
});
