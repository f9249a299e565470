// Issue #8, item 2: a flood of slow gzip uploads, each a few hundred bytes that inflate to near BODY_LIMIT,
// once took the heap past its cap (1 200 of them killed a process capped at 256 MB). Bodies in flight are
// bounded (BODY_MEMORY_LIMIT): compressed ones may hold half of it, the rest get 503 overloaded at once,
// and /healthz and plain deliveries keep being served.

import net from 'node:net';
import zlib from 'node:zlib';
import { expect } from 'chai';
import { DEFAULTS, parseByteSize } from '../../src/config/load';
import { makeToken } from '../../scripts/bench/deliveries';
import { Client } from './support/client';
import { scrape, sumOf } from './support/prometheus-text';
import { spawnService, type RunningService } from '../support/spawn-service';

const TOKEN = makeToken(801);
const HEAP_CAP_MIB = 256;
const UPLOADS = 1_200;
/** What each upload inflates to: near the default BODY_LIMIT. */
const INFLATED_LENGTH = parseByteSize(DEFAULTS.bodyLimit) - 2048 + 'event='.length;
/** Compressed bodies may hold half the default budget, each counted for the bytes it inflated to (issue 16). */
const HELD = Math.floor(parseByteSize(DEFAULTS.bodyMemoryLimit) / 2 / INFLATED_LENGTH);
const OVERLOADED_ANSWER =
  /^HTTP\/1\.1 503 Service Unavailable\r\n(?:[^\r\n]+\r\n)*\r\n\{"status":"rejected","reason":"overloaded"\}$/;

interface Upload {
  socket: net.Socket;
  received: string;
  closed: boolean;
}

/** Headers and all of a gzip body but its 8-byte trailer: the server inflates it all and waits for the rest. */
function slowGzipUpload(port: number, gzipped: Buffer): Upload {
  const socket = net.connect(port, '127.0.0.1');
  const upload: Upload = { socket, received: '', closed: false };
  socket.on('connect', () => {
    socket.write(
      'POST /api/bitrix/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n' +
        `Content-Encoding: gzip\r\nContent-Length: ${gzipped.length}\r\n\r\n`,
    );
    socket.write(gzipped.subarray(0, gzipped.length - 8));
  });
  socket.on('data', (chunk: Buffer) => {
    upload.received += chunk.toString('latin1');
  });
  socket.on('error', () => undefined);
  socket.on('close', () => {
    upload.closed = true;
  });
  return upload;
}

