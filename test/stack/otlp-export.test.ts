import fs from 'node:fs';
import { expect } from './expect';
import { DEFAULTS } from '../../src/config/load';
import { ATTR, SPAN } from '../../src/vocabulary/names';
import { OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver';
import { SERVICE_MAIN, spawnService, type RunningService } from '../support/spawn-service';
import { deliveryBody } from '../../scripts/traffic';

const TOKEN = 'k2v9y1ulvt2m6k5or90v9mg8nn32ozaq';

/**
 * The service exports over OTLP/HTTP what the stack's collector would receive: the verification span and
 * the rejected-verification warn line, joined by the trace id (what makes "logs that carry trace ids" in Loki).
 */
describe('stack: OTLP export of traces and logs', function () {
  this.timeout(60_000);
  let receiver: OtlpReceiver;
  let service: RunningService | undefined;

  before(async () => {
    if (!fs.existsSync(SERVICE_MAIN))
      throw new Error(`the service is not built: ${SERVICE_MAIN} is missing (run npm run build)`);
    receiver = await new OtlpReceiver().start();
    service = await spawnService({
      env: {
        BITRIX24_OUTGOING_WEBHOOK_TOKEN: TOKEN,
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_LOGS_EXPORTER: 'otlp',
        OTEL_BSP_SCHEDULE_DELAY: '200',
        OTEL_BLRP_SCHEDULE_DELAY: '200',
      },
    });
  });

  after(async () => {
    await service?.stop();
    await receiver?.stop();
  });

  it('exports the verify span and a warn log record with the same trace id for a delivery without a token', async () => {
    const response = await fetch(`${service!.url}${DEFAULTS.webhookPath}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: deliveryBody('missing', TOKEN, 0),
    });
    expect(response.status).to.equal(401);

    const span: ReceivedSpan = await receiver.waitFor(() => receiver.spans.find((s) => s.name === SPAN.verify));
    expect(span.attributes[ATTR.result]).to.equal('missing');
    expect(span.traceId).to.match(/^[0-9a-f]{32}$/);

    const log = await receiver.waitFor(() =>
      receiver.logs.find((record) => /warn/i.test(record.severityText) && record.attributes.result === 'missing'),
    );
    expect(log.attributes.received, 'no token was found, so none was received').to.equal('none');
    expect(log.traceId, 'the warn record belongs to the trace of the verify span').to.equal(span.traceId);
    expect(log.spanId, 'the warn record is written inside the request').to.match(/^[0-9a-f]{16}$/);
  });

  it('keeps the JSON line on stdout, with the same trace id', async () => {
    const span = receiver.spans.find((s) => s.name === SPAN.verify)!;
    const line = await service!.waitForLog((entry) => entry.level === 'warn' && entry.result === 'missing');
    expect(line.trace_id).to.equal(span.traceId);
  });

  it('exports to the standard OTLP/HTTP paths, JSON-encoded, and never exports the token', () => {
    const paths = new Set(receiver.requests.map((r) => r.path));
    expect([...paths]).to.include.members(['/v1/traces', '/v1/logs']);
    for (const request of receiver.requests) expect(request.contentType).to.include('json');
    expect(JSON.stringify({ spans: receiver.spans, logs: receiver.logs })).to.not.include(TOKEN);
  });
});
