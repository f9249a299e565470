import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { expect } from 'chai';
import { CRM_DEAL_ADD, WEBHOOK_TOKEN } from '../support/bitrix-bodies';
import { startHarness, type Harness } from '../support/harness';
import { memoryExporter } from '../support/tracing-setup';
import { traceRequests } from '../../src/telemetry/server-span';
import { outgoingUrlAttributes } from '../../src/telemetry/outgoing-url';

const PATH = '/api/bitrix/webhook';

/** One request written byte for byte on a socket of its own; resolves with the raw answer and the client port. */
function rawRequest(port: number, text: string): Promise<{ answer: string; clientPort: number }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(text));
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('end', () => resolve({ answer, clientPort: socket.localPort! }));
    socket.on('error', reject);
  });
}

const serverSpans = () => memoryExporter.getFinishedSpans().filter((span) => span.kind === SpanKind.SERVER);

async function waitFor<T>(read: () => T | undefined, what: string, ms = 3000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("the service's own HTTP server span", () => {
  let harness: Harness;
  afterEach(async () => harness?.close());

  it('carries exactly the HTTP semantic-convention attributes, every query value redacted', async () => {
    harness = await startHarness({ BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN });
    const port = Number(new URL(harness.url).port);
    const body = CRM_DEAL_ADD;
    const { answer, clientPort } = await rawRequest(
      port,
      `POST ${PATH}?token=${WEBHOOK_TOKEN}&x=1 HTTP/1.1\r\nHost: hooks.example.com:8443\r\nUser-Agent: Bitrix24 Webhook Engine\r\n` +
        `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    expect(answer).to.match(/^HTTP\/1\.1 200 OK\r\n/);
    const span = await waitFor(() => serverSpans()[0], 'the server span');
    expect(span.name).to.equal(`POST ${PATH}`);
    expect(span.attributes).to.deep.equal({
      'http.request.method': 'POST',
      'url.path': PATH,
      'url.query': 'token=REDACTED&x=REDACTED',
      'url.scheme': 'http',
      'network.protocol.version': '1.1',
      'client.address': '127.0.0.1',
      'client.port': clientPort,
      'server.address': 'hooks.example.com',
      'server.port': 8443,
      'user_agent.original': 'Bitrix24 Webhook Engine',
      'http.route': PATH,
      'http.response.status_code': 200,
    });
    expect(span.status).to.deep.equal({ code: SpanStatusCode.UNSET });
    expect(span.parentSpanContext).to.equal(undefined);
  });

  it('bounds the user agent and the path, and names an unmatched route by its method only', async () => {
    harness = await startHarness({ BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN });
    const port = Number(new URL(harness.url).port);
    const { answer } = await rawRequest(
      port,
      `GET /${'p'.repeat(400)} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: a\tb${'u'.repeat(400)}\r\nConnection: close\r\n\r\n`,
    );
    expect(answer).to.match(/^HTTP\/1\.1 404 /);
    const span = await waitFor(() => serverSpans()[0], 'the server span');
    expect(span.name).to.equal('GET');
    expect(span.attributes['url.path']).to.equal(`/${'p'.repeat(255)}`);
    expect(span.attributes['user_agent.original']).to.equal(`ab${'u'.repeat(254)}`);
    expect(span.attributes['http.response.status_code']).to.equal(404);
    expect(span.attributes['server.address']).to.equal('127.0.0.1');
    expect(span.attributes['server.port']).to.equal(port);
    expect(span.attributes).not.to.have.property('http.route');
  });

  // HTTP semantic conventions: a SERVER span is an error only for 5xx; a 4xx is the client's mistake, not the
  // server's. Refusals are errors of their verify span (and are exported in full), never of the server span.
  it('leaves the server span of every 4xx answer UNSET, with no error.type: refusals, unknown paths, wrong methods', async () => {
    harness = await startHarness({ BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN });
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const requests: Array<[string, RequestInit, number]> = [
      [PATH, { method: 'POST', headers: form, body: CRM_DEAL_ADD.replace(WEBHOOK_TOKEN, 'x'.repeat(32)) }, 403],
      [PATH, { method: 'POST', headers: form, body: 'event=ONCRMDEALADD&data%5BFIELDS%5D%5BID%5D=1' }, 401],
      [PATH, { method: 'POST', headers: { 'content-type': 'image/png' }, body: 'x' }, 415],
      [PATH, { method: 'GET' }, 405],
      ['/elsewhere', { method: 'POST', headers: form, body: CRM_DEAL_ADD }, 404],
    ];
    for (const [path, init, status] of requests) {
      memoryExporter.reset();
      expect((await fetch(`${harness.url}${path}`, init)).status, path).to.equal(status);
      const span = await waitFor(() => serverSpans()[0], `the server span of the ${status}`);
      expect(span.attributes['http.response.status_code']).to.equal(status);
      expect(span.status, String(status)).to.deep.equal({ code: SpanStatusCode.UNSET });
      expect(span.attributes, String(status)).not.to.have.property('error.type');
    }
  });

  it('does not trace scrapes and probes', async () => {
    harness = await startHarness({ BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN });
    for (const path of ['/metrics', '/healthz', '/readyz?x=1'])
      expect((await fetch(`${harness.url}${path}`)).status).to.equal(200);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(memoryExporter.getFinishedSpans()).to.deep.equal([]);
  });
});

describe('when the server span ends (a bare listener wrapped as the service wraps the app)', () => {
  let server: http.Server;
  afterEach(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );

  async function listen(listener: http.RequestListener): Promise<number> {
    memoryExporter.reset();
    server = http.createServer(traceRequests(listener));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  }

  it('ends when the response is finished, not when the listener returns', async () => {
    let finish: (() => void) | undefined;
    const returned: number[] = [];
    const port = await listen((_request, response) => {
      finish = () => response.end('done');
      returned.push(memoryExporter.getFinishedSpans().length);
    });
    const answered = fetch(`http://127.0.0.1:${port}/late`).then((r) => r.text());
    await waitFor(() => (finish ? true : undefined), 'the request');
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(returned).to.deep.equal([0]);
    expect(memoryExporter.getFinishedSpans()).to.deep.equal([]);
    finish!();
    expect(await answered).to.equal('done');
    const span = await waitFor(() => serverSpans()[0], 'the server span');
    expect(span.attributes['http.response.status_code']).to.equal(200);
    expect(span.status).to.deep.equal({ code: SpanStatusCode.UNSET });
  });

  it('ends when the client closes the connection before the answer, as an ERROR without a status code', async () => {
    let responded = false;
    const port = await listen((_request, response) => {
      response.on('close', () => (responded = response.writableFinished));
    });
    const socket = net.connect(port, '127.0.0.1', () => socket.write('GET /never HTTP/1.1\r\nHost: x\r\n\r\n'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(memoryExporter.getFinishedSpans()).to.deep.equal([]);
    socket.destroy();
    const span = await waitFor(() => serverSpans()[0], 'the server span');
    expect(responded).to.equal(false);
    expect(span.status).to.deep.equal({
      code: SpanStatusCode.ERROR,
      message: 'connection closed before the response was finished',
    });
    expect(span.attributes['error.type']).to.equal('connection_closed');
    expect(span.attributes).not.to.have.property('http.response.status_code');
  });

  it('marks a 5xx answer as ERROR, with error.type the status code', async () => {
    const port = await listen((_request, response) => response.writeHead(503).end());
    expect((await fetch(`http://127.0.0.1:${port}/`)).status).to.equal(503);
    const span = await waitFor(() => serverSpans()[0], 'the server span');
    expect(span.status).to.deep.equal({ code: SpanStatusCode.ERROR });
    expect(span.attributes).to.include({ 'http.response.status_code': 503, 'error.type': '503' });
  });
});

describe('requests Node answers before the app', () => {
  let harness: Harness;
  afterEach(async () => harness?.close());

  const counted = async (status: string) => {
    const match = new RegExp(
      `^bitrix_webhook_requests_answered_by_node_total\\{status_code="${status}"\\} (\\d+)$`,
      'm',
    ).exec(await harness.metricsText());
    return Number(match![1]);
  };

  it('counts a request cut by the request timeout (408), exactly once, and answers it as Node would', async () => {
    harness = await startHarness(
      { BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN },
      {},
      {
        serverOptions: { requestTimeout: 300, headersTimeout: 300, connectionsCheckingInterval: 50 },
      },
    );
    const before = { '408': await counted('408'), '400': await counted('400') };
    const { answer } = await rawRequest(Number(new URL(harness.url).port), `POST ${PATH} HTTP/1.1\r\nHost: x\r\n`);
    const json = JSON.stringify({ status: 'rejected', reason: 'request_timeout' });
    expect(answer).to.equal(
      `HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${json.length}\r\nConnection: close\r\n\r\n${json}`,
    );
    expect(await counted('408')).to.equal(before['408'] + 1);
    expect(await counted('400')).to.equal(before['400']);
    expect(serverSpans()).to.deep.equal([]);
  });

  it('counts a request that does not parse (400)', async () => {
    harness = await startHarness({ BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN });
    const before = await counted('400');
    const { answer } = await rawRequest(Number(new URL(harness.url).port), 'NOT HTTP AT ALL\r\n\r\n');
    expect(answer).to.equal('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    expect(await counted('400')).to.equal(before + 1);
  });
});

describe('outgoing request URLs on client spans', () => {
  it('redacts every query value and drops user information', () => {
    expect(outgoingUrlAttributes('https://user:secret@hooks.example.com:8443/in?token=abc&x=1#frag')).to.deep.equal({
      'url.full': 'https://hooks.example.com:8443/in?token=REDACTED&x=REDACTED',
      'url.query': 'token=REDACTED&x=REDACTED',
    });
    expect(outgoingUrlAttributes('http://hooks.example.com/in')).to.deep.equal({
      'url.full': 'http://hooks.example.com/in',
    });
  });
});
