// Issue #16: what Node's HTTP server answers itself, before the app sees a request, is the status the
// README names: headers too large are 431, chunk extensions too large 413, an unparseable request 400;
// each is counted under its own status (a misspelt key in RAW_ANSWERS answered 431 cases as 400).

import net from 'node:net';
import { expect } from 'chai';
import { startHarness, type Harness } from '../support/harness';
import { answeredByNode } from '../../src/telemetry/node-answers';

const TOKEN = 'jvh9y1ulvt2m6k5or90v9mg8nn32ozas';

/** Writes `request` raw on a fresh connection; resolves with everything the server sent until it closed. */
function rawExchange(port: number, request: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(received));
    setTimeout(() => socket.destroy(), 10_000);
  });
}

describe('answers Node gives before the app sees a request', function () {
  this.timeout(20_000);
  let harness: Harness;
  let port: number;
  before(async () => {
    harness = await startHarness(
      { BITRIX24_OUTGOING_WEBHOOK_TOKEN: TOKEN },
      {},
      { serverOptions: { maxHeaderSize: 2048 } },
    );
    port = Number(new URL(harness.url).port);
  });
  after(() => harness.close());

  it('answers headers over the limit 431 Request Header Fields Too Large, counted as 431', async () => {
    const before = answeredByNode['431'];
    const received = await rawExchange(
      port,
      `POST /api/bitrix/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ${'a'.repeat(4096)}\r\n\r\n`,
    );
    expect(received.split('\r\n')[0]).to.equal('HTTP/1.1 431 Request Header Fields Too Large');
    expect(answeredByNode['431'] - before).to.equal(1);
  });

  it('answers chunk extensions over the limit 413, counted as 413', async () => {
    const before = answeredByNode['413'];
    const received = await rawExchange(
      port,
      'POST /api/bitrix/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n' +
        `Transfer-Encoding: chunked\r\n\r\n1;${'x'.repeat(20_000)}\r\na\r\n0\r\n\r\n`,
    );
    expect(received.split('\r\n')[0]).to.equal('HTTP/1.1 413 Payload Too Large');
    expect(answeredByNode['413'] - before).to.equal(1);
  });

  it('answers a request that does not parse 400, counted as 400', async () => {
    const before = answeredByNode['400'];
    const received = await rawExchange(port, 'POST /api/bitrix/webhook HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n');
    expect(received.split('\r\n')[0]).to.equal('HTTP/1.1 400 Bad Request');
    expect(answeredByNode['400'] - before).to.equal(1);
  });
});
