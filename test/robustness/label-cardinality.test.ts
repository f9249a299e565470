// Issue #13: every label of every metric stays in its documented set, whatever clients send: distinct paths,
// odd methods, distinct event names, distinct wrong tokens in every source. A known plan of requests is sent
// one at a time (so the first 200 event names are known) and every series is then checked exactly: label
// names, value sets (never empty) and counts.

import { expect } from 'chai';
import {
  DIAGNOSES,
  METRIC,
  OTHER_EVENT,
  QUARANTINE_REASONS,
  REJECTION_REASONS,
  TRACING_METRIC,
  QUARANTINE_DROP_REASONS,
} from '../../src/vocabulary/names';
import {
  APP_TOKEN,
  CRM_DEAL_ADD,
  httpBuildQuery,
  webhookAuth,
  WEBHOOK_TOKEN,
  withoutToken,
} from '../support/bitrix-bodies';
import { startHarness, type Harness } from '../support/harness';
import { Client, type SendOptions } from './support/client';
import { parsePrometheusText, type Sample } from './support/prometheus-text';

const PATH = '/api/bitrix/webhook';
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const ROUTER_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
const UNIMPLEMENTED_METHODS = ['PROPFIND', 'MKCOL', 'PURGE', 'SEARCH', 'LOCK', 'UNLOCK', 'REPORT'];
const METHODS = [...ROUTER_METHODS, ...UNIMPLEMENTED_METHODS];
const DISTINCT_EVENTS = 250;
const ODD_EVENTS = [
  'oncrmdealadd',
  'ON',
  `ON${'A'.repeat(65)}`,
  'ONCRM DEAL',
  'ONЗАКАЗ',
  '__proto__',
  'ON{x="1"}',
  'ON\nX',
  ' ONCRMDEALADD',
  'constructor',
];

/** Documented label sets (docs/contract.md, Metrics). `event` is a pattern; the rest are fixed sets. */
const DOCUMENTED: Record<string, Record<string, (value: string) => boolean>> = {
  [METRIC.verifications]: {
    result: (v) => ['accepted', 'missing', 'mismatched'].includes(v),
    source: (v) => ['body', 'query', 'header', 'none'].includes(v),
    webhook: (v) => ['crm', 'tasks', 'unknown'].includes(v),
  },
  [METRIC.extractions]: {
    source: (v) => ['body', 'query', 'header'].includes(v),
    found: (v) => ['true', 'false'].includes(v),
  },
  [METRIC.requestsRejected]: { reason: (v) => (REJECTION_REASONS as readonly string[]).includes(v) },
  [METRIC.rejectionsByDiagnosis]: { diagnosis: (v) => (DIAGNOSES as readonly string[]).includes(v) },
  [METRIC.storeWrites]: {
    kind: (v) => ['accepted', 'quarantine'].includes(v),
    result: (v) => ['ok', 'error'].includes(v),
  },
  [METRIC.quarantined]: { reason: (v) => (QUARANTINE_REASONS as readonly string[]).includes(v) },
  [METRIC.quarantineEvictions]: {},
  [METRIC.quarantineSize]: {},
  [METRIC.quarantinePending]: {},
  [METRIC.quarantinePlausibleEvictions]: {},
  [METRIC.quarantineDropped]: { reason: (v) => (QUARANTINE_DROP_REASONS as readonly string[]).includes(v) },
  [METRIC.storeTimeouts]: {},
  [METRIC.storeUp]: {},
  [METRIC.tokensConfigured]: {},
  [METRIC.events]: { event: (v) => v === OTHER_EVENT || /^ON[A-Z0-9_]{1,64}$/.test(v) },
  [METRIC.lastAcceptedTimestamp]: { webhook: (v) => ['crm', 'tasks'].includes(v) },
  [METRIC.httpRequestDuration]: {
    method: (v) => [...ROUTER_METHODS, 'OTHER'].includes(v),
    route: (v) => [PATH, '/metrics', '/healthz', '/readyz', 'unmatched'].includes(v),
    status_code: (v) => ['200', '400', '401', '403', '404', '405', '413', '415', '500', '501', '503'].includes(v),
  },
  [TRACING_METRIC.spansDropped]: { reason: (v) => ['buffer_full', 'export_queue_full'].includes(v) },
  [TRACING_METRIC.answeredByNode]: { status_code: (v) => ['400', '408', '413', '431'].includes(v) },
};

interface Planned {
  send: SendOptions;
  status: number;
  route: string;
}

