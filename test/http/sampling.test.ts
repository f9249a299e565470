import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { CRM_DEAL_ADD, WEBHOOK_TOKEN, withoutToken } from '../support/bitrix-bodies';
import { exactRequest } from '../support/exact-request';
import { startHarness, type Harness } from '../support/harness';
import { exportEverything, memoryExporter, outcome, startedSpans } from '../support/tracing-setup';
import { inAcceptedShare, samplingPolicy } from '../../src/telemetry/sampling';

const PATH = '/api/bitrix/webhook';
const FORM = 'application/x-www-form-urlencoded';
/** Trace ids whose last 32 bits put them outside (…ffffffff) and inside (…00000001) any ratio between 0 and 1. */
const OUTSIDE = '4bf92f3577b34da6a3ce929dffffffff';
const INSIDE = '4bf92f3577b34da6a3ce929d00000001';
const PARENT_SPAN = '00f067aa0ba902b7';
/** An incoming parent that chose a trace id but not to sample: the outcome decides, with that id. */
const unsampled = (traceId: string) => `00-${traceId}-${PARENT_SPAN}-00`;
const sampled = (traceId: string) => `00-${traceId}-${PARENT_SPAN}-01`;

function post(harness: Harness, body: string, traceparent?: string) {
  return exactRequest(harness.url, {
    path: PATH,
    headers: { 'content-type': FORM, ...(traceparent ? { traceparent } : {}) },
    body,
  });
}

const spansOf = (traceId: string) =>
  memoryExporter.getFinishedSpans().filter((span) => span.spanContext().traceId === traceId);
const treeOf = (traceId: string) =>
  spansOf(traceId)
    .map((span) => span.name)
    .sort();
const FULL_TREE = [
  `POST ${PATH}`,
  'bitrix.store.write',
  'bitrix.token.extract.body',
  'bitrix.token.extract.header',
  'bitrix.token.extract.query',
  'bitrix.token.verify',
];

