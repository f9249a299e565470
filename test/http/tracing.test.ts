import { SpanStatusCode } from '@opentelemetry/api';
import type * as tracing from '@opentelemetry/sdk-trace';
import { expect } from 'chai';
import request from 'supertest';
import { APP_TOKEN, CRM_DEAL_ADD, WEBHOOK_TOKEN, withoutToken } from '../support/bitrix-bodies';
import { startHarness, type Harness } from '../support/harness';

const PATH = '/api/bitrix/webhook';
const FORM = 'application/x-www-form-urlencoded';
const sha256Prefix = 'ce338b01'; // `printf %s jvh9y1ulvt2m6k5or90v9mg8nn32ozas | sha256sum | cut -c1-8`

type Span = tracing.ReadableSpan;
const parentId = (span: Span) => span.parentSpanContext?.spanId;

describe('spans of a delivery (in-memory exporter)', () => {
  let harness: Harness;
  afterEach(async () => harness?.close());

  async function spansOfOneTrace() {
    const deliveries = await harness.tracedDeliveries(1);
    expect(deliveries).to.have.length(1);
    return deliveries[0]!;
  }

  it('makes bitrix.token.verify a child of the HTTP server span, with one child span per source in order', async () => {
    harness = await startHarness({ BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN });
    await request(harness.url).post(PATH).set('Content-Type', FORM).send(CRM_DEAL_ADD).expect(200);
    const { server, verify, extracts, all } = await spansOfOneTrace();

    expect(parentId(verify)).to.equal(server.spanContext().spanId);
    expect(extracts.map((span) => span.name)).to.deep.equal([
      'bitrix.token.extract.body',
      'bitrix.token.extract.query',
      'bitrix.token.extract.header',
    ]);
    for (const span of extracts) expect(parentId(span)).to.equal(verify.spanContext().spanId);
    // The service makes the server span itself: no koa or router span, just the server span and the four.
    expect(all.map((span) => span.name).sort()).to.deep.equal([
      `POST ${PATH}`,
      'bitrix.store.write',
      'bitrix.token.extract.body',
      'bitrix.token.extract.header',
      'bitrix.token.extract.query',
      'bitrix.token.verify',
    ]);
    expect(extracts.map((span) => span.startTime[0] * 1e9 + span.startTime[1])).to.satisfy((starts: number[]) =>
      starts.every((start, index) => index === 0 || start >= starts[index - 1]!),
    );
  });

  it('describes an accepted delivery: result, source, webhook name, event, portal', async () => {
    harness = await startHarness({ BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN });
    await request(harness.url).post(PATH).set('Content-Type', FORM).send(CRM_DEAL_ADD).expect(200);
    const { verify, extracts } = await spansOfOneTrace();
    expect(verify.attributes).to.deep.equal({
      'bitrix.token.result': 'accepted',
      'bitrix.token.source': 'body',
      'bitrix.webhook.name': 'default',
      'bitrix.token.conflict': false,
      'bitrix.event': 'ONCRMDEALADD',
      'bitrix.portal.domain': 'some-domain.bitrix24.com',
      'bitrix.portal.member_id': 'd897063e1ce7c5eb9f04b9751eef5915',
    });
    expect(verify.status.code).to.equal(SpanStatusCode.UNSET);
    expect(extracts[0]!.attributes).to.deep.equal({
      'bitrix.token.source': 'body',
      'bitrix.token.found': true,
      'bitrix.token.location': 'auth[application_token]',
      'bitrix.token.fingerprint': sha256Prefix,
    });
    expect(extracts[1]!.attributes).to.deep.equal({
      'bitrix.token.source': 'query',
      'bitrix.token.found': false,
      'bitrix.token.location': 'query application_token, query token',
    });
    expect(extracts[2]!.attributes).to.deep.equal({
      'bitrix.token.source': 'header',
      'bitrix.token.found': false,
      'bitrix.token.location': 'header x-bitrix24-token, header authorization (Bearer)',
    });
  });

  it('marks a missing token as ERROR with result missing and source none', async () => {
    harness = await startHarness({ BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN });
    await request(harness.url).post(PATH).set('Content-Type', FORM).send(withoutToken(CRM_DEAL_ADD)).expect(401);
    const { verify, extracts } = await spansOfOneTrace();
    expect(verify.status).to.deep.equal({ code: SpanStatusCode.ERROR, message: 'token_missing' });
    expect(verify.attributes).to.include({
      'bitrix.token.result': 'missing',
      'bitrix.token.source': 'none',
      'bitrix.webhook.name': 'unknown',
    });
    expect(extracts.map((span) => span.attributes['bitrix.token.found'])).to.deep.equal([false, false, false]);
    expect(extracts[0]!.attributes['bitrix.token.location']).to.equal(
      'auth[application_token], auth[application_token] (flat key)',
    );
  });

  it('marks a mismatched token as ERROR, with the fingerprint of what was received', async () => {
    harness = await startHarness({ BITRIX24_OUTGOING_WEBHOOK_TOKEN: APP_TOKEN });
    await request(harness.url).post(PATH).set('X-Bitrix24-Token', WEBHOOK_TOKEN).expect(403);
    const { verify, extracts } = await spansOfOneTrace();
    expect(verify.status).to.deep.equal({ code: SpanStatusCode.ERROR, message: 'token_mismatch' });
    expect(verify.attributes).to.include({ 'bitrix.token.result': 'mismatched', 'bitrix.token.source': 'header' });
    expect(extracts[2]!.attributes).to.deep.equal({
      'bitrix.token.source': 'header',
      'bitrix.token.found': true,
      'bitrix.token.location': 'header x-bitrix24-token',
      'bitrix.token.fingerprint': sha256Prefix,
    });
  });

  it('still examines every source when nothing is configured, and says not_configured', async () => {
    harness = await startHarness({});
    await request(harness.url).post(PATH).set('Content-Type', FORM).send(CRM_DEAL_ADD).expect(503);
    const { verify, extracts } = await spansOfOneTrace();
    expect(verify.attributes['bitrix.token.result']).to.equal('not_configured');
    expect(verify.status.code).to.equal(SpanStatusCode.ERROR);
    expect(extracts).to.have.length(3);
  });

  it('puts the trace and span ids of the request on the rejection log line', async () => {
    harness = await startHarness({ BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN });
    await request(harness.url).post(PATH).set('Content-Type', FORM).send(withoutToken(CRM_DEAL_ADD)).expect(401);
    const { verify, all } = await spansOfOneTrace();
    const line = harness.logs.find((entry) => entry.message === 'webhook delivery refused')!;
    expect(line.trace_id).to.equal(verify.spanContext().traceId);
    expect(all.map((span) => span.spanContext().spanId)).to.include(line.span_id);
  });

  it('does not trace scrapes and probes', async () => {
    harness = await startHarness({ BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN });
    await request(harness.url).get('/metrics').expect(200);
    await request(harness.url).get('/healthz').expect(200);
    await request(harness.url).get('/readyz').expect(200);
    // A delivery afterwards: once its trace is exported, anything the probes made would be there too.
    await request(harness.url).post(PATH).set('X-Bitrix24-Token', WEBHOOK_TOKEN).expect(200);
    const [delivery] = await harness.tracedDeliveries(1);
    expect(harness.spans.getFinishedSpans()).to.have.length(delivery!.all.length);
  });
});