function plan(): Planned[] {
  const requests: Planned[] = [];
  const delivery = (token: string, event: string, path = PATH): Planned => ({
    send: {
      path,
      headers: FORM,
      body: httpBuildQuery({ event, data: { FIELDS: { ID: '1' } }, ts: '1766047124', auth: webhookAuth(token) }),
    },
    status: 200,
    route: PATH,
  });
  for (let i = 1; i <= DISTINCT_EVENTS; i++) requests.push(delivery(WEBHOOK_TOKEN, `ONX${String(i).padStart(4, '0')}`));
  for (const event of ODD_EVENTS) requests.push(delivery(APP_TOKEN, event));
  // The route matched whatever the spelling of its path; the label is the route, not the path.
  for (const path of [
    '/API/BITRIX/WEBHOOK',
    `${PATH}/`,
    `${PATH}?utm_source=${Math.random()}`,
    `${PATH}?application_token=${WEBHOOK_TOKEN}`,
  ]) {
    requests.push(delivery(WEBHOOK_TOKEN, 'ONCRMDEALADD', path));
  }
  for (let i = 0; i < 20; i++) {
    const wrong = `w${i}${'x'.repeat(i)} `;
    requests.push({
      send: { headers: FORM, body: CRM_DEAL_ADD.replace(WEBHOOK_TOKEN, encodeURIComponent(wrong)) },
      status: 403,
      route: PATH,
    });
    requests.push({
      send: { path: `${PATH}?token=${encodeURIComponent(` q${i}`)}`, headers: FORM, body: withoutToken(CRM_DEAL_ADD) },
      status: 403,
      route: PATH,
    });
    requests.push({ send: { headers: { 'x-bitrix24-token': `h${i}-${'y'.repeat(i)}` } }, status: 403, route: PATH });
  }
  for (let i = 0; i < 10; i++)
    requests.push({ send: { headers: FORM, body: withoutToken(CRM_DEAL_ADD) }, status: 401, route: PATH });
  requests.push({ send: { headers: { 'content-type': 'text/plain' }, body: CRM_DEAL_ADD }, status: 415, route: PATH });
  requests.push({
    send: { headers: { 'content-type': 'text/plain' }, body: CRM_DEAL_ADD, chunked: true },
    status: 415,
    route: PATH,
  });
  requests.push({
    send: { headers: FORM, body: `${CRM_DEAL_ADD}&pad=${'x'.repeat(20_000)}` },
    status: 413,
    route: PATH,
  });
  requests.push({ send: { headers: { 'content-type': 'application/json' }, body: '{' }, status: 400, route: PATH });
  // Distinct paths and methods: none becomes a label value.
  for (let i = 0; i < 140; i++) {
    const method = METHODS[i % METHODS.length]!;
    requests.push({
      send: { method, path: `/r/${i}/${Math.random().toString(36).slice(2)}?x=${i}` },
      status: UNIMPLEMENTED_METHODS.includes(method) ? 501 : 404,
      route: 'unmatched',
    });
  }
  for (const method of METHODS.filter((m) => m !== 'POST')) {
    const status = UNIMPLEMENTED_METHODS.includes(method) ? 501 : method === 'OPTIONS' ? 200 : 405;
    requests.push({ send: { method, path: PATH }, status, route: 'unmatched' });
  }
  return requests;
}

function families(samples: Sample[]): Map<string, Sample[]> {
  const byFamily = new Map<string, Sample[]>();
  for (const sample of samples) {
    const family = sample.name.replace(/_(bucket|sum|count)$/, '');
    byFamily.set(family, [...(byFamily.get(family) ?? []), sample]);
  }
  return byFamily;
}

