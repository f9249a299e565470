import { expect } from 'chai';
import { CRM_DEAL_ADD, WEBHOOK_TOKEN, withoutToken } from '../support/bitrix-bodies';
import { OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver';
import { spawnService, type RunningService } from '../support/spawn-service';

const SERVER = 2;
const STATUS_ERROR = 2;
/** Trace ids outside and inside the default accepted ratio (0.1): their last 32 bits decide. */
const OUTSIDE = '4bf92f3577b34da6a3ce929dffffffff';
const INSIDE = '4bf92f3577b34da6a3ce929d00000001';
const unsampled = (traceId: string) => `00-${traceId}-00f067aa0ba902b7-00`;

describe('spans end to end: the real process exporting to a real OTLP/HTTP receiver', () => {
  const receiver = new OtlpReceiver();
  let service: RunningService;

  before(async () => {
    await receiver.start();
    service = await spawnService({
      env: {
        BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
        // Only the endpoint: exporting must follow from it, with no OTEL_TRACES_EXPORTER set.
        OTEL_TRACES_EXPORTER: undefined,
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_BSP_SCHEDULE_DELAY: '100',
      },
    });
    // Default sampling: the trace id of an (unsampled) incoming traceparent decides for accepted deliveries.
    const post = (body: string, traceId: string) =>
      fetch(`${service.url}/api/bitrix/webhook?x=1`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          traceparent: unsampled(traceId),
          'user-agent': 'Bitrix24 Webhook Engine',
        },
        body,
      });
    expect((await post(CRM_DEAL_ADD, OUTSIDE)).status).to.equal(200);
    expect((await post(CRM_DEAL_ADD, INSIDE)).status).to.equal(200);
    expect((await post(withoutToken(CRM_DEAL_ADD), OUTSIDE)).status).to.equal(401);
    await receiver.waitFor(() => receiver.spans.filter((span) => span.kind === SERVER).length >= 2);
    // Give a wrongly exported third trace the time to arrive (batches every 100 ms).
    await new Promise((resolve) => setTimeout(resolve, 500));
  });
  after(async () => {
    await service?.stop();
    await receiver.stop();
  });

  function traceOf(result: string): { server: ReceivedSpan; verify: ReceivedSpan; extracts: ReceivedSpan[] } {
    const verify = receiver.spans.find(
      (span) => span.name === 'bitrix.token.verify' && span.attributes['bitrix.token.result'] === result,
    )!;
    expect(verify, `verify span with result ${result}`).to.exist;
    const sameTrace = receiver.spans.filter((span) => span.traceId === verify.traceId);
    return {
      verify,
      server: sameTrace.find((span) => span.kind === SERVER)!,
      extracts: sameTrace.filter((span) => span.name.startsWith('bitrix.token.extract.')),
    };
  }

  it('exports under the service name bitrix24-webhook, over OTLP/HTTP JSON to /v1/traces', () => {
    expect(
      receiver.requests.some((req) => req.path === '/v1/traces' && req.contentType.includes('application/json')),
    ).to.equal(true);
    expect(receiver.spans[0]!.resource['service.name']).to.equal('bitrix24-webhook');
  });

  it('exports by outcome: the refused delivery and the accepted one inside the ratio, not the one outside', () => {
    const servers = receiver.spans.filter((span) => span.kind === SERVER);
    expect(servers.map((span) => [span.traceId, span.attributes['http.response.status_code']]).sort()).to.deep.equal([
      [INSIDE, 200],
      [OUTSIDE, 401],
    ]);
    expect(
      receiver.spans
        .filter((span) => span.traceId === OUTSIDE)
        .map((span) => span.name)
        .sort(),
    ).to.deep.equal([
      'POST /api/bitrix/webhook',
      'bitrix.store.write',
      'bitrix.token.extract.body',
      'bitrix.token.extract.header',
      'bitrix.token.extract.query',
      'bitrix.token.verify',
    ]);
  });

  it('makes the server span itself, with the HTTP semantic-convention attributes (no koa spans)', () => {
    const server = traceOf('accepted').server;
    expect(server.name).to.equal('POST /api/bitrix/webhook');
    expect(server.attributes).to.include({
      'http.request.method': 'POST',
      'url.path': '/api/bitrix/webhook',
      'url.query': 'x=REDACTED',
      'url.scheme': 'http',
      'http.route': '/api/bitrix/webhook',
      'http.response.status_code': 200,
      'client.address': '127.0.0.1',
      'server.address': '127.0.0.1',
      'user_agent.original': 'Bitrix24 Webhook Engine',
      'network.protocol.version': '1.1',
    });
    expect(server.attributes['client.port']).to.be.a('number');
    expect(
      receiver.spans.filter((span) => span.name.startsWith('router') || span.name.startsWith('middleware')),
    ).to.deep.equal([]);
  });

  it('nests verify under the HTTP server span and the three extract spans under verify', () => {
    for (const result of ['accepted', 'missing']) {
      const { server, verify, extracts } = traceOf(result);
      expect(server.name).to.match(/^POST/);
      expect(verify.parentSpanId).to.equal(server.spanId);
      expect(extracts.map((span) => span.name)).to.deep.equal([
        'bitrix.token.extract.body',
        'bitrix.token.extract.query',
        'bitrix.token.extract.header',
      ]);
      for (const span of extracts) expect(span.parentSpanId).to.equal(verify.spanId);
    }
  });

  it('carries the contract attributes and an ERROR status for the rejected delivery', () => {
    const accepted = traceOf('accepted');
    expect(accepted.verify.attributes).to.include({
      'bitrix.token.source': 'body',
      'bitrix.webhook.name': 'default',
      'bitrix.event': 'ONCRMDEALADD',
      'bitrix.portal.domain': 'some-domain.bitrix24.com',
      'bitrix.portal.member_id': 'd897063e1ce7c5eb9f04b9751eef5915',
    });
    expect(accepted.extracts[0]!.attributes).to.include({
      'bitrix.token.found': true,
      'bitrix.token.fingerprint': 'ce338b01',
    });
    const missing = traceOf('missing');
    expect(missing.verify.status.code).to.equal(STATUS_ERROR);
    expect(missing.verify.attributes['bitrix.token.source']).to.equal('none');
    expect(missing.extracts.map((span) => span.attributes['bitrix.token.found'])).to.deep.equal([false, false, false]);
    expect(JSON.stringify(receiver.spans)).not.to.include(WEBHOOK_TOKEN);
  });

  it('says at start-up where traces go', async () => {
    const line = await service.waitForLog((entry) => entry.message === 'bitrix24-webhook-guard starting');
    expect(line.telemetry).to.equal(
      `traces: otlp http/json to ${receiver.url}, refused or failed deliveries in full, 10% of accepted ones (BITRIX24_TRACES_ACCEPTED_RATIO); logs: not exported`,
    );
  });
});

