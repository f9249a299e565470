import net from 'node:net';
import { expect } from 'chai';
import { CRM_DEAL_ADD, WEBHOOK_TOKEN } from '../support/bitrix-bodies';
import { OtlpReceiver } from '../support/otlp-receiver';
import { spawnService } from '../support/spawn-service';

/** Opens a delivery, sends its headers and half its body, and returns a function that sends the rest. */
function halfSentDelivery(port: number, body: string): Promise<{ finish(): void; answer: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    const answer = new Promise<string>((done) => {
      socket.on('data', (chunk) => (received += chunk.toString('utf8')));
      socket.on('close', () => done(received));
    });
    socket.on('error', reject);
    socket.on('connect', () => {
      const bytes = Buffer.from(body, 'utf8');
      const half = Math.floor(bytes.length / 2);
      socket.write(
        `POST /api/bitrix/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n` +
          `Content-Length: ${bytes.length}\r\nConnection: close\r\n\r\n`,
      );
      socket.write(bytes.subarray(0, half), () => resolve({ finish: () => socket.write(bytes.subarray(half)), answer }));
    });
  });
}

describe('graceful shutdown (SIGTERM) of the real process', () => {
  const receiver = new OtlpReceiver();
  before(async () => receiver.start());
  after(async () => receiver.stop());

  it('answers every request in flight, refuses new connections, flushes spans and exits 0 within 10 s', async () => {
    const service = await spawnService({
      env: {
        BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_TRACES_EXPORTER: 'otlp',
        // Every trace, accepted ones included: the flush must deliver all 25.
        OTEL_TRACES_SAMPLER: 'always_on',
        // Nothing is exported on schedule during the test: only the shutdown flush can deliver the spans.
        OTEL_BSP_SCHEDULE_DELAY: '60000',
      },
    });
    const inFlight = await Promise.all(Array.from({ length: 25 }, () => halfSentDelivery(service.port, CRM_DEAL_ADD)));
    await new Promise((resolve) => setTimeout(resolve, 300));

    const started = Date.now();
    service.process.kill('SIGTERM');
    await service.waitForLog((line) => String(line.message).startsWith('shutting down'));
    // The listening socket is closed in the event loop turn after server.close(): give it that turn.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const refused = await new Promise<boolean>((resolve) => {
      const probe = net.connect(service.port, '127.0.0.1');
      probe.on('connect', () => { probe.destroy(); resolve(false); });
      probe.on('error', () => resolve(true));
    });
    expect(refused, 'a new connection after SIGTERM is refused').to.equal(true);

    for (const delivery of inFlight) delivery.finish();
    const answers = await Promise.all(inFlight.map((delivery) => delivery.answer));
    for (const answer of answers) {
      expect(answer).to.match(/^HTTP\/1\.1 200 OK\r\n/);
      expect(answer).to.include('{"status":"accepted"}');
    }
    const exitCode = await service.stop();
    expect(exitCode).to.equal(0);
    expect(Date.now() - started).to.be.below(10_000);
    const verifySpans = receiver.spans.filter((span) => span.name === 'bitrix.token.verify');
    expect(verifySpans).to.have.length(25);
    expect(service.logs.at(-1)?.message).to.equal('stopped');
  });
});
