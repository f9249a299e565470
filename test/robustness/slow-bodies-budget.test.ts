// Issue 16, item 9: the body budget is fair under slow clients. Bodies are charged for what they have sent,
// not for what they declare, and a body slower than BODY_MIN_BYTES_PER_SECOND is cut. Real sockets on
// loopback against the real app; bounded in count and time.
import net from 'node:net';
import { expect } from 'chai';
import { startHarness, type Harness } from '../support/harness';
import { CRM_DEAL_ADD, WEBHOOK_TOKEN } from '../support/bitrix-bodies';
import { Client, WEBHOOK_PATH } from './support/client';

const SLOW_BODIES = 300;

/** Opens a connection that sends its headers and a first few bytes of body, then nothing more. */
function openTrickle(url: string, chunked: boolean): Promise<net.Socket> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1', () => {
      const framing = chunked ? 'Transfer-Encoding: chunked' : 'Content-Length: 262144';
      socket.write(
        `POST ${WEBHOOK_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n${framing}\r\n\r\n`,
      );
      socket.write(chunked ? '5\r\nevent\r\n' : 'event');
      resolve(socket);
    });
    socket.on('error', () => undefined);
    socket.once('error', reject);
  });
}

/** The first status line a socket receives, or undefined when it closes without one. */
function statusOf(socket: net.Socket, timeoutMs: number): Promise<{ status: number | undefined; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    let text = '';
    const done = () =>
      resolve({
        status: /^HTTP\/1\.1 (\d{3})/.exec(text) ? Number(/^HTTP\/1\.1 (\d{3})/.exec(text)![1]) : undefined,
        ms: Date.now() - started,
      });
    const timer = setTimeout(done, timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (/^HTTP\/1\.1 \d{3}/.test(text)) {
        clearTimeout(timer);
        done();
      }
    });
    socket.once('close', () => {
      clearTimeout(timer);
      done();
    });
  });
}

describe('the body budget under slow clients', function () {
  this.timeout(120_000);
  let harness: Harness;
  let sockets: net.Socket[] = [];

  afterEach(async () => {
    for (const socket of sockets) socket.destroy();
    sockets = [];
    await harness?.close();
  });

  it(`answers a genuine delivery 200 while ${SLOW_BODIES} slow bodies (declared 256 KB or chunked) are open`, async () => {
    // The trickles must stay open for the whole test: no rate cut, a long body deadline.
    harness = await startHarness({
      BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
      BODY_TIMEOUT_SECONDS: '60',
      BODY_MIN_BYTES_PER_SECOND: '0',
    });
    for (let i = 0; i < SLOW_BODIES; i++) sockets.push(await openTrickle(harness.url, i % 2 === 1));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(sockets.filter((socket) => socket.destroyed)).to.have.length(0);
    const client = new Client(harness.url);
    try {
      const answer = await client.send({
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: CRM_DEAL_ADD,
        fresh: true,
      });
      expect(answer.status, answer.body).to.equal(200);
    } finally {
      client.close();
    }
  });

  it('cuts a body that arrives slower than BODY_MIN_BYTES_PER_SECOND long before BODY_TIMEOUT_SECONDS, with 408', async () => {
    harness = await startHarness({
      BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
      BODY_TIMEOUT_SECONDS: '60',
      BODY_MIN_BYTES_PER_SECOND: '1024',
    });
    const slow = await openTrickle(harness.url, false);
    sockets.push(slow);
    const answer = await statusOf(slow, 20_000);
    expect(answer.status).to.equal(408);
    expect(answer.ms).to.be.below(20_000);
    const line = harness.logs.find(
      (entry) => entry.message === 'webhook delivery refused' && entry.reason === 'request_timeout',
    );
    expect(line?.detail).to.equal('body arriving slower than 1024 bytes a second (BODY_MIN_BYTES_PER_SECOND)');
  });
});
