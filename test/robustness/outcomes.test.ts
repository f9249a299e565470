// Issue #8, item 7: outcomes recorded as what they are. A body that does not arrive in time is a
// 408 request_timeout (it was counted as 400 malformed_body), and a POST to a wrong path is counted and
// logged (a Bitrix24 handler URL with a typo loses every event; it used to leave no log line at all).

import net from 'node:net';
import { expect } from 'chai';
import { makeToken } from '../../scripts/bench/deliveries';
import { startHarness, type Harness } from '../support/harness';
import { useRunningService } from './support/client';
import { scrape, sumOf } from './support/prometheus-text';

const TOKEN = makeToken(901);
const TIMEOUT_BODY = '{"status":"rejected","reason":"request_timeout"}';

/** Sends headers and the first part of a body that never finishes; resolves with all the server sent, at close. */
function unfinishedUpload(
  port: number,
  start = 'POST /api/bitrix/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n' +
    'Content-Length: 4000\r\n\r\nevent=ONCRMDEALADD&data%5BFIELDS%5D%5BID%5D=1',
): Promise<{ received: string; ms: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    socket.on('connect', () => socket.write(start));
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve({ received, ms: Date.now() - started }));
    setTimeout(() => socket.destroy(), 25_000); // bound: the server should have answered long before
  });
}

