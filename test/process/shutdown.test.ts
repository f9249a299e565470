import http from 'node:http';
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
      socket.write(bytes.subarray(0, half), () =>
        resolve({ finish: () => socket.write(bytes.subarray(half)), answer }),
      );
    });
  });
}

function connectionRefused(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const probe = net.connect(port, '127.0.0.1');
    probe.on('connect', () => {
      probe.destroy();
      resolve(false);
    });
    probe.on('error', () => resolve(true));
  });
}

interface Answer {
  status: number;
  body: string;
  connection: string | undefined;
  sentAt: number;
}

function post(agent: http.Agent, port: number, body: string): Promise<Answer> {
  const sentAt = Date.now();
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent,
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/api/bitrix/webhook',
        timeout: 15_000,
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: text, connection: res.headers.connection, sentAt }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer in 15 s')));
    req.on('error', (error: NodeJS.ErrnoException) =>
      reject(Object.assign(error, { reusedSocket: req.reusedSocket, at: Date.now() })),
    );
    req.end(body);
  });
}

async function getJson(port: number, path: string): Promise<{ status: number; json: unknown }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: response.status, json: await response.json() };
}

describe('graceful shutdown (SIGTERM) of the real process', function () {
  this.timeout(60_000);
  const receiver = new OtlpReceiver();
  before(async () => receiver.start());
  after(async () => receiver.stop());

  it('answers every request in flight, refuses new connections after the drain, flushes spans and exits 0', async () => {
    const service = await spawnService({
      env: {
        BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
        SHUTDOWN_DRAIN_SECONDS: '0.5',
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
    await service.waitForLog((line) => String(line.message).startsWith('drain over'));
    // The listening socket is closed in the event loop turn after server.close(): give it that turn.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await connectionRefused(service.port), 'a new connection after the drain is refused').to.equal(true);

    for (const delivery of inFlight) delivery.finish();
    const answers = await Promise.all(inFlight.map((delivery) => delivery.answer));
    for (const answer of answers) {
      expect(answer).to.match(/^HTTP\/1\.1 200 OK\r\n/);
      expect(answer).to.include('\r\nConnection: close\r\n');
      expect(answer).to.include('{"status":"accepted"}');
    }
    const exitCode = await service.stop();
    expect(exitCode).to.equal(0);
    expect(Date.now() - started).to.be.below(10_000);
    const verifySpans = receiver.spans.filter((span) => span.name === 'bitrix.token.verify');
    expect(verifySpans).to.have.length(25);
    expect(service.logs.at(-1)?.message).to.equal('stopped');
  });

  it('keeps serving 16 keep-alive clients through the drain with Connection: close on every answer, says shutting_down on /readyz, and cuts no request it read', async () => {
    const service = await spawnService({
      env: { BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN, SHUTDOWN_DRAIN_SECONDS: '2', LOG_LEVEL: 'debug' },
    });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    const answers: Answer[] = [];
    const failures: Array<{ code: string; reusedSocket: boolean; at: number }> = [];
    let stopLoad = false;
    const loadEnds = Date.now() + 20_000; // a bound in time; the listener closing ends each client sooner
    const clients = Array.from({ length: 16 }, async () => {
      for (let i = 0; i < 2_000 && !stopLoad && Date.now() < loadEnds; i++) {
        try {
          answers.push(await post(agent, service.port, CRM_DEAL_ADD));
        } catch (error) {
          const { code, reusedSocket, at } = error as NodeJS.ErrnoException & { reusedSocket: boolean; at: number };
          // Refused: the listener is closed after the drain, so the request was never sent. This client is done.
          if (code === 'ECONNREFUSED') return;
          failures.push({ code: code ?? (error as Error).message, reusedSocket, at });
        }
      }
    });

    await new Promise((resolve) => setTimeout(resolve, 1000));
    const beforeSigterm = answers.length;
    service.process.kill('SIGTERM');
    const shuttingDown = await service.waitForLog((line) => String(line.message).startsWith('shutting down'));
    const signalled = Date.parse(String(shuttingDown.timestamp));
    const readyz = await getJson(service.port, '/readyz');
    const healthz = await getJson(service.port, '/healthz');
    const drainOver = Date.parse(
      String((await service.waitForLog((line) => String(line.message).startsWith('drain over'))).timestamp),
    );
    await Promise.race([Promise.all(clients), new Promise((resolve) => setTimeout(resolve, 15_000))]);
    stopLoad = true;
    await Promise.all(clients);
    agent.destroy();
    const exitCode = await service.stop();

    const afterSignal = answers.filter((answer) => answer.sentAt > signalled + 50);
    const accepted = service.logs.filter((line) => line.message === 'webhook delivery accepted').length;
    console.log(
      `      ${beforeSigterm} answers before SIGTERM, ${answers.length} in all, ${afterSignal.length} to requests sent after it; ` +
        `${failures.length} reset(s) of connections still in the accept queue when the listener closed`,
    );
    expect(readyz).to.deep.equal({ status: 503, json: { status: 'not_ready', reason: 'shutting_down' } });
    expect(healthz).to.deep.equal({ status: 200, json: { status: 'ok' } });
    // Closing the listener resets connections still in the kernel's accept queue: the server never read
    // their requests (the client may retry them). Every other failure is a request cut.
    const cut = failures.filter(
      (failure) => !(failure.code === 'ECONNRESET' && !failure.reusedSocket && failure.at >= drainOver),
    );
    expect(cut, 'requests cut or failed on a connection the server had accepted').to.deep.equal([]);
    expect(answers.filter((answer) => answer.status !== 200 || answer.body !== '{"status":"accepted"}')).to.deep.equal(
      [],
    );
    expect(accepted, 'deliveries the server read and accepted = answers the clients received').to.equal(answers.length);
    expect(beforeSigterm).to.be.greaterThan(16);
    expect(afterSignal.length, 'deliveries served during the drain').to.be.greaterThan(16);
    expect(
      afterSignal.filter((answer) => answer.connection !== 'close'),
      'answers after SIGTERM without Connection: close',
    ).to.deep.equal([]);
    expect(exitCode).to.equal(0);
    expect(service.logs.at(-1)?.message).to.equal('stopped');
  });
});
