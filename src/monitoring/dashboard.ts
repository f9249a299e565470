// The Grafana dashboard model (plain JSON, datasources by {type, uid}, no __inputs), typed with Grafana's
// published Dashboard type (@grafana/schema at the pinned Grafana version): tsc checks every field.
import type { Dashboard, DashboardLink, VariableModel } from '@grafana/schema';
import {
  DIAGNOSIS_LABEL,
  FORWARD_METRIC,
  FORWARD_SPAN,
  METRIC,
  PROCESS_METRIC,
  RECOVER_METRIC,
  SPAN,
  TRACING_METRIC,
} from '../vocabulary/names';
import { ALERTS, alertByName, runbookUrl, VERIFICATION_WINDOW, type AlertSpec } from './alerts';
import {
  DASHBOARD_TITLE,
  DASHBOARD_UID,
  GENERATE_COMMAND,
  prometheusRef,
  RUNBOOK_BASE_URL,
  SCRAPE_JOB,
  tempoRef,
} from './constants';
import {
  row,
  stat,
  timeseries,
  traceSearchTable,
  promTarget,
  type ThresholdStep,
  type UnnumberedPanel,
} from './panels';
import { histogramQuantile, selector, sumIncrease, sumRate, verificationShare } from './promql';

/** TraceQL for verifications that did not accept (their span has status ERROR). */
export const FAILED_VERIFICATIONS_TRACEQL = `{ name = "${SPAN.verify}" && status = error }`;

const RATE = '$__rate_interval';
const job = { job: '$job' } as const;
const http = METRIC.httpRequestDuration;

/** Panel thresholds taken from an alert spec, so the graph draws exactly the line the alert uses. */
export function alertThresholdSteps(alert: AlertSpec): ThresholdStep[] {
  return alert.comparison === '>'
    ? [
        { color: 'green', value: null },
        { color: 'red', value: alert.threshold },
      ]
    : [
        { color: 'red', value: null },
        { color: 'green', value: alert.threshold },
      ];
}

function link(fields: Omit<DashboardLink, 'tags' | 'asDropdown' | 'includeVars'>): DashboardLink {
  return { ...fields, tags: [], asDropdown: false, includeVars: false };
}

function runbookLink(alert: AlertSpec): DashboardLink {
  return link({
    title: `Runbook: ${alert.name}`,
    type: 'link',
    url: runbookUrl(alert),
    targetBlank: true,
    icon: 'doc',
    keepTime: false,
    tooltip: alert.summary,
  });
}

function withLinks(panel: UnnumberedPanel, alerts: AlertSpec[]): UnnumberedPanel {
  return { ...panel, links: alerts.map(runbookLink) };
}

export function tempoExploreUrl(traceQl: string): string {
  const panes = {
    failed: {
      datasource: tempoRef.uid,
      queries: [{ refId: 'A', datasource: tempoRef, queryType: 'traceql', query: traceQl, limit: 20 }],
      range: { from: 'now-1h', to: 'now' },
    },
  };
  return `/explore?schemaVersion=1&orgId=1&panes=${encodeURIComponent(JSON.stringify(panes))}`;
}

function shareOf(result: string): string {
  return verificationShare(result, VERIFICATION_WINDOW, [], job);
}

