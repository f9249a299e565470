// Issue #5: slow or half-sent requests (slowloris) are cut off by the server's timeouts
// (headersTimeout 10 s, requestTimeout 15 s, checked every 1 s) and do not hold the service:
// while they hang, normal deliveries are answered promptly.

import net from 'node:net';
import { expect } from 'chai';
import { makeToken } from '../../scripts/bench/deliveries';
import { useRunningService } from './support/client';

const TOKEN = makeToken(201);

interface Hanging {
  kind: string;
  openedAt: number;
  closedAt?: number;
  received: string;
  socket: net.Socket;
}

describe('robustness: slow and half-sent requests', function () {
  this.timeout(90_000);
  // BODY_TIMEOUT_SECONDS is what this test holds to; the minimum body rate (which cuts sooner) has its own test.
  const running = useRunningService({ BITRIX24_OUTGOING_WEBHOOK_TOKEN: TOKEN, BODY_MIN_BYTES_PER_SECOND: '0' });

  it('cuts off trickled headers, idle connections and unfinished bodies, and keeps answering deliveries meanwhile', async () => {
    const hanging: Hanging[] = [];
    const timers: NodeJS.Timeout[] = [];
    const open = (kind: string, onConnect: (socket: net.Socket, h: Hanging) => void) => {
      const socket = net.connect(running.service.port, '127.0.0.1');
      const h: Hanging = { kind, openedAt: Date.now(), received: '', socket };
      hanging.push(h);
      socket.on('connect', () => onConnect(socket, h));
      socket.on('data', (chunk: Buffer) => {
        h.received += chunk.toString('latin1');
      });
      socket.on('error', () => {
        /* a reset also ends it */
      });
      socket.on('close', () => {
        h.closedAt ??= Date.now();
      });
    };
    /** Writes `text` one byte every `everyMs` until it is written or the socket closes (bounded by the text length). */
    const trickle = (socket: net.Socket, text: string, everyMs: number) => {
      let i = 0;
      const timer = setInterval(() => {
        if (i >= text.length || socket.destroyed) {
          clearInterval(timer);
          return;
        }
        socket.write(text[i++]!);
      }, everyMs);
      timers.push(timer);
    };
    const longHeaders =
      'POST /api/bitrix/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n' +
      'X-Slow: ' +
      'a'.repeat(400) +
      '\r\n';

    for (let i = 0; i < 10; i++) open('idle (connects, sends nothing)', () => undefined);
    for (let i = 0; i < 10; i++) open('headers trickled byte by byte', (socket) => trickle(socket, longHeaders, 100));
    for (let i = 0; i < 5; i++) {
      open('body never finished', (socket) =>
        socket.write(
          'POST /api/bitrix/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 4000\r\n\r\nevent=ONCRMDEALADD&auth%5Bapplication_token%5D=',
        ),
      );
    }
    for (let i = 0; i < 5; i++) {
      open('body trickled byte by byte', (socket) => {
        socket.write(
          'POST /api/bitrix/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n',
        );
        trickle(socket, 'event=ONCRMDEALADD&data%5BFIELDS%5D%5BID%5D=1&'.repeat(20), 100);
      });
    }
    for (let i = 0; i < 5; i++) {
      open('chunked body never finished', (socket) =>
        socket.write(
          'POST /api/bitrix/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nevent=ONCRMDEALA',
        ),
      );
    }

    // Meanwhile: a normal delivery every 250 ms, each on a fresh connection (as Bitrix24 would send it).
    const started = Date.now();
    const answers: Array<{ at: number; status: number | string; ms: number }> = [];
    const deadline = started + 25_000;
    let shape = 0;
    while (Date.now() < deadline && (hanging.some((h) => h.closedAt === undefined) || answers.length < 8)) {
      const t0 = Date.now();
      try {
        const answer = await running.client.deliver(TOKEN, shape++, { fresh: true, timeoutMs: 5000 });
        answers.push({ at: t0 - started, status: answer.status, ms: answer.ms });
      } catch (err) {
        answers.push({ at: t0 - started, status: (err as Error).message, ms: Date.now() - t0 });
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    timers.forEach(clearInterval);
    const stillOpen = hanging.filter((h) => h.closedAt === undefined);
    for (const h of hanging) h.socket.destroy();

    const slowest = Math.max(...answers.map((a) => a.ms));
    const bad = answers.filter((a) => a.status !== 200 || a.ms > 1000);
    expect(
      bad,
      `deliveries while ${hanging.length} slow connections hung (slowest ${slowest.toFixed(0)} ms of ${answers.length})`,
    ).to.deep.equal([]);
    expect(answers.length, 'deliveries sent while the slow connections hung').to.be.greaterThan(20);
    expect(
      stillOpen.map((h) => h.kind),
      'connections still held open by the server after 25 s',
    ).to.deep.equal([]);
    for (const h of hanging) {
      const heldMs = h.closedAt! - h.openedAt;
      expect(heldMs, `${h.kind}: held ${heldMs} ms`).to.be.within(8_000, 20_000);
      expect(h.received, `${h.kind}: what the server sent before closing`).to.satisfy(
        (text: string) => text === '' || /^HTTP\/1\.1 (408|400|413)/.test(text),
      );
    }
    const summary = [...new Set(hanging.map((h) => h.kind))].map((kind) => {
      const ofKind = hanging.filter((h) => h.kind === kind);
      return `${kind}: closed after ${Math.min(...ofKind.map((h) => h.closedAt! - h.openedAt))}–${Math.max(...ofKind.map((h) => h.closedAt! - h.openedAt))} ms`;
    });
    console.log(
      `      ${summary.join('\n      ')}\n      ${answers.length} deliveries meanwhile, slowest ${slowest.toFixed(1)} ms`,
    );
    expect((await running.client.deliver(TOKEN, 0)).status, 'a delivery afterwards').to.equal(200);
  });
});