/** Every delivery answered so far has ended its server span (no trace awaits its decision), plus a moment. */
async function settle(_harness: Harness): Promise<void> {
  for (let i = 0; i < 200 && outcome.holding.traces > 0; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  await new Promise((resolve) => setTimeout(resolve, 20));
}

describe('what is exported: sampling by outcome', () => {
  let harness: Harness;
  afterEach(async () => {
    exportEverything();
    await harness?.close();
  });

  async function start(env: Record<string, string> = {}) {
    harness = await startHarness({ BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN, LOG_LEVEL: 'debug', ...env });
  }

  it('exports nothing of an accepted delivery outside the ratio; its log line and exemplars carry no trace id', async () => {
    await start();
    outcome.policy = { mode: 'outcome', acceptedRatio: 0.1 };
    startedSpans.length = 0;
    expect((await post(harness, CRM_DEAL_ADD, unsampled(OUTSIDE))).status).to.equal(200);
    const line = harness.logs.find((entry) => entry.message === 'webhook delivery accepted')!;
    expect(line).to.exist;
    expect(line).not.to.have.property('trace_id');
    expect(line).not.to.have.property('span_id');
    const metrics = await harness.metricsText('application/openmetrics-text');
    expect(metrics).to.include(
      '\nbitrix_webhook_token_verifications_total{result="accepted",source="body",webhook="default"} 1\n',
    );
    expect(metrics).not.to.include('# {');
    expect(metrics).not.to.include('trace_id=');
    await settle(harness);
    expect(spansOf(OUTSIDE)).to.deep.equal([]);
    expect(outcome.holding).to.deep.equal({ traces: 0, spans: 0 });
    // Its spans were data only: not one SDK span was started for it.
    expect(startedSpans).to.deep.equal([]);
  });

  it('exports an accepted delivery inside the ratio in full, and its log line and exemplar lead to it', async () => {
    await start();
    outcome.policy = { mode: 'outcome', acceptedRatio: 0.1 };
    expect((await post(harness, CRM_DEAL_ADD, unsampled(INSIDE))).status).to.equal(200);
    await settle(harness);
    expect(treeOf(INSIDE)).to.deep.equal(FULL_TREE);
    const line = harness.logs.find((entry) => entry.message === 'webhook delivery accepted')!;
    expect(line.trace_id).to.equal(INSIDE);
    expect(await harness.metricsText('application/openmetrics-text')).to.match(
      new RegExp(
        `^bitrix_webhook_token_verifications_total\\{result="accepted",source="body",webhook="default"\\} 1 # \\{trace_id="${INSIDE}"\\}`,
        'm',
      ),
    );
  });

  for (const [name, body, status] of [
    ['missing token (401)', withoutToken(CRM_DEAL_ADD), 401],
    ['mismatched token (403)', CRM_DEAL_ADD.replace(WEBHOOK_TOKEN, 'x'.repeat(32)), 403],
  ] as const) {
    it(`exports a refused delivery in full whatever the ratio: ${name}`, async () => {
      await start();
      outcome.policy = { mode: 'outcome', acceptedRatio: 0 };
      expect((await post(harness, body, unsampled(OUTSIDE))).status).to.equal(status);
      await settle(harness);
      expect(treeOf(OUTSIDE)).to.deep.equal(FULL_TREE);
      const server = spansOf(OUTSIDE).find((span) => span.name === `POST ${PATH}`)!;
      const verify = spansOf(OUTSIDE).find((span) => span.name === 'bitrix.token.verify')!;
      expect(verify.parentSpanContext?.spanId).to.equal(server.spanContext().spanId);
      for (const span of spansOf(OUTSIDE).filter((s) => s.name.startsWith('bitrix.token.extract.'))) {
        expect(span.parentSpanContext?.spanId).to.equal(verify.spanContext().spanId);
      }
      const line = harness.logs.find((entry) => entry.message === 'webhook delivery refused')!;
      expect(line.trace_id).to.equal(OUTSIDE);
      expect(await harness.metricsText('application/openmetrics-text')).to.include(`# {trace_id="${OUTSIDE}"}`);
    });
  }

  it('exports a delivery refused before verification (415) with its warning line leading to it', async () => {
    await start();
    outcome.policy = { mode: 'outcome', acceptedRatio: 0 };
    const answer = await exactRequest(harness.url, {
      path: PATH,
      headers: { 'content-type': 'text/plain', traceparent: unsampled(OUTSIDE) },
      body: 'x',
    });
    expect(answer.status).to.equal(415);
    await settle(harness);
    // Its body was read and quarantined: the store write is part of its trace.
    expect(treeOf(OUTSIDE)).to.deep.equal([`POST ${PATH}`, 'bitrix.store.write']);
    expect(
      spansOf(OUTSIDE).find((span) => span.name === `POST ${PATH}`)!.attributes['http.response.status_code'],
    ).to.equal(415);
    expect(harness.logs.find((entry) => entry.message === 'webhook delivery refused')!.trace_id).to.equal(OUTSIDE);
  });

  it('exports a request answered >= 400 that logged nothing (a GET of an unknown path): the status alone decides', async () => {
    await start();
    outcome.policy = { mode: 'outcome', acceptedRatio: 0 };
    const answer = await exactRequest(harness.url, {
      method: 'GET',
      path: '/api/bitrix/webhok',
      headers: { traceparent: unsampled(OUTSIDE) },
    });
    expect(answer.status).to.equal(404);
    await settle(harness);
    expect(harness.logs.filter((entry) => entry.level === 'warn' || entry.level === 'error')).to.deep.equal([]);
    expect(treeOf(OUTSIDE)).to.deep.equal(['GET']);
  });

  it('exports exactly the accepted deliveries whose trace ids fall in the ratio (200 deliveries, ratio 0.3)', async () => {
    await start({ LOG_LEVEL: 'info' });
    outcome.policy = { mode: 'outcome', acceptedRatio: 0.3 };
    const ids = Array.from({ length: 200 }, (_, i) =>
      createHash('sha256').update(`delivery ${i}`).digest('hex').slice(0, 32),
    );
    for (const id of ids) expect((await post(harness, CRM_DEAL_ADD, unsampled(id))).status).to.equal(200);
    await settle(harness);
    const exported = new Set(memoryExporter.getFinishedSpans().map((span) => span.spanContext().traceId));
    const expected = ids.filter((id) => inAcceptedShare(id, 0.3));
    expect(ids.filter((id) => exported.has(id))).to.deep.equal(expected);
    for (const id of expected) expect(treeOf(id)).to.deep.equal(FULL_TREE);
    // 200 × 0.3 = 60, σ = 6.5: within ±4σ unless the decision is not the ratio at all (the ids are fixed: no flake).
    expect(expected.length).to.be.within(34, 86);
  });

  it('always_on exports every tree, accepted ones outside the ratio included', async () => {
    await start();
    outcome.policy = samplingPolicy({ OTEL_TRACES_SAMPLER: 'always_on', BITRIX24_TRACES_ACCEPTED_RATIO: '0' }).policy;
    expect((await post(harness, CRM_DEAL_ADD, unsampled(OUTSIDE))).status).to.equal(200);
    await settle(harness);
    expect(treeOf(OUTSIDE)).to.deep.equal(FULL_TREE);
    expect(harness.logs.find((entry) => entry.message === 'webhook delivery accepted')!.trace_id).to.equal(OUTSIDE);
  });

  it('always_off exports nothing, not even a refusal, and no log line carries a trace id', async () => {
    await start();
    outcome.policy = samplingPolicy({ OTEL_TRACES_SAMPLER: 'always_off' }).policy;
    expect((await post(harness, withoutToken(CRM_DEAL_ADD), unsampled(OUTSIDE))).status).to.equal(401);
    expect((await post(harness, CRM_DEAL_ADD, sampled(INSIDE))).status).to.equal(200);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(memoryExporter.getFinishedSpans()).to.deep.equal([]);
    const lines = harness.logs.filter((entry) => entry.message.startsWith('webhook '));
    expect(lines.map((entry) => entry.message)).to.deep.equal([
      'webhook delivery refused',
      'webhook delivery accepted',
    ]);
    for (const line of lines) expect(line).not.to.have.property('trace_id');
    expect(await harness.metricsText('application/openmetrics-text')).not.to.include('trace_id=');
  });

  it('respects a sampled incoming traceparent: the accepted delivery is exported, as a child of the caller', async () => {
    await start();
    outcome.policy = { mode: 'outcome', acceptedRatio: 0 };
    expect((await post(harness, CRM_DEAL_ADD, sampled(OUTSIDE))).status).to.equal(200);
    await settle(harness);
    expect(treeOf(OUTSIDE)).to.deep.equal(FULL_TREE);
    const server = spansOf(OUTSIDE).find((span) => span.name === `POST ${PATH}`)!;
    expect(server.parentSpanContext).to.include({ spanId: PARENT_SPAN, isRemote: true });
  });
});

describe('the accepted-share decision and its configuration', () => {
  it('keeps exactly the share of the ratio of ids spread evenly over the last 32 bits (one in the middle of each 1/2000th) (2000 ids, ratios 0.1, 0.3, 0.5)', () => {
    const n = 2000;
    const ids = Array.from(
      { length: n },
      (_, i) =>
        `${'a'.repeat(24)}${Math.floor(((i + 0.5) * 2 ** 32) / n)
          .toString(16)
          .padStart(8, '0')}`,
    );
    for (const [ratio, expected] of [
      [0.1, 200],
      [0.3, 600],
      [0.5, 1000],
    ] as const) {
      expect(ids.filter((id) => inAcceptedShare(id, ratio)).length, `ratio ${ratio}`).to.equal(expected);
    }
  });

  it('keeps a share of hash-made (random-looking, fixed) trace ids within ±3σ of the ratio (2000 ids, ratios 0.1 and 0.5)', () => {
    const n = 2000;
    const ids = Array.from({ length: n }, (_, i) =>
      createHash('sha256').update(`trace ${i}`).digest('hex').slice(0, 32),
    );
    for (const ratio of [0.1, 0.5]) {
      const kept = ids.filter((id) => inAcceptedShare(id, ratio)).length;
      const sigma = Math.sqrt(n * ratio * (1 - ratio));
      expect(kept, `ratio ${ratio}`).to.be.within(n * ratio - 3 * sigma, n * ratio + 3 * sigma);
    }
  });

  it('decides from the trace id alone: the same id, the same decision; 0 keeps none, 1 keeps all', () => {
    expect(inAcceptedShare(INSIDE, 0.1)).to.equal(true);
    expect(inAcceptedShare(OUTSIDE, 0.999)).to.equal(false);
    expect(inAcceptedShare(INSIDE, 0)).to.equal(false);
    expect(inAcceptedShare(OUTSIDE, 1)).to.equal(true);
  });

  it('reads the policy from the environment', () => {
    expect(samplingPolicy({})).to.deep.equal({ policy: { mode: 'outcome', acceptedRatio: 0.1 }, warnings: [] });
    expect(samplingPolicy({ BITRIX24_TRACES_ACCEPTED_RATIO: '0.25' }).policy).to.deep.equal({
      mode: 'outcome',
      acceptedRatio: 0.25,
    });
    // Both ends of the range are valid ratios: 0 exports no accepted delivery, 1 every one, without a warning.
    expect(samplingPolicy({ BITRIX24_TRACES_ACCEPTED_RATIO: '0' })).to.deep.equal({
      policy: { mode: 'outcome', acceptedRatio: 0 },
      warnings: [],
    });
    expect(samplingPolicy({ BITRIX24_TRACES_ACCEPTED_RATIO: '1' })).to.deep.equal({
      policy: { mode: 'outcome', acceptedRatio: 1 },
      warnings: [],
    });
    expect(samplingPolicy({ BITRIX24_TRACES_ACCEPTED_RATIO: '-0.1' }).warnings).to.deep.equal([
      'BITRIX24_TRACES_ACCEPTED_RATIO=-0.1 is not a number from 0 to 1; using 0.1',
    ]);
    expect(samplingPolicy({ OTEL_TRACES_SAMPLER: 'always_on' }).policy).to.deep.equal({ mode: 'all' });
    expect(samplingPolicy({ OTEL_TRACES_SAMPLER: 'parentbased_always_off' }).policy).to.deep.equal({ mode: 'none' });
    expect(samplingPolicy({ BITRIX24_TRACES_ACCEPTED_RATIO: '2' })).to.deep.equal({
      policy: { mode: 'outcome', acceptedRatio: 0.1 },
      warnings: ['BITRIX24_TRACES_ACCEPTED_RATIO=2 is not a number from 0 to 1; using 0.1'],
    });
    expect(samplingPolicy({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.5' })).to.deep.equal({
      policy: { mode: 'outcome', acceptedRatio: 0.1 },
      warnings: [
        'OTEL_TRACES_SAMPLER=traceidratio is not used: refused deliveries are always exported, accepted ones at BITRIX24_TRACES_ACCEPTED_RATIO (always_on / always_off are honoured)',
      ],
    });
  });
});