function verificationPanels(y: number) {
  const missing = alertByName('BitrixWebhookTokenMissingSpike');
  const mismatch = alertByName('BitrixWebhookTokenMismatchSpike');
  const notConfigured = alertByName('BitrixWebhookTokensNotConfigured');
  const stopped = alertByName('BitrixWebhookDeliveriesStopped');
  const rejected = alertByName('BitrixWebhookRequestsRejected');
  const percent = { unit: 'percentunit', min: 0, max: 1 };
  return [
    row(y, 'Token verification'),
    withLinks(
      stat(
        { x: 0, y: y + 1, w: 4, h: 5 },
        {
          title: 'Tokens configured',
          thresholds: alertThresholdSteps(notConfigured),
          description: 'bitrix_webhook_tokens_configured: 0 means every delivery is rejected (503 not_configured).',
        },
        [promTarget('A', `sum(${selector(METRIC.tokensConfigured, job)})`, 'tokens', { instant: true })],
      ),
      [notConfigured],
    ),
    withLinks(
      stat(
        { x: 4, y: y + 1, w: 4, h: 5 },
        { title: `Missing-token share (${VERIFICATION_WINDOW})`, ...percent, thresholds: alertThresholdSteps(missing) },
        [promTarget('A', shareOf('missing'), 'missing', { instant: true })],
      ),
      [missing],
    ),
    withLinks(
      stat(
        { x: 8, y: y + 1, w: 4, h: 5 },
        {
          title: `Mismatched-token share (${VERIFICATION_WINDOW})`,
          ...percent,
          thresholds: alertThresholdSteps(mismatch),
        },
        [promTarget('A', shareOf('mismatched'), 'mismatched', { instant: true })],
      ),
      [mismatch],
    ),
    withLinks(
      stat(
        { x: 12, y: y + 1, w: 12, h: 5 },
        {
          title: 'Time since the last accepted delivery, per webhook',
          unit: 's',
          description: 'From bitrix_webhook_last_accepted_timestamp_seconds.',
        },
        [
          promTarget('A', `time() - max by (webhook) (${selector(METRIC.lastAcceptedTimestamp, job)})`, '{{webhook}}', {
            instant: true,
          }),
        ],
      ),
      [stopped],
    ),
    timeseries(
      { x: 0, y: y + 6, w: 12, h: 8 },
      {
        title: 'Verifications by result',
        unit: 'reqps',
        stack: true,
        description: 'Exemplars open the trace of a verification.',
      },
      [promTarget('A', sumRate(METRIC.verifications, job, RATE, ['result']), '{{result}}', { exemplar: true })],
    ),
    withLinks(
      timeseries(
        { x: 12, y: y + 6, w: 6, h: 8 },
        {
          title: `Missing-token share ("received: None"), ${VERIFICATION_WINDOW} window`,
          ...percent,
          thresholds: alertThresholdSteps(missing),
          description: `The dashed line is the ${missing.name} threshold.`,
        },
        [promTarget('A', shareOf('missing'), 'missing share')],
      ),
      [missing],
    ),
    withLinks(
      timeseries(
        { x: 18, y: y + 6, w: 6, h: 8 },
        {
          title: `Mismatched-token share, ${VERIFICATION_WINDOW} window`,
          ...percent,
          thresholds: alertThresholdSteps(mismatch),
          description: `The dashed line is the ${mismatch.name} threshold.`,
        },
        [promTarget('A', shareOf('mismatched'), 'mismatched share')],
      ),
      [mismatch],
    ),
    timeseries(
      { x: 0, y: y + 14, w: 8, h: 8 },
      { title: 'Where tokens are found (deciding source)', unit: 'reqps', stack: true },
      [promTarget('A', sumRate(METRIC.verifications, { ...job, source: '!none' }, RATE, ['source']), '{{source}}')],
    ),
    timeseries({ x: 8, y: y + 14, w: 8, h: 8 }, { title: 'Token lookups by source and outcome', unit: 'reqps' }, [
      promTarget('A', sumRate(METRIC.extractions, job, RATE, ['source', 'found']), '{{source}} found={{found}}'),
    ]),
    withLinks(
      timeseries(
        { x: 16, y: y + 14, w: 8, h: 8 },
        {
          title: 'Rejected requests by reason (last 10 min)',
          thresholds: alertThresholdSteps(rejected),
          description: `The dashed line is the ${rejected.name} threshold (not_configured is covered by ${notConfigured.name}).`,
        },
        [promTarget('A', sumIncrease(METRIC.requestsRejected, job, '10m', ['reason']), '{{reason}}')],
      ),
      [rejected, notConfigured],
    ),
    timeseries({ x: 0, y: y + 22, w: 12, h: 8 }, { title: 'Accepted events by type', unit: 'reqps', stack: true }, [
      promTarget('A', sumRate(METRIC.events, job, RATE, ['event']), '{{event}}'),
    ]),
    withLinks(
      timeseries(
        { x: 12, y: y + 22, w: 12, h: 8 },
        { title: 'Accepted deliveries per webhook', unit: 'reqps', stack: true },
        [
          promTarget(
            'A',
            sumRate(METRIC.verifications, { ...job, result: 'accepted' }, RATE, ['webhook']),
            '{{webhook}}',
            { exemplar: true },
          ),
        ],
      ),
      [stopped],
    ),
    {
      ...timeseries(
        { x: 0, y: y + 30, w: 24, h: 8 },
        {
          title: 'Why deliveries are refused (diagnosis, last 10 min)',
          description:
            'Every refused delivery, whatever the stage that refused it, by its likely cause. Each diagnosis has a section in the runbook.',
        },
        [
          promTarget(
            'A',
            sumIncrease(METRIC.rejectionsByDiagnosis, job, '10m', [DIAGNOSIS_LABEL]),
            `{{${DIAGNOSIS_LABEL}}}`,
          ),
        ],
      ),
      links: [
        link({
          title: 'Runbook: diagnoses',
          type: 'link',
          url: `${RUNBOOK_BASE_URL}#diagnoses-why-a-delivery-was-refused`,
          targetBlank: true,
          icon: 'doc',
          keepTime: false,
          tooltip: 'What each diagnosis means, how to confirm it, how to fix it',
        }),
      ],
    },
  ];
}

