// The names and label values used by the rules and the dashboard must be ones a running service exposes.
import { expect } from 'chai';
import { SCRAPE_JOB } from '../../src/monitoring/constants';
import { spawnService, type RunningService } from '../support/spawn-service';
import { BODY, deliver, scrape, TOKEN, WEBHOOK_PATH } from './support/deliveries';
import { allExpressions } from './support/generated-expressions';
import { readExposition, type ObservedMetrics } from './support/metrics-text';
import { readExpression, type Matcher } from './support/promql-selectors';

/** Labels Prometheus adds to every scraped series, or that belong to histogram buckets. */
const TARGET_LABELS = new Set(['job', 'instance']);

function matcherProblem(metric: string, matcher: Matcher, observed: ObservedMetrics): string | undefined {
  const values = observed.get(metric)?.get(matcher.label);
  if (!values)
    return `${metric} has no label ${matcher.label} (has: ${[...(observed.get(metric)?.keys() ?? [])].join(', ')})`;
  if (matcher.op === '=' || matcher.op === '!=') {
    return values.has(matcher.value)
      ? undefined
      : `${metric}{${matcher.label}} never takes the value "${matcher.value}" (seen: ${[...values].join(', ')})`;
  }
  const pattern = new RegExp(`^(?:${matcher.value})$`);
  return [...values].some((value) => pattern.test(value))
    ? undefined
    : `${metric}{${matcher.label}=~"${matcher.value}"} matches no value seen (${[...values].join(', ')})`;
}

