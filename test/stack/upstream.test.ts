import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { Webhook } from 'standardwebhooks';
import { ENV } from '../../src/vocabulary/env-names';
import { parseForwardConfig } from '../../src/forward/config';
import { signatureHeaders } from '../../src/forward/sign';
import { freePort } from '../support/loopback-http';
import { expect } from './expect';
import {
  commandOf,
  containerPorts,
  environmentOf,
  hostAndPort,
  loadCompose,
  mountsOf,
  repoPath,
  service,
  type Compose,
} from './repo';

const GUARD = 'bitrix24-webhook-guard';

describe('stack: the example upstream application', function () {
  this.timeout(30_000);
  let compose: Compose;
  before(() => {
    compose = loadCompose();
  });

  it('the service forwards to it, with the secret it verifies with, and a forwarding configuration the service accepts', () => {
    const guard = environmentOf(service(compose, GUARD));
    const upstream = service(compose, 'upstream');
    const env = environmentOf(upstream);
    const target = hostAndPort(guard[ENV.forwardUrl] ?? '');
    expect(target.host).to.equal('upstream');
    expect([...containerPorts(upstream)]).to.include(Number(env.PORT));
    expect(target.port).to.equal(Number(env.PORT));
    expect(guard[ENV.forwardSigningSecret], 'both sides must share the secret').to.equal(env.UPSTREAM_SIGNING_SECRET);
    expect(parseForwardConfig(guard, () => '')!.format).to.equal('json');
    expect(commandOf(upstream).join(' ')).to.equal('node /app/server.js');
    expect(mountsOf(upstream).map((mount) => [mount.source, mount.target])).to.deep.equal([
      ['./examples/upstream', '/app'],
    ]);
  });

  describe('examples/upstream/server.js, run as compose runs it', () => {
    let child: ChildProcess;
    let url: string;
    const lines: Array<Record<string, unknown>> = [];
    const secret = () => environmentOf(service(compose, 'upstream')).UPSTREAM_SIGNING_SECRET!;

    before(async () => {
      const port = await freePort();
      child = spawn(process.execPath, [repoPath('examples/upstream/server.js')], {
        env: { PATH: process.env.PATH ?? '', PORT: String(port), UPSTREAM_SIGNING_SECRET: secret() },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      readline
        .createInterface({ input: child.stdout! })
        .on('line', (line) => lines.push(JSON.parse(line) as Record<string, unknown>));
      const deadline = Date.now() + 10_000;
      while (!lines.some((line) => line.message === 'listening')) {
        if (Date.now() > deadline) throw new Error('the example upstream did not start');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      url = `http://127.0.0.1:${port}/bitrix24/events`;
    });
    after(() => child?.kill('SIGKILL'));

    const body = JSON.stringify({
      id: '01KB0W7Z5X0000000000000000',
      webhook: 'default',
      event: 'ONCRMDEALADD',
      portal: { domain: 'some-domain.bitrix24.com' },
    });
    const post = (headers: Record<string, string>, text = body) =>
      fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: text });

    it('accepts what the service signs, and what the standardwebhooks package signs (204, one log line, a repeat acknowledged once)', async () => {
      const key = Buffer.from(secret().slice('whsec_'.length), 'base64');
      expect((await post({ ...signatureHeaders(key, '01KB0W7Z5X0000000000000000', body) })).status).to.equal(204);
      const now = new Date();
      const other = body.replace('0000"', '0001"');
      const library = {
        'webhook-id': '01KB0W7Z5X0000000000000001',
        'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
        'webhook-signature': new Webhook(secret()).sign('01KB0W7Z5X0000000000000001', now, other),
      };
      expect((await post(library, other)).status).to.equal(204);
      expect((await post({ ...signatureHeaders(key, '01KB0W7Z5X0000000000000000', body) })).status).to.equal(204);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(
        lines.filter((line) => line.message !== 'listening').map((line) => [line.message, line.webhook_id]),
      ).to.deep.equal([
        ['event received', '01KB0W7Z5X0000000000000000'],
        ['event received', '01KB0W7Z5X0000000000000001'],
        ['duplicate delivery acknowledged', '01KB0W7Z5X0000000000000000'],
      ]);
    });

    it('refuses a tampered body, an old timestamp and a missing signature with 401', async () => {
      const key = Buffer.from(secret().slice('whsec_'.length), 'base64');
      const answers = [
        await post(
          { ...signatureHeaders(key, '01KB0W7Z5X0000000000000002', body) },
          body.replace('default', 'defaulT'),
        ),
        await post({
          ...signatureHeaders(key, '01KB0W7Z5X0000000000000002', body, new Date(Date.now() - 10 * 60_000)),
        }),
        await post({}),
      ];
      expect(await Promise.all(answers.map(async (answer) => [answer.status, await answer.json()]))).to.deep.equal([
        [401, { error: 'no matching signature' }],
        [401, { error: 'timestamp outside the tolerance' }],
        [401, { error: 'missing webhook-* headers' }],
      ]);
    });
  });
});