function storePanels(y: number) {
  const failing = alertByName('BitrixWebhookStoreFailing');
  const growing = alertByName('BitrixWebhookQuarantineGrowing');
  const plausibleEvicted = alertByName('BitrixWebhookQuarantinePlausibleEvicted');
  const timeouts = alertByName('BitrixWebhookStoreTimeouts');
  return [
    row(y, 'Store and quarantine'),
    withLinks(
      timeseries(
        { x: 0, y: y + 1, w: 8, h: 8 },
        {
          title: 'Store writes by kind and result',
          unit: 'reqps',
          description: `result="error" on kind="accepted" means 503 store_unavailable: see ${failing.name}.`,
        },
        [promTarget('A', sumRate(METRIC.storeWrites, job, RATE, ['kind', 'result']), '{{kind}} {{result}}')],
      ),
      [failing],
    ),
    withLinks(
      timeseries(
        { x: 8, y: y + 1, w: 8, h: 8 },
        {
          title: 'Quarantined deliveries by reason (last 30 min)',
          thresholds: alertThresholdSteps(growing),
          description: `The dashed line is the ${growing.name} threshold. List them: bitrix24-webhook-guard quarantine list; replay once fixed.`,
        },
        [promTarget('A', sumIncrease(METRIC.quarantined, job, '30m', ['reason']), '{{reason}}')],
      ),
      [growing],
    ),
    withLinks(
      stat(
        { x: 16, y: y + 1, w: 4, h: 8 },
        { title: 'Quarantine size', description: 'Rows in quarantine (released ones too, until purged or expired).' },
        [promTarget('A', `max(${selector(METRIC.quarantineSize, job)})`, 'rows', { instant: true })],
      ),
      [growing],
    ),
    withLinks(
      stat(
        { x: 20, y: y + 1, w: 4, h: 8 },
        {
          title: 'Quarantine evictions and refusals not kept (24h)',
          description: `Rows deleted by QUARANTINE_MAX_ROWS / QUARANTINE_MAX_BYTES (released, then junk, then plausible); plausible ones page (${plausibleEvicted.name}). Not kept: refusals past QUARANTINE_WRITES_PER_SECOND or below QUARANTINE_DISK_RESERVE.`,
        },
        [
          promTarget('A', sumIncrease(METRIC.quarantineEvictions, job, '24h', []), 'evicted', { instant: true }),
          promTarget('B', sumIncrease(METRIC.quarantinePlausibleEvictions, job, '24h', []), 'plausible evicted', {
            instant: true,
          }),
          promTarget('C', sumIncrease(METRIC.quarantineDropped, job, '24h', ['reason']), 'not kept: {{reason}}', {
            instant: true,
          }),
        ],
      ),
      [plausibleEvicted],
    ),
    withLinks(
      stat(
        { x: 0, y: y + 9, w: 6, h: 6 },
        {
          title: 'Store up',
          description: '1 while store writes succeed, 0 while they fail or time out (as /readyz says).',
        },
        [promTarget('A', `min(${selector(METRIC.storeUp, job)})`, 'up', { instant: true })],
      ),
      [failing, timeouts],
    ),
    withLinks(
      stat(
        { x: 6, y: y + 9, w: 6, h: 6 },
        {
          title: 'Store timeouts (1h)',
          description: `Store operations past STORE_TIMEOUT_SECONDS (answered 503 store_unavailable): see ${timeouts.name}.`,
        },
        [promTarget('A', sumIncrease(METRIC.storeTimeouts, job, '1h', []), 'timeouts', { instant: true })],
      ),
      [timeouts],
    ),
    withLinks(
      stat(
        { x: 12, y: y + 9, w: 6, h: 6 },
        {
          title: 'Quarantine pending',
          description:
            'Quarantined deliveries not yet released, read from the store: a replay by any process lowers it.',
        },
        [promTarget('A', `max(${selector(METRIC.quarantinePending, job)})`, 'pending', { instant: true })],
      ),
      [growing],
    ),
    stat(
      { x: 18, y: y + 9, w: 6, h: 6 },
      {
        title: 'Quarantine releases by how (24h)',
        description:
          'Quarantined deliveries released as accepted events: auto (QUARANTINE_AUTO_REPLAY at start-up), cli, console.',
      },
      [promTarget('A', sumIncrease(RECOVER_METRIC.releases, job, '24h', ['how']), '{{how}}', { instant: true })],
    ),
  ];
}