describe('robustness: every label of every metric stays in its documented set', function () {
  this.timeout(60_000);
  let harness: Harness;
  let client: Client;
  const planned = plan();
  const answered: number[] = [];
  before(async () => {
    harness = await startHarness({
      BITRIX24_WEBHOOK_TOKENS: `crm=${WEBHOOK_TOKEN},tasks=${APP_TOKEN}`,
      BODY_LIMIT: '16kb',
    });
    client = new Client(harness.url);
    for (const request of planned) answered.push((await client.send(request.send)).status);
  });
  after(async () => {
    client?.close();
    await harness?.close();
  });

  it('answered every planned request with its planned status', () => {
    expect(answered).to.deep.equal(planned.map((request) => request.status));
  });

  it('exposes exactly the documented metric families, each label with a non-empty set of documented values', async () => {
    const byFamily = families(parsePrometheusText(await harness.metricsText()));
    expect([...byFamily.keys()].sort()).to.deep.equal(Object.keys(DOCUMENTED).sort());
    for (const [family, labels] of Object.entries(DOCUMENTED)) {
      const samples = byFamily.get(family)!;
      for (const sample of samples) {
        const names = Object.keys(sample.labels).filter((name) => !(sample.name.endsWith('_bucket') && name === 'le'));
        expect(names.sort(), `label names of ${sample.name}`).to.deep.equal(Object.keys(labels).sort());
      }
      for (const [label, documented] of Object.entries(labels)) {
        const values = new Set(samples.map((sample) => sample.labels[label]!));
        expect(values.size, `${family}{${label}} has values`).to.be.above(0);
        const undocumented = [...values].filter((value) => !documented(value));
        expect(undocumented, `${family}{${label}} values outside the documented set`).to.deep.equal([]);
      }
    }
  });

  it('labels request durations by method, route and status exactly: no path, no odd method, no client value', async () => {
    const expected = new Map<string, number>();
    for (const request of planned) {
      const method = request.send.method ?? 'POST';
      const key = `method="${ROUTER_METHODS.includes(method) ? method : 'OTHER'}",route="${request.route}",status_code="${request.status}"`;
      expected.set(key, (expected.get(key) ?? 0) + 1);
    }
    const counts = parsePrometheusText(await harness.metricsText())
      .filter((sample) => sample.name === `${METRIC.httpRequestDuration}_count`)
      .map(
        (sample) =>
          `method="${sample.labels.method}",route="${sample.labels.route}",status_code="${sample.labels.status_code}" ${sample.value}`,
      );
    expect(counts).to.have.members([...expected].map(([key, count]) => `${key} ${count}`));
    expect(counts.length).to.equal(expected.size);
  });

  it('counts the first 200 distinct event names by name and every other delivery as "other"', async () => {
    const samples = parsePrometheusText(await harness.metricsText()).filter((sample) => sample.name === METRIC.events);
    const named = Array.from({ length: 200 }, (_, i) => `ONX${String(i + 1).padStart(4, '0')}`);
    expect(samples.map((sample) => [sample.labels.event, sample.value])).to.have.deep.members([
      ...named.map((event) => [event, 1]),
      [OTHER_EVENT, DISTINCT_EVENTS - 200 + ODD_EVENTS.length + 4],
    ]);
  });

  it('labels verifications and last acceptance only with configured token names or "unknown", whatever tokens arrive', async () => {
    const samples = parsePrometheusText(await harness.metricsText());
    const verifications = samples
      .filter((sample) => sample.name === METRIC.verifications)
      .map((s) => `${s.labels.result}/${s.labels.source}/${s.labels.webhook} ${s.value}`);
    expect(verifications).to.have.members([
      `accepted/body/crm ${DISTINCT_EVENTS + 4}`,
      `accepted/body/tasks ${ODD_EVENTS.length}`,
      'accepted/query/crm 0',
      'accepted/query/tasks 0',
      'accepted/header/crm 0',
      'accepted/header/tasks 0',
      'accepted/none/unknown 0',
      'missing/body/unknown 0',
      'missing/query/unknown 0',
      'missing/header/unknown 0',
      'missing/none/unknown 10',
      'mismatched/body/unknown 20',
      'mismatched/query/unknown 20',
      'mismatched/header/unknown 20',
      'mismatched/none/unknown 0',
    ]);
    expect(verifications).to.have.length(15);
    const last = samples
      .filter((sample) => sample.name === METRIC.lastAcceptedTimestamp)
      .map((sample) => sample.labels.webhook);
    expect(last).to.have.members(['crm', 'tasks']);
    expect(last).to.have.length(2);
    const accepted = DISTINCT_EVENTS + 4 + ODD_EVENTS.length;
    const verified = accepted + 60 + 10;
    const extractions = samples
      .filter((sample) => sample.name === METRIC.extractions)
      .map((s) => `${s.labels.source}/${s.labels.found} ${s.value}`);
    expect(extractions).to.have.members([
      `body/true ${accepted + 20}`,
      `body/false ${verified - accepted - 20}`,
      'query/true 21',
      `query/false ${verified - 21}`,
      'header/true 20',
      `header/false ${verified - 20}`,
    ]);
    expect(extractions).to.have.length(6);
    const rejected = samples
      .filter((sample) => sample.name === METRIC.requestsRejected)
      .map((s) => `${s.labels.reason} ${s.value}`);
    const notFound = planned.filter(
      (request) => request.send.method === 'POST' && request.route === 'unmatched',
    ).length;
    // A GET or HEAD on the webhook path: a followed redirect, counted and diagnosed.
    const redirected = planned.filter(
      (request) => ['GET', 'HEAD'].includes(request.send.method ?? 'POST') && request.send.path === PATH,
    ).length;
    expect(redirected, 'GET and HEAD on the webhook path in the plan').to.equal(2);
    expect(notFound, 'POSTs to a wrong path in the plan').to.be.above(0);
    expect(rejected).to.have.members([
      'not_configured 0',
      'unsupported_media_type 2',
      'payload_too_large 1',
      'malformed_body 1',
      'overloaded 0',
      'request_timeout 0',
      `not_found ${notFound}`,
      'store_unavailable 0',
      `method_not_allowed ${redirected}`,
    ]);
    // Every refused delivery is diagnosed once, whatever its stage: 60 mismatched, 10 missing, 415 ×2, 413, 400, the
    // wrong paths.
    const diagnosed = samples.filter((sample) => sample.name === METRIC.rejectionsByDiagnosis);
    expect(diagnosed).to.have.length(DIAGNOSES.length);
    expect(diagnosed.reduce((sum, sample) => sum + sample.value, 0)).to.equal(
      60 + 10 + 2 + 1 + 1 + notFound + redirected,
    );
  });
});