describe('the old path, kept for comparison: BITRIX24_TRACES_SERVER_SPAN=instrumentation', () => {
  const receiver = new OtlpReceiver();
  let service: RunningService;
  before(async () => {
    await receiver.start();
    service = await spawnService({
      env: {
        BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
        BITRIX24_TRACES_SERVER_SPAN: 'instrumentation',
        OTEL_TRACES_EXPORTER: undefined,
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_BSP_SCHEDULE_DELAY: '100',
      },
    });
    const answer = await fetch(`${service.url}/api/bitrix/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: withoutToken(CRM_DEAL_ADD),
    });
    expect(answer.status).to.equal(401);
    await receiver.waitFor(() => receiver.spans.some((span) => span.kind === SERVER));
  });
  after(async () => {
    await service?.stop();
    await receiver.stop();
  });

  it('has the http instrumentation make the server span and koa the router span, verify still a child of the server span', () => {
    const server = receiver.spans.find((span) => span.kind === SERVER)!;
    const verify = receiver.spans.find((span) => span.name === 'bitrix.token.verify')!;
    expect(verify.parentSpanId).to.equal(server.spanId);
    expect(receiver.spans.map((span) => span.name)).to.include('router - /api/bitrix/webhook');
    expect(server.attributes['http.route']).to.equal('/api/bitrix/webhook');
  });
});