function httpPanels(y: number) {
  const count = `${http}_count`;
  const durationTargets = [0.5, 0.95, 0.99].map((quantile, index) =>
    promTarget(
      String.fromCharCode(65 + index),
      histogramQuantile(quantile, http, job, RATE),
      `p${Math.round(quantile * 100)}`,
      { exemplar: true },
    ),
  );
  return [
    row(y, 'HTTP'),
    timeseries({ x: 0, y: y + 1, w: 8, h: 8 }, { title: 'Requests by status code', unit: 'reqps', stack: true }, [
      promTarget('A', sumRate(count, job, RATE, ['status_code']), '{{status_code}}'),
    ]),
    timeseries(
      { x: 8, y: y + 1, w: 8, h: 8 },
      { title: 'Error share (4xx are rejected deliveries, 5xx server errors)', unit: 'percentunit', min: 0 },
      ['4', '5'].map((digit, index) =>
        promTarget(
          String.fromCharCode(65 + index),
          `${sumRate(count, { ...job, status_code: `~${digit}..` }, RATE, [])} / ${sumRate(count, job, RATE, [])}`,
          `${digit}xx`,
        ),
      ),
    ),
    timeseries(
      { x: 16, y: y + 1, w: 8, h: 8 },
      { title: 'Request duration p50 / p95 / p99', unit: 's', description: 'Exemplar dots open the trace.' },
      durationTargets,
    ),
  ];
}

function processPanels(y: number) {
  return [
    row(y, 'Process'),
    timeseries({ x: 0, y: y + 1, w: 8, h: 8 }, { title: 'CPU', unit: 'percentunit', min: 0 }, [
      promTarget('A', `rate(${selector(PROCESS_METRIC.cpuSeconds, job)}[${RATE}])`, '{{instance}}'),
    ]),
    timeseries({ x: 8, y: y + 1, w: 8, h: 8 }, { title: 'Memory', unit: 'bytes', min: 0 }, [
      promTarget('A', selector(PROCESS_METRIC.residentMemoryBytes, job), 'resident {{instance}}'),
      promTarget('B', selector(PROCESS_METRIC.heapUsedBytes, job), 'heap used {{instance}}'),
    ]),
    timeseries({ x: 16, y: y + 1, w: 8, h: 8 }, { title: 'Event-loop lag p99', unit: 's', min: 0 }, [
      promTarget('A', selector(PROCESS_METRIC.eventLoopLagP99Seconds, job), '{{instance}}'),
    ]),
  ];
}

function tracePanels(y: number) {
  return [
    row(y, 'Traces'),
    traceSearchTable(
      { x: 0, y: y + 1, w: 24, h: 8 },
      'Failed verifications (Tempo)',
      `Spans ${SPAN.verify} with status ERROR: missing or mismatched tokens. Open one to see which sources were examined.`,
      FAILED_VERIFICATIONS_TRACEQL,
    ),
    timeseries(
      { x: 0, y: y + 9, w: 12, h: 8 },
      {
        title: 'Requests Node answered before the app (last 10 min)',
        description:
          'Timeouts (408), unparseable requests (400), oversized headers (431): no server span and no app log line covers them.',
      },
      [promTarget('A', sumIncrease(TRACING_METRIC.answeredByNode, job, '10m', ['status_code']), '{{status_code}}')],
    ),
    timeseries(
      { x: 12, y: y + 9, w: 12, h: 8 },
      {
        title: 'Spans dropped before export (last 10 min)',
        description:
          'buffer_full: more traces awaiting their export decision than the bounds allow; export_queue_full: the exporter cannot keep up. Either way, some traces are incomplete.',
      },
      [promTarget('A', sumIncrease(TRACING_METRIC.spansDropped, job, '10m', ['reason']), '{{reason}}')],
    ),
  ];
}