describe('robustness: outcomes recorded as what they are', function () {
  this.timeout(60_000);

  describe('a body that does not arrive within BODY_TIMEOUT_SECONDS', () => {
    const running = useRunningService({ BITRIX24_OUTGOING_WEBHOOK_TOKEN: TOKEN, BODY_TIMEOUT_SECONDS: '1' });

    it('is answered 408 request_timeout, counted as request_timeout (not malformed_body) and logged once', async () => {
      const cut = await unfinishedUpload(running.service.port);
      expect(cut.received).to.match(/^HTTP\/1\.1 408 Request Timeout\r\n/);
      expect(cut.received).to.include('\r\nConnection: close\r\n');
      expect(cut.received.slice(cut.received.indexOf('\r\n\r\n') + 4)).to.equal(TIMEOUT_BODY);
      // The server's own backstop (headers 10 s + body 1 s + 5 s) would cut it only after 16 s.
      expect(cut.ms, "cut by the 1 s body deadline, not the server's backstop").to.be.below(10_000);

      const samples = await scrape(running.service.url);
      expect(sumOf(samples, 'bitrix_webhook_requests_rejected_total', { reason: 'request_timeout' })).to.equal(1);
      expect(sumOf(samples, 'bitrix_webhook_requests_rejected_total', { reason: 'malformed_body' })).to.equal(0);
      expect(
        sumOf(samples, 'http_server_request_duration_seconds_count', {
          route: '/api/bitrix/webhook',
          status_code: '408',
        }),
      ).to.equal(1);
      const lines = running.service.logs.filter((line) => line.level === 'warn');
      expect(lines).to.have.length(1);
      expect(lines[0]).to.deep.include({
        message: 'webhook delivery refused',
        reason: 'request_timeout',
        detail: 'body not complete 1 s after the headers (BODY_TIMEOUT_SECONDS)',
        content_type: 'application/x-www-form-urlencoded',
        content_length: '4000',
        content_encoding: 'none',
        suppressed: 0,
      });
      const delivery = await running.client.deliver(TOKEN, 0);
      expect([delivery.status, delivery.json]).to.deep.equal([200, { status: 'accepted' }]);
    });

    it("counts a request cut by the server's header timeout as request_timeout too, with the same JSON 408", async () => {
      const cut = await unfinishedUpload(
        running.service.port,
        'POST /api/bitrix/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\n',
      );
      expect(cut.received).to.match(/^HTTP\/1\.1 408 Request Timeout\r\n/);
      expect(cut.received.slice(cut.received.indexOf('\r\n\r\n') + 4)).to.equal(TIMEOUT_BODY);
      const samples = await scrape(running.service.url);
      expect(sumOf(samples, 'bitrix_webhook_requests_rejected_total', { reason: 'request_timeout' })).to.equal(2);
      expect(sumOf(samples, 'bitrix_webhook_requests_rejected_total', { reason: 'malformed_body' })).to.equal(0);
      const lines = running.service.logs.filter((line) => line.message === 'request rejected: not received in time');
      expect(lines).to.have.length(1);
      expect(lines[0]).to.deep.include({
        level: 'warn',
        reason: 'request_timeout',
        detail: "cut by the server's header or request timeout",
        suppressed: 0,
      });
    });
  });

  describe('bodies cut by their deadline, one after another, with room for two in flight', () => {
    const running = useRunningService({
      BITRIX24_OUTGOING_WEBHOOK_TOKEN: TOKEN,
      BODY_TIMEOUT_SECONDS: '1',
      BODY_MEMORY_LIMIT: '512kb',
    });
    const start =
      'POST /api/bitrix/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n' +
      'Content-Length: 200000\r\n\r\nevent=ONCRMDEALADD';

    it('give their share of the body budget back: each is a 408, none a 503, and none is counted twice', async () => {
      const answers: string[] = [];
      for (let i = 0; i < 4; i++) {
        const cut = await unfinishedUpload(running.service.port, start);
        answers.push(cut.received.slice(0, cut.received.indexOf('\r\n')));
      }
      expect(answers).to.deep.equal(Array(4).fill('HTTP/1.1 408 Request Timeout'));
      await new Promise((resolve) => setTimeout(resolve, 300)); // the cut reads end after the answers
      const samples = await scrape(running.service.url);
      expect(sumOf(samples, 'bitrix_webhook_requests_rejected_total', { reason: 'request_timeout' })).to.equal(4);
      expect(sumOf(samples, 'bitrix_webhook_requests_rejected_total', { reason: 'malformed_body' })).to.equal(0);
      expect(sumOf(samples, 'bitrix_webhook_requests_rejected_total', { reason: 'overloaded' })).to.equal(0);
    });
  });

  describe('a POST to a path that is not the webhook route', () => {
    let harness: Harness;
    before(async () => {
      harness = await startHarness({ BITRIX24_OUTGOING_WEBHOOK_TOKEN: TOKEN });
    });
    after(async () => harness.close());

    it('is answered 404, counted as not_found and logged as warn with the path bounded; a GET is not counted', async () => {
      const typo = '/api/bitrix/webhok';
      const answer = await fetch(`${harness.url}${typo}?token=${TOKEN}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'event=ONCRMDEALADD',
      });
      expect([answer.status, await answer.json()]).to.deep.equal([404, { status: 'not_found' }]);
      const get = await fetch(`${harness.url}/favicon.ico`);
      expect(get.status).to.equal(404);

      expect(await harness.metricsText()).to.include('bitrix_webhook_requests_rejected_total{reason="not_found"} 1\n');
      const lines = harness.logs.filter((line) => line.level === 'warn');
      expect(lines).to.have.length(1);
      expect(lines[0]).to.deep.include({
        message: 'webhook delivery refused',
        stage: 'route',
        result: 'not_verified',
        reason: 'not_found',
        detail: 'no such path; the webhook path is /api/bitrix/webhook',
        diagnosis: 'wrong_path',
        path: typo,
        content_type: 'application/x-www-form-urlencoded',
        suppressed: 0,
      });
      expect(harness.rawLogs.join('\n')).not.to.include(TOKEN);
    });

    it('logs at most one line a second for a flood of them, bounding the path, and counts every one', async () => {
      await new Promise((resolve) => setTimeout(resolve, 1100)); // past the interval of the line above
      const before = harness.logs.length;
      const started = Date.now();
      const longPath = `/${'x'.repeat(5000)}`;
      for (let i = 0; i < 30; i++) {
        const answer = await fetch(`${harness.url}${longPath}`, {
          method: 'POST',
          body: 'a=1',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        });
        expect(answer.status).to.equal(404);
        await answer.arrayBuffer();
      }
      const elapsed = Date.now() - started;
      expect(await harness.metricsText()).to.include('bitrix_webhook_requests_rejected_total{reason="not_found"} 31\n');
      const lines = harness.logs.slice(before).filter((line) => line.reason === 'not_found');
      expect(lines.length).to.be.within(1, 1 + elapsed / 1000);
      expect(lines.reduce((sum, line) => sum + 1 + Number(line.suppressed), 0)).to.be.within(1, 30);
      for (const line of lines) expect(line.path).to.equal(`/${'x'.repeat(127)}`);
    });
  });
});
