import { expect } from 'chai';
import { CRM_DEAL_ADD, WEBHOOK_TOKEN, withoutToken } from '../support/bitrix-bodies';
import { OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver';
import { spawnService, type RunningService } from '../support/spawn-service';

const SERVER = 2;
const STATUS_ERROR = 2;

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
    const post = (body: string) =>
      fetch(`${service.url}/api/bitrix/webhook`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
    expect((await post(CRM_DEAL_ADD)).status).to.equal(200);
    expect((await post(withoutToken(CRM_DEAL_ADD))).status).to.equal(401);
    await receiver.waitFor(() => receiver.spans.filter((span) => span.kind === SERVER).length >= 2);
  });
  after(async () => {
    await service?.stop();
    await receiver.stop();
  });

  function traceOf(result: string): { server: ReceivedSpan; verify: ReceivedSpan; extracts: ReceivedSpan[] } {
    const verify = receiver.spans.find((span) => span.name === 'bitrix.token.verify' && span.attributes['bitrix.token.result'] === result)!;
    expect(verify, `verify span with result ${result}`).to.exist;
    const sameTrace = receiver.spans.filter((span) => span.traceId === verify.traceId);
    return {
      verify,
      server: sameTrace.find((span) => span.kind === SERVER)!,
      extracts: sameTrace.filter((span) => span.name.startsWith('bitrix.token.extract.')),
    };
  }

  it('exports under the service name bitrix24-webhook, over OTLP/HTTP JSON to /v1/traces', () => {
    expect(receiver.requests.some((req) => req.path === '/v1/traces' && req.contentType.includes('application/json'))).to.equal(true);
    expect(receiver.spans[0]!.resource['service.name']).to.equal('bitrix24-webhook');
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
    expect(accepted.extracts[0]!.attributes).to.include({ 'bitrix.token.found': true, 'bitrix.token.fingerprint': 'ce338b01' });
    const missing = traceOf('missing');
    expect(missing.verify.status.code).to.equal(STATUS_ERROR);
    expect(missing.verify.attributes['bitrix.token.source']).to.equal('none');
    expect(missing.extracts.map((span) => span.attributes['bitrix.token.found'])).to.deep.equal([false, false, false]);
    expect(JSON.stringify(receiver.spans)).not.to.include(WEBHOOK_TOKEN);
  });

  it('says at start-up where traces go', async () => {
    const line = await service.waitForLog((entry) => entry.message === 'bitrix24-webhook-guard starting');
    expect(line.telemetry).to.equal(`traces: otlp http/json to ${receiver.url}; logs: not exported`);
  });
});