function forwardingPanels(y: number) {
  const backlog = alertByName('BitrixWebhookForwardBacklogGrowing');
  const failing = alertByName('BitrixWebhookForwardingFailing');
  const dead = alertByName('BitrixWebhookForwardDeadLetters');
  const unreadable = alertByName('BitrixWebhookForwardUnreadableEvents');
  // Every replica reports the store-wide gauges: the max is the store's value.
  const storeWide = (metric: string) => `max(${selector(metric, job)})`;
  return [
    row(y, 'Forwarding'),
    stat(
      { x: 0, y: y + 1, w: 6, h: 5 },
      {
        title: 'Forward backlog',
        description: `${FORWARD_METRIC.backlog}: events in the store not yet delivered to the application.`,
      },
      [promTarget('A', storeWide(FORWARD_METRIC.backlog), 'pending', { instant: true })],
    ),
    withLinks(
      stat(
        { x: 6, y: y + 1, w: 6, h: 5 },
        { title: 'Oldest pending event', unit: 's', thresholds: alertThresholdSteps(backlog) },
        [promTarget('A', storeWide(FORWARD_METRIC.oldestPendingAge), 'age', { instant: true })],
      ),
      [backlog],
    ),
    withLinks(
      stat(
        { x: 12, y: y + 1, w: 6, h: 5 },
        {
          title: 'Dead letters',
          thresholds: alertThresholdSteps(dead),
          description: 'events list --status dead; events redeliver --all-dead after fixing the cause.',
        },
        [promTarget('A', storeWide(FORWARD_METRIC.deadLetters), 'dead', { instant: true })],
      ),
      [dead],
    ),
    traceSearchTable(
      { x: 18, y: y + 1, w: 6, h: 5 },
      'Failed forwards (Tempo)',
      `Spans ${FORWARD_SPAN} with status ERROR; each links to the delivery's trace.`,
      `{ name = "${FORWARD_SPAN}" && status = error }`,
    ),
    withLinks(
      timeseries({ x: 0, y: y + 6, w: 12, h: 8 }, { title: 'Forward attempts by result', unit: 'reqps', stack: true }, [
        promTarget('A', sumRate(FORWARD_METRIC.attempts, job, RATE, ['result']), '{{result}}'),
        promTarget('B', sumRate(FORWARD_METRIC.unreadable, job, RATE, []), 'unreadable (dead-lettered at once)'),
      ]),
      [failing, unreadable],
    ),
    withLinks(
      timeseries({ x: 12, y: y + 6, w: 12, h: 8 }, { title: 'Forward backlog over time', min: 0 }, [
        promTarget('A', storeWide(FORWARD_METRIC.backlog), 'pending'),
        promTarget('B', storeWide(FORWARD_METRIC.deadLetters), 'dead'),
      ]),
      [backlog, dead],
    ),
  ];
}

function jobVariable(): VariableModel {
  const query = `label_values(${METRIC.tokensConfigured}, job)`;
  return {
    name: 'job',
    label: 'Job',
    type: 'query',
    datasource: prometheusRef,
    query: { query, refId: 'PrometheusVariableQueryEditor-VariableQuery' },
    current: { selected: true, text: SCRAPE_JOB, value: SCRAPE_JOB },
    options: [],
    refresh: 2,
    includeAll: false,
    multi: false,
    sort: 1,
    hide: 0,
  };
}

export function dashboard(): Dashboard {
  const panels = [
    ...verificationPanels(0),
    ...storePanels(39),
    ...httpPanels(54),
    ...processPanels(63),
    ...tracePanels(72),
    ...forwardingPanels(90),
  ].map((panel, index) => ({ id: index + 1, ...panel }));
  return {
    uid: DASHBOARD_UID,
    title: DASHBOARD_TITLE,
    description: `Generated by \`${GENERATE_COMMAND}\` from src/monitoring; do not edit by hand. Alerts: ${ALERTS.map((alert) => alert.name).join(', ')}.`,
    tags: ['bitrix24', 'webhook'],
    timezone: 'browser',
    editable: false,
    graphTooltip: 1,
    refresh: '30s',
    time: { from: 'now-6h', to: 'now' },
    schemaVersion: 39,
    version: 1,
    links: [
      link({
        title: 'Runbook',
        type: 'link',
        url: RUNBOOK_BASE_URL,
        targetBlank: true,
        icon: 'doc',
        keepTime: false,
        tooltip: 'What each alert means and how to fix it',
      }),
      link({
        title: 'Failed verifications in Tempo',
        type: 'link',
        url: tempoExploreUrl(FAILED_VERIFICATIONS_TRACEQL),
        targetBlank: false,
        icon: 'external link',
        keepTime: true,
        tooltip: FAILED_VERIFICATIONS_TRACEQL,
      }),
    ],
    templating: { list: [jobVariable()] },
    annotations: { list: [] },
    panels,
  };
}