describe('robustness: a flood of slow gzip uploads under a heap cap', function () {
  this.timeout(180_000);
  let service: RunningService;
  let client: Client;
  const uploads: Upload[] = [];

  before(async () => {
    service = await spawnService({
      env: {
        BITRIX24_OUTGOING_WEBHOOK_TOKEN: TOKEN,
        // Held uploads stay held for the whole test, whatever the machine's speed.
        BODY_TIMEOUT_SECONDS: '120',
        NODE_OPTIONS: `--max-old-space-size=${HEAP_CAP_MIB}`,
      },
    });
    client = new Client(service.url);
  });
  after(async () => {
    for (const upload of uploads) upload.socket.destroy();
    client?.close();
    if (service) await service.stop();
  });

  it(`holds ${HELD} of ${UPLOADS} uploads, answers the rest 503 overloaded with Retry-After, counts them, and keeps serving`, async () => {
    const inflated = `event=${'A'.repeat(parseByteSize(DEFAULTS.bodyLimit) - 2048)}`;
    expect(inflated.length).to.equal(INFLATED_LENGTH);
    const gzipped = zlib.gzipSync(inflated, { level: 9 });
    expect(gzipped.length).to.be.below(400);

    // In batches, so the listen backlog does not overflow; bounded in time.
    const deadline = Date.now() + 90_000;
    for (let i = 0; i < UPLOADS; i += 100) {
      for (let j = i; j < Math.min(UPLOADS, i + 100); j++) uploads.push(slowGzipUpload(service.port, gzipped));
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const expectedRefused = UPLOADS - HELD;
    while (Date.now() < deadline && uploads.filter((upload) => upload.closed).length < expectedRefused) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await new Promise((resolve) => setTimeout(resolve, 500)); // nothing more closes on its own
    const refused = uploads.filter((upload) => upload.closed);
    const held = uploads.filter((upload) => !upload.closed);

    expect(service.process.exitCode, `the service is still running; stderr: ${service.stderr().slice(-500)}`).to.equal(
      null,
    );
    expect(held.length, 'uploads held (no answer, connection open)').to.equal(HELD);
    expect(
      held.filter((upload) => upload.received !== ''),
      'held uploads answered',
    ).to.deep.equal([]);
    expect(refused.length).to.equal(expectedRefused);
    const wrong = refused.filter((upload) => !OVERLOADED_ANSWER.test(upload.received));
    expect(
      wrong.map((upload) => upload.received.slice(0, 200)),
      'refused uploads not answered 503 overloaded',
    ).to.deep.equal([]);
    expect(refused[0]!.received).to.include('\r\nRetry-After: 5\r\n').and.include('\r\nConnection: close\r\n');

    // While the flood holds its share: the service answers its probes and real (plain) deliveries.
    const health = await client.send({ method: 'GET', path: '/healthz', fresh: true });
    expect([health.status, health.json]).to.deep.equal([200, { status: 'ok' }]);
    const delivery = await client.deliver(TOKEN, 0, { fresh: true });
    expect([delivery.status, delivery.json]).to.deep.equal([200, { status: 'accepted' }]);
    const samples = await scrape(service.url);
    expect(sumOf(samples, 'bitrix_webhook_requests_rejected_total', { reason: 'overloaded' })).to.equal(
      expectedRefused,
    );
    expect(sumOf(samples, 'bitrix_webhook_requests_rejected_total', { reason: 'malformed_body' })).to.equal(0);
    const heapUsed = sumOf(samples, 'nodejs_heap_size_used_bytes');
    expect(heapUsed / 2 ** 20).to.be.below(HEAP_CAP_MIB);

    // Logged, rate-limited: one warn line per second at most, each saying how many it stands for.
    const lines = service.logs.filter((line) => line.reason === 'overloaded');
    expect(lines.length).to.be.within(1, 1 + (Date.now() - (deadline - 90_000)) / 1000);
    expect(lines[0]).to.deep.include({
      level: 'warn',
      message: 'webhook delivery refused',
      content_encoding: 'gzip',
      suppressed: 0,
    });
    const represented = lines.reduce((sum, line) => sum + 1 + Number(line.suppressed), 0);
    expect(represented).to.be.within(1, expectedRefused);
    console.log(
      `      ${held.length} held, ${refused.length} refused 503; ${lines.length} warn line(s); heap used ${(heapUsed / 2 ** 20).toFixed(1)} MiB (cap ${HEAP_CAP_MIB})`,
    );

    // When the flood goes away, its share is free again.
    for (const upload of held) upload.socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const again = await client.deliver(TOKEN, 1, { fresh: true });
    expect([again.status, again.json]).to.deep.equal([200, { status: 'accepted' }]);
    const one = slowGzipUpload(service.port, zlib.gzipSync('event=ONCRMDEALADD'));
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect([one.closed, one.received], 'a compressed upload after the flood is taken').to.deep.equal([false, '']);
    one.socket.destroy();
  });
});

describe('robustness: connections past MAX_CONNECTIONS', function () {
  this.timeout(60_000);
  let service: RunningService;
  const sockets: net.Socket[] = [];
  before(async () => {
    service = await spawnService({ env: { BITRIX24_OUTGOING_WEBHOOK_TOKEN: TOKEN, MAX_CONNECTIONS: '5' } });
  });
  after(async () => {
    for (const socket of sockets) socket.destroy();
    if (service) await service.stop();
  });

  it('are closed at once, counted as overloaded and logged; the service serves again once connections close', async () => {
    const open = () =>
      new Promise<{ socket: net.Socket; closed: Promise<void> }>((resolve) => {
        const socket = net.connect(service.port, '127.0.0.1');
        sockets.push(socket);
        socket.on('error', () => undefined);
        const closed = new Promise<void>((done) => socket.on('close', () => done()));
        socket.on('connect', () => resolve({ socket, closed }));
      });
    const idle = [];
    for (let i = 0; i < 5; i++) idle.push(await open());
    await new Promise((resolve) => setTimeout(resolve, 200)); // the server has accepted them
    const sixth = await open();
    const outcome = await Promise.race([
      sixth.closed.then(() => 'closed'),
      new Promise((resolve) => setTimeout(() => resolve('still open'), 5000)),
    ]);
    expect(outcome, 'a connection past MAX_CONNECTIONS').to.equal('closed');

    for (const { socket } of idle) socket.destroy();
    await Promise.all(idle.map(({ closed }) => closed));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const samples = await scrape(service.url);
    expect(sumOf(samples, 'bitrix_webhook_requests_rejected_total', { reason: 'overloaded' })).to.equal(1);
    const lines = service.logs.filter((line) => line.reason === 'overloaded');
    expect(lines).to.have.length(1);
    expect(lines[0]).to.deep.include({
      level: 'warn',
      message: 'connection refused: open connections at their bound',
      detail: '5 connections open (MAX_CONNECTIONS)',
      suppressed: 0,
    });
    const client = new Client(service.url);
    try {
      const delivery = await client.deliver(TOKEN, 0, { fresh: true });
      expect([delivery.status, delivery.json]).to.deep.equal([200, { status: 'accepted' }]);
    } finally {
      client.close();
    }
  });
});
