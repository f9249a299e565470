import { spawnSync } from 'node:child_process';
import { expect } from 'chai';
import request from 'supertest';
import { APP_TOKEN, CRM_DEAL_ADD, TASK_ADD, WEBHOOK_TOKEN, withoutToken } from '../support/bitrix-bodies';
import { startHarness, type Harness } from '../support/harness';
import { spawnService, type RunningService } from '../support/spawn-service';

const PATH = '/api/bitrix/webhook';
const FORM = 'application/x-www-form-urlencoded';

/** `name{labels} value` lines of one metric family, exemplars and comments dropped. */
function series(text: string, name: string): string[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .map((line) => line.replace(/ # \{.*$/, ''));
}

describe('/metrics after a known sequence of deliveries', () => {
  let harness: Harness;
  before(async () => {
    harness = await startHarness({ BITRIX24_WEBHOOK_TOKENS: `crm=${WEBHOOK_TOKEN},tasks=${APP_TOKEN}` });
    const post = (body: string, type = FORM, path = PATH) =>
      request(harness.url).post(path).set('Content-Type', type).send(body);
    await post(CRM_DEAL_ADD).expect(200);
    await post(CRM_DEAL_ADD).expect(200);
    await post(TASK_ADD).expect(200);
    await post(withoutToken(CRM_DEAL_ADD)).expect(401);
    await post(withoutToken(CRM_DEAL_ADD)).expect(401);
    await post(withoutToken(CRM_DEAL_ADD)).expect(401);
    await post(withoutToken(CRM_DEAL_ADD), FORM, `${PATH}?token=wrongwrongwrongwrongwrongwrong12`).expect(403);
    await post('x', 'text/plain').expect(415);
    await post('{', 'application/json').expect(400);
    await post(CRM_DEAL_ADD.replace('ONCRMDEALADD', 'not-an-event')).expect(200);
  });
  after(async () => harness.close());

  it('counts verifications by result, source and webhook, with every result×source series present', async () => {
    expect(series(await harness.metricsText(), 'bitrix_webhook_token_verifications_total')).to.have.members([
      'bitrix_webhook_token_verifications_total{result="accepted",source="body",webhook="crm"} 3',
      'bitrix_webhook_token_verifications_total{result="accepted",source="body",webhook="tasks"} 1',
      'bitrix_webhook_token_verifications_total{result="accepted",source="query",webhook="crm"} 0',
      'bitrix_webhook_token_verifications_total{result="accepted",source="query",webhook="tasks"} 0',
      'bitrix_webhook_token_verifications_total{result="accepted",source="header",webhook="crm"} 0',
      'bitrix_webhook_token_verifications_total{result="accepted",source="header",webhook="tasks"} 0',
      'bitrix_webhook_token_verifications_total{result="accepted",source="none",webhook="unknown"} 0',
      'bitrix_webhook_token_verifications_total{result="missing",source="body",webhook="unknown"} 0',
      'bitrix_webhook_token_verifications_total{result="missing",source="query",webhook="unknown"} 0',
      'bitrix_webhook_token_verifications_total{result="missing",source="header",webhook="unknown"} 0',
      'bitrix_webhook_token_verifications_total{result="missing",source="none",webhook="unknown"} 3',
      'bitrix_webhook_token_verifications_total{result="mismatched",source="body",webhook="unknown"} 0',
      'bitrix_webhook_token_verifications_total{result="mismatched",source="query",webhook="unknown"} 1',
      'bitrix_webhook_token_verifications_total{result="mismatched",source="header",webhook="unknown"} 0',
      'bitrix_webhook_token_verifications_total{result="mismatched",source="none",webhook="unknown"} 0',
    ]);
  });

  it('counts look-ups per source, rejections by reason, events, tokens and last acceptance', async () => {
    const text = await harness.metricsText();
    expect(series(text, 'bitrix_webhook_token_extractions_total')).to.have.members([
      'bitrix_webhook_token_extractions_total{source="body",found="true"} 4',
      'bitrix_webhook_token_extractions_total{source="body",found="false"} 4',
      'bitrix_webhook_token_extractions_total{source="query",found="true"} 1',
      'bitrix_webhook_token_extractions_total{source="query",found="false"} 7',
      'bitrix_webhook_token_extractions_total{source="header",found="true"} 0',
      'bitrix_webhook_token_extractions_total{source="header",found="false"} 8',
    ]);
    expect(series(text, 'bitrix_webhook_requests_rejected_total')).to.have.members([
      'bitrix_webhook_requests_rejected_total{reason="not_configured"} 0',
      'bitrix_webhook_requests_rejected_total{reason="unsupported_media_type"} 1',
      'bitrix_webhook_requests_rejected_total{reason="payload_too_large"} 0',
      'bitrix_webhook_requests_rejected_total{reason="malformed_body"} 1',
      'bitrix_webhook_requests_rejected_total{reason="overloaded"} 0',
      'bitrix_webhook_requests_rejected_total{reason="request_timeout"} 0',
      'bitrix_webhook_requests_rejected_total{reason="not_found"} 0',
      'bitrix_webhook_requests_rejected_total{reason="store_unavailable"} 0',
      'bitrix_webhook_requests_rejected_total{reason="method_not_allowed"} 0',
    ]);
    expect(series(text, 'bitrix_webhook_events_total')).to.have.members([
      'bitrix_webhook_events_total{event="ONCRMDEALADD"} 2',
      'bitrix_webhook_events_total{event="ONTASKADD"} 1',
      'bitrix_webhook_events_total{event="other"} 1',
    ]);
    expect(series(text, 'bitrix_webhook_tokens_configured')).to.deep.equal(['bitrix_webhook_tokens_configured 2']);
    const last = series(text, 'bitrix_webhook_last_accepted_timestamp_seconds');
    expect(last.map((line) => line.split(' ')[0])).to.have.members([
      'bitrix_webhook_last_accepted_timestamp_seconds{webhook="crm"}',
      'bitrix_webhook_last_accepted_timestamp_seconds{webhook="tasks"}',
    ]);
    for (const line of last) expect(Math.abs(Number(line.split(' ')[1]) - Date.now() / 1000)).to.be.below(60);
  });

  it('counts store writes by kind and result, quarantined deliveries by reason, evictions, and the quarantine size', async () => {
    const text = await harness.metricsText();
    // 4 accepted; quarantined: 3 without a token, 1 wrong token, 1 malformed body, and the 415 (its body is
    // read within BODY_LIMIT and kept: a relabelled Bitrix24 delivery is replayable).
    expect(series(text, 'bitrix_webhook_store_writes_total')).to.have.members([
      'bitrix_webhook_store_writes_total{kind="accepted",result="ok"} 4',
      'bitrix_webhook_store_writes_total{kind="accepted",result="error"} 0',
      'bitrix_webhook_store_writes_total{kind="quarantine",result="ok"} 6',
      'bitrix_webhook_store_writes_total{kind="quarantine",result="error"} 0',
    ]);
    expect(series(text, 'bitrix_webhook_quarantined_total')).to.have.members([
      'bitrix_webhook_quarantined_total{reason="token_missing"} 3',
      'bitrix_webhook_quarantined_total{reason="token_mismatch"} 1',
      'bitrix_webhook_quarantined_total{reason="not_configured"} 0',
      'bitrix_webhook_quarantined_total{reason="unsupported_media_type"} 1',
      'bitrix_webhook_quarantined_total{reason="malformed_body"} 1',
      'bitrix_webhook_quarantined_total{reason="not_found"} 0',
      'bitrix_webhook_quarantined_total{reason="portal_mismatch"} 0',
    ]);
    expect(series(text, 'bitrix_webhook_quarantine_evictions_total')).to.deep.equal([
      'bitrix_webhook_quarantine_evictions_total 0',
    ]);
    expect(series(text, 'bitrix_webhook_quarantine_size')).to.deep.equal(['bitrix_webhook_quarantine_size 6']);
    expect(series(text, 'bitrix_webhook_quarantine_pending')).to.deep.equal(['bitrix_webhook_quarantine_pending 6']);
    expect((await harness.store.listQuarantine()).map((row) => `${row.status} ${row.reason}`)).to.deep.equal([
      '401 token_missing',
      '401 token_missing',
      '401 token_missing',
      '403 token_mismatch',
      '415 unsupported_media_type',
      '400 malformed_body',
    ]);
  });

  it('times requests by method, matched route and status code', async () => {
    const text = await harness.metricsText();
    const counts = series(text, 'http_server_request_duration_seconds_count');
    expect(counts).to.have.members([
      'http_server_request_duration_seconds_count{method="POST",route="/api/bitrix/webhook",status_code="200"} 4',
      'http_server_request_duration_seconds_count{method="POST",route="/api/bitrix/webhook",status_code="401"} 3',
      'http_server_request_duration_seconds_count{method="POST",route="/api/bitrix/webhook",status_code="403"} 1',
      'http_server_request_duration_seconds_count{method="POST",route="/api/bitrix/webhook",status_code="415"} 1',
      'http_server_request_duration_seconds_count{method="POST",route="/api/bitrix/webhook",status_code="400"} 1',
    ]);
    expect(counts).to.have.length(5);
    // Each series has exactly the 14 buckets, cumulative, the last (+Inf) holding every request of the series.
    // Which finite bucket a request falls in depends on the machine's speed, so only those facts are exact.
    const les = [
      '0.001',
      '0.0025',
      '0.005',
      '0.01',
      '0.025',
      '0.05',
      '0.1',
      '0.25',
      '0.5',
      '1',
      '2.5',
      '5',
      '10',
      '+Inf',
    ];
    const buckets = series(text, 'http_server_request_duration_seconds_bucket');
    expect(buckets).to.have.length(5 * les.length);
    for (const [labels, count] of [
      ['status_code="200"', 4],
      ['status_code="401"', 3],
      ['status_code="403"', 1],
      ['status_code="415"', 1],
      ['status_code="400"', 1],
    ] as const) {
      const own = buckets.filter((line) => line.includes(`,method="POST",route="/api/bitrix/webhook",${labels}}`));
      expect(
        own.map((line) => /le="([^"]+)"/.exec(line)![1]),
        labels,
      ).to.deep.equal(les);
      const values = own.map((line) => Number(line.split(' ')[1]));
      for (const [index, value] of values.entries())
        expect(value, `${labels} cumulative`).to.be.at.least(index === 0 ? 0 : values[index - 1]!);
      expect(values[values.length - 1], `${labels} +Inf bucket`).to.equal(count);
    }
  });

  it('serves OpenMetrics with trace_id exemplars when asked, and plain text otherwise', async () => {
    const plain = await request(harness.url).get('/metrics');
    expect(plain.headers['content-type']).to.match(/^text\/plain; version=0\.0\.4/);
    expect(plain.text).not.to.include(' # {');
    expect(plain.text).to.include('# TYPE bitrix_webhook_token_verifications_total counter');

    const open = await request(harness.url)
      .get('/metrics')
      .set('Accept', 'application/openmetrics-text; version=1.0.0')
      .buffer(true)
      .parse((res, done) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
        res.on('end', () => done(null, text));
      });
    expect(open.headers['content-type']).to.match(/^application\/openmetrics-text/);
    const body = open.body as string;
    expect(body.trimEnd().endsWith('# EOF')).to.equal(true);
    const exemplar =
      /^bitrix_webhook_token_verifications_total\{result="missing",source="none",webhook="unknown"\} 3 # \{trace_id="([0-9a-f]{32})"\} 1 [0-9.]+$/m.exec(
        body,
      );
    expect(exemplar, 'exemplar on the missing-token series').to.not.equal(null);
    expect(exemplar![1]).to.not.equal('0'.repeat(32));
    expect(body).to.match(/^http_server_request_duration_seconds_bucket\{[^}]*\} \d+ # \{trace_id="[0-9a-f]{32}"\}/m);

    // Rendering OpenMetrics must not change the text format afterwards (prom-client renames counters in place).
    const again = await request(harness.url).get('/metrics');
    expect(again.text).to.include(
      'bitrix_webhook_token_verifications_total{result="missing",source="none",webhook="unknown"} 3',
    );
    expect(again.text).to.include('# TYPE bitrix_webhook_token_verifications_total counter');
  });
});

describe('/metrics of the real process', () => {
  let service: RunningService;
  before(async () => {
    service = await spawnService({ env: { BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN } });
    await fetch(`${service.url}${PATH}`, { method: 'POST', headers: { 'content-type': FORM }, body: CRM_DEAL_ADD });
    await fetch(`${service.url}${PATH}`, {
      method: 'POST',
      headers: { 'content-type': FORM },
      body: withoutToken(CRM_DEAL_ADD),
    });
  });
  after(async () => service?.stop());

  it('passes promtool check metrics (text format, with process and Node.js metrics)', async () => {
    const text = await (await fetch(`${service.url}/metrics`)).text();
    expect(text).to.include('process_resident_memory_bytes');
    expect(text).to.include('nodejs_eventloop_lag_p99_seconds');
    const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    if (promtool.error) throw new Error(`promtool is required (apt-get install prometheus): ${promtool.error.message}`);
    expect(promtool.stdout + promtool.stderr, 'promtool output').to.equal('');
    expect(promtool.status).to.equal(0);
  });
});