describe('metric names and label values against a real scrape of the service', function () {
  this.timeout(60_000);
  const services: RunningService[] = [];
  const observed: ObservedMetrics = new Map();

  before(async () => {
    // Forwarding on (to an upstream that is not there: attempts retry), so its metrics are exposed as deployed.
    const guarded = await spawnService({
      env: {
        BITRIX24_OUTGOING_WEBHOOK_TOKEN: TOKEN,
        BODY_LIMIT: '2kb',
        FORWARD_URL: 'http://127.0.0.1:9/events',
        FORWARD_SIGNING_SECRET: `whsec_${Buffer.alloc(24, 7).toString('base64')}`,
      },
    });
    services.push(guarded);
    const unconfigured = await spawnService({ env: {} });
    services.push(unconfigured);

    const answers = {
      accepted: await deliver(guarded.url, { body: BODY.accepted }),
      acceptedFromQuery: await deliver(guarded.url, {
        path: `${WEBHOOK_PATH}?token=${TOKEN}`,
        body: BODY.withoutToken,
      }),
      acceptedFromHeader: await deliver(guarded.url, {
        body: BODY.withoutToken,
        headers: { 'x-bitrix24-token': TOKEN },
      }),
      missing: await deliver(guarded.url, { body: BODY.missing }),
      mismatched: await deliver(guarded.url, { body: BODY.mismatched }),
      unsupported: await deliver(guarded.url, { body: BODY.accepted, contentType: 'text/plain' }),
      tooLarge: await deliver(guarded.url, { body: `${BODY.accepted}&data%5Bpad%5D=${'x'.repeat(4096)}` }),
      malformed: await deliver(guarded.url, { body: '{"auth": ', contentType: 'application/json' }),
      notConfigured: await deliver(unconfigured.url, { body: BODY.accepted }),
    };
    expect(answers).to.deep.equal({
      accepted: 200,
      acceptedFromQuery: 200,
      acceptedFromHeader: 200,
      missing: 401,
      mismatched: 403,
      unsupported: 415,
      tooLarge: 413,
      malformed: 400,
      notConfigured: 503,
    });
    for (const service of services) readExposition(await scrape(service.url), observed);
  });

  after(async () => {
    await Promise.all(services.map((service) => service.stop()));
  });

  const expressions = allExpressions(SCRAPE_JOB);

  for (const expression of expressions) {
    it(`${expression.where} uses only exposed names and label values`, () => {
      const uses = readExpression(expression.expr);
      const problems: string[] = [];
      const labelsOfExpression = new Set<string>(TARGET_LABELS);
      for (const selector of uses.selectors) {
        if (selector.metric === 'up') {
          expect(selector.matchers).to.deep.equal([{ label: 'job', op: '=', value: SCRAPE_JOB }]);
          continue;
        }
        const labels = observed.get(selector.metric);
        if (!labels) {
          problems.push(`the service exposes no ${selector.metric}`);
          continue;
        }
        for (const label of labels.keys()) labelsOfExpression.add(label);
        for (const matcher of selector.matchers) {
          if (matcher.label === 'job') {
            if (matcher.value !== SCRAPE_JOB)
              problems.push(`job="${matcher.value}" is not the scrape job ${SCRAPE_JOB}`);
            continue;
          }
          const problem = matcherProblem(selector.metric, matcher, observed);
          if (problem) problems.push(problem);
        }
      }
      for (const label of uses.groupingLabels) {
        if (!labelsOfExpression.has(label))
          problems.push(`groups by ${label}, which no series of the expression carries`);
      }
      expect(problems, expression.expr).to.deep.equal([]);
    });
  }

  it('shows on the dashboard every metric family of the service that a real scrape exposes, and the process metrics', () => {
    const family = (name: string) =>
      /_(bucket|sum|count)$/.test(name) && observed.has(name.replace(/_(bucket|sum|count)$/, '_bucket'))
        ? name.replace(/_(bucket|sum|count)$/, '')
        : name;
    const exposed = [
      ...new Set([...observed.keys()].filter((name) => /^(bitrix_webhook_|http_server_)/.test(name)).map(family)),
    ].sort();
    expect(exposed, 'the families a real scrape shows').to.deep.equal([
      'bitrix_webhook_events_total',
      'bitrix_webhook_forward_attempts_total',
      'bitrix_webhook_forward_backlog',
      'bitrix_webhook_forward_dead_letters',
      'bitrix_webhook_forward_oldest_pending_age_seconds',
      'bitrix_webhook_forward_unreadable_events_total',
      'bitrix_webhook_last_accepted_timestamp_seconds',
      'bitrix_webhook_quarantine_dropped_total',
      'bitrix_webhook_quarantine_evictions_total',
      'bitrix_webhook_quarantine_pending',
      'bitrix_webhook_quarantine_plausible_evictions_total',
      'bitrix_webhook_quarantine_releases_total',
      'bitrix_webhook_quarantine_size',
      'bitrix_webhook_quarantined_total',
      'bitrix_webhook_rejections_by_diagnosis_total',
      'bitrix_webhook_requests_answered_by_node_total',
      'bitrix_webhook_requests_rejected_total',
      'bitrix_webhook_store_timeouts_total',
      'bitrix_webhook_store_up',
      'bitrix_webhook_store_writes_total',
      'bitrix_webhook_token_extractions_total',
      'bitrix_webhook_token_verifications_total',
      'bitrix_webhook_tokens_configured',
      'bitrix_webhook_trace_spans_dropped_total',
      'http_server_request_duration_seconds',
    ]);
    const process = [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_heap_size_used_bytes',
      'nodejs_eventloop_lag_p99_seconds',
    ];
    for (const name of process) expect(observed.has(name), `the scrape shows ${name}`).to.equal(true);
    const onDashboard = new Set(
      expressions
        .filter((expression) => expression.where.startsWith('dashboard'))
        .flatMap((expression) => readExpression(expression.expr).selectors.map((selector) => family(selector.metric))),
    );
    expect(
      [...exposed, ...process].filter((name) => !onDashboard.has(name)),
      'not on the dashboard',
    ).to.deep.equal([]);
  });

  it('would notice a label value the service does not produce (control)', () => {
    const problem = matcherProblem(
      'bitrix_webhook_token_verifications_total',
      { label: 'result', op: '=', value: 'rejected' },
      observed,
    );
    expect(problem).to.be.a('string');
  });
});
