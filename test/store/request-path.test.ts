// Issue #10 on the request path, through the real HTTP stack (the harness runs the real app over a real
// SQLite store in a temporary directory): an accepted event is committed before its 200, with its span; a
// failed write is a 503 store_unavailable, never a 200; a refused delivery is quarantined, and a failed
// quarantine write never turns a 401/403 into a 5xx.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SpanStatusCode } from '@opentelemetry/api';
import { expect } from 'chai';
import request from 'supertest';
import { parseStoreConfig } from '../../src/store/config';
import { openStore } from '../../src/store/open';
import type { Store } from '../../src/store/types';
import { CRM_DEAL_ADD, WEBHOOK_TOKEN, withoutToken } from '../support/bitrix-bodies';
import { startHarness, type Harness } from '../support/harness';

const PATH = '/api/bitrix/webhook';
const FORM = 'application/x-www-form-urlencoded';
const SCRUBBED_DEAL = CRM_DEAL_ADD.replace(WEBHOOK_TOKEN, 'REDACTED');
const WRONG = 'wr0ngt0ken0000000000000000000zzz';

function series(text: string, name: string): string[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .map((line) => line.replace(/ # \{.*$/, ''));
}

describe('the store on the request path (real HTTP stack, real SQLite store)', function () {
  this.timeout(30_000);
  let dir: string;
  let store: Store;
  let harness: Harness;

  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'request-path-'));
    store = await openStore(parseStoreConfig({ DATA_DIR: dir }), { bodyLimitBytes: 256 * 1024 });
    harness = await startHarness(
      { BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN, OTEL_TRACES_SAMPLER: 'always_on' },
      {},
      { store },
    );
  });
  afterEach(async () => {
    await harness.close();
    await store.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  it('commits an accepted event before its 200: scrubbed body, data without credentials, the trace id of its delivery', async () => {
    await request(harness.url)
      .post(PATH)
      .set('Content-Type', FORM)
      .send(CRM_DEAL_ADD)
      .expect(200, { status: 'accepted' });
    // Read at once, from another connection to the same file: the write was durable before the answer.
    const other = await openStore(parseStoreConfig({ DATA_DIR: dir }), { bodyLimitBytes: 256 * 1024 });
    try {
      const events = await other.listEvents();
      const [delivery] = await harness.tracedDeliveries(1);
      expect(
        events.map((event) => ({
          webhook: event.webhook,
          event: event.event,
          body: event.body,
          data: event.data,
          traceId: event.traceId,
          contentType: event.contentType,
          status: event.status,
        })),
      ).to.deep.equal([
        {
          webhook: 'default',
          event: 'ONCRMDEALADD',
          body: SCRUBBED_DEAL,
          data: { FIELDS: { ID: '7405' } },
          traceId: delivery!.server.spanContext().traceId,
          contentType: FORM,
          status: 'pending',
        },
      ]);
      const write = delivery!.all.filter((span) => span.name === 'bitrix.store.write');
      expect(
        write.map((span) => ({
          parent: span.parentSpanContext?.spanId,
          attributes: span.attributes,
          status: span.status.code,
        })),
      ).to.deep.equal([
        {
          parent: delivery!.server.spanContext().spanId,
          attributes: {
            'bitrix.store.kind': 'accepted',
            'bitrix.store.system': 'sqlite',
            'bitrix.store.id': events[0]!.id,
          },
          status: SpanStatusCode.UNSET,
        },
      ]);
    } finally {
      await other.close();
    }
  });

  it('quarantines a 401 and a 403 with harmless header values only and the digests of the tokens offered, each with its store span', async () => {
    await request(harness.url)
      .post(`${PATH}?token=${WRONG}`)
      .set('Content-Type', FORM)
      .set('User-Agent', 'Bitrix24 Webhook Engine')
      .set('Cookie', `s=${WRONG}`)
      .send(withoutToken(CRM_DEAL_ADD))
      .expect(403, { status: 'rejected', reason: 'token_mismatch' });
    await request(harness.url)
      .post(PATH)
      .set('Content-Type', FORM)
      .send(withoutToken(CRM_DEAL_ADD))
      .expect(401, { status: 'rejected', reason: 'token_missing' });
    const rows = await store.listQuarantine();
    const [mismatch, missing] = await harness.tracedDeliveries(2);
    expect(
      rows.map((row) => ({
        status: row.status,
        reason: row.reason,
        diagnosis: row.diagnosis,
        traceId: row.traceId,
        headers: row.headers,
        candidates: row.candidates,
        body: row.body,
      })),
    ).to.deep.equal([
      {
        status: 403,
        reason: 'token_mismatch',
        diagnosis: 'mismatch_bitrix24_shaped',
        traceId: mismatch!.server.spanContext().traceId,
        headers: {
          'content-type': FORM,
          'content-length': String(withoutToken(CRM_DEAL_ADD).length),
          'user-agent': 'Bitrix24 Webhook Engine',
        },
        candidates: [
          {
            source: 'query',
            location: 'query token',
            digest: 'a63eba01ca0799c9f9e86d92960f8f84b52644ec2cc000efbfcf27b7084aa6d0',
          },
        ],
        body: withoutToken(CRM_DEAL_ADD),
      },
      {
        status: 401,
        reason: 'token_missing',
        diagnosis: 'auth_without_token',
        traceId: missing!.server.spanContext().traceId,
        headers: { 'content-type': FORM, 'content-length': String(withoutToken(CRM_DEAL_ADD).length) },
        candidates: [],
        body: withoutToken(CRM_DEAL_ADD),
      },
    ]);
    expect(rows[0]!.headerNames).to.include('cookie');
    for (const delivery of [mismatch!, missing!]) {
      expect(
        delivery.all
          .filter((span) => span.name === 'bitrix.store.write')
          .map((span) => [span.parentSpanContext?.spanId, span.attributes['bitrix.store.kind']]),
      ).to.deep.equal([[delivery.server.spanContext().spanId, 'quarantine']]);
    }
  });

  it('quarantines a Bitrix24 delivery to a wrong path and one relabelled text/plain (read whole), not a scanner', async () => {
    await request(harness.url).post('/api/bitrix/webhok').set('Content-Type', FORM).send(CRM_DEAL_ADD).expect(404);
    await request(harness.url).post(PATH).set('Content-Type', 'text/plain').send(CRM_DEAL_ADD).expect(415);
    await request(harness.url).post('/wp-login.php').set('Content-Type', FORM).send('log=admin&pwd=x').expect(404);
    expect((await store.listQuarantine()).map((row) => [row.reason, row.diagnosis])).to.deep.equal([
      ['not_found', 'wrong_path_bitrix24_body'],
      ['unsupported_media_type', 'unsupported_media_type_bitrix24_body'],
    ]);
  });

  it('answers 503 store_unavailable, never 200, when the store cannot write; counted, logged, diagnosed, span in error', async () => {
    await store.close();
    await request(harness.url)
      .post(PATH)
      .set('Content-Type', FORM)
      .send(CRM_DEAL_ADD)
      .expect(503, { status: 'rejected', reason: 'store_unavailable' });
    expect(harness.events).to.deep.equal([]);
    const line = harness.logs.find((entry) => entry.message === 'webhook delivery refused')!;
    expect(line).to.deep.include({
      level: 'warn',
      stage: 'store',
      result: 'accepted',
      reason: 'store_unavailable',
      diagnosis: 'store_unavailable',
      event: 'ONCRMDEALADD',
    });
    expect(String(line.detail)).to.match(/^the store refused the write: /);
    const text = await harness.metricsText();
    expect(series(text, 'bitrix_webhook_store_writes_total')).to.include(
      'bitrix_webhook_store_writes_total{kind="accepted",result="error"} 1',
    );
    expect(series(text, 'bitrix_webhook_requests_rejected_total')).to.include(
      'bitrix_webhook_requests_rejected_total{reason="store_unavailable"} 1',
    );
    expect(series(text, 'bitrix_webhook_rejections_by_diagnosis_total')).to.include(
      'bitrix_webhook_rejections_by_diagnosis_total{diagnosis="store_unavailable"} 1',
    );
    expect(series(text, 'bitrix_webhook_events_total')).to.deep.equal([]);
    const [delivery] = await harness.tracedDeliveries(1);
    const write = delivery!.all.find((span) => span.name === 'bitrix.store.write')!;
    expect(write.status.code).to.equal(SpanStatusCode.ERROR);
    expect(delivery!.server.attributes['bitrix.token.diagnosis']).to.equal('store_unavailable');
  });

  it('keeps answering 401 and 403 when the quarantine write fails; the failure is counted and logged', async () => {
    await store.close();
    await request(harness.url)
      .post(PATH)
      .set('Content-Type', FORM)
      .send(withoutToken(CRM_DEAL_ADD))
      .expect(401, { status: 'rejected', reason: 'token_missing' });
    await request(harness.url)
      .post(PATH)
      .set('Content-Type', FORM)
      .send(CRM_DEAL_ADD.replace(WEBHOOK_TOKEN, WRONG))
      .expect(403, { status: 'rejected', reason: 'token_mismatch' });
    const text = await harness.metricsText();
    expect(series(text, 'bitrix_webhook_store_writes_total')).to.include(
      'bitrix_webhook_store_writes_total{kind="quarantine",result="error"} 2',
    );
    expect(series(text, 'bitrix_webhook_quarantined_total')).to.include(
      'bitrix_webhook_quarantined_total{reason="token_missing"} 0',
    );
    expect(
      harness.logs
        .filter((entry) => entry.message === 'quarantine write failed: this refused delivery is not kept')
        .map((entry) => [entry.level, entry.reason]),
    ).to.deep.equal([
      ['error', 'token_missing'],
      ['error', 'token_mismatch'],
    ]);
  });
});
