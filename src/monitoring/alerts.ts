// The alerts, defined once. Prometheus rules, Grafana-managed rules, dashboard thresholds and the
// runbook's generated blocks are all rendered from these specs.
import { FORWARD_METRIC, METRIC, UNKNOWN_WEBHOOK } from '../vocabulary/names';
import { RUNBOOK_BASE_URL, SCRAPE_JOB } from './constants';
import { compare, indent, selector, sumIncrease, verificationShare, type Comparison } from './promql';

export type Severity = 'critical' | 'warning';
/** How the measured value is shown in notifications. */
export type ValueFormat = 'percent' | 'count' | 'raw';

export interface AlertSpec {
  name: string;
  /** Heading anchor of the alert's section in docs/runbooks.md. */
  anchor: string;
  severity: Severity;
  /** PromQL whose result is the measured value; the alert fires where it compares true to the threshold. */
  query: string;
  comparison: Comparison;
  threshold: number;
  for: string;
  valueFormat: ValueFormat;
  summary: string;
  /** `value` is a template snippet that prints the formatted measured value in the target system. */
  description: (value: string) => string;
}

/** Window of the verification-share alerts. */
export const VERIFICATION_WINDOW = '5m';
/**
 * Fewest verifications in the window before a share means anything: a stray request at night must not page.
 * A count (increase) rather than a per-second rate, so a fresh Prometheus with seconds of history sees it.
 */
export const MIN_VERIFICATIONS_IN_WINDOW = 10;

const serviceLevel = ['job'] as const;

function guardedShare(result: string): string {
  return `${verificationShare(result, VERIFICATION_WINDOW, serviceLevel)}\nand\n${sumIncrease(METRIC.verifications, {}, VERIFICATION_WINDOW, serviceLevel)} >= ${MIN_VERIFICATIONS_IN_WINDOW}`;
}

const accepted = { result: 'accepted' } as const;
const DELIVERY_WINDOW = '1h';
const MIN_USUAL_DELIVERIES = 10;

/** Yesterday's count in the same hour, kept only where a week ago was busy too and nothing arrived in the last hour. */
function deliveriesStoppedQuery(): string {
  const byWebhook = ['webhook'];
  const sameHour = (offset: string) => sumIncrease(METRIC.verifications, accepted, DELIVERY_WINDOW, byWebhook, offset);
  return [
    sameHour('1d'),
    `and on (webhook)`,
    `${sameHour('1w')} > ${MIN_USUAL_DELIVERIES}`,
    `unless on (webhook)`,
    `${sumIncrease(METRIC.verifications, accepted, DELIVERY_WINDOW, byWebhook)} > 0`,
  ].join('\n');
}

const upSelector = selector('up', { job: SCRAPE_JOB });

/** Any failed store write in this window pages: each one is an event refused or a delivery not kept. */
const STORE_WINDOW = '5m';
/** An unreadable stored event is rare and each one is a lost forward: any in the last hour warns. */
const UNREADABLE_WINDOW = '1h';
const QUARANTINE_WINDOW = '30m';
/** Any plausible delivery evicted in this window pages: it may be a genuine event lost. */
const QUARANTINE_EVICTION_WINDOW = '15m';
/** More quarantined deliveries than this in the window is a cause to fix, not a stray scanner. */
const MIN_QUARANTINED_IN_WINDOW = 5;
/** Forwarding: every replica reports the same store-wide gauges, so the job's max is the store's value. */
export const FORWARD_BACKLOG_AGE_SECONDS = 900;
export const FORWARD_FAILURE_WINDOW = '10m';
/** Fewest attempts in the window before a failure share means anything. */
export const MIN_FORWARD_ATTEMPTS_IN_WINDOW = 5;

function forwardFailingQuery(): string {
  const attempts = (matchers: Record<string, string>) =>
    sumIncrease(FORWARD_METRIC.attempts, matchers, FORWARD_FAILURE_WINDOW, serviceLevel);
  return `${attempts({ result: '~retry|dead' })}\n  /\n${attempts({})}\nand\n${attempts({})} >= ${MIN_FORWARD_ATTEMPTS_IN_WINDOW}`;
}

export const ALERTS: readonly AlertSpec[] = [
  {
    name: 'BitrixWebhookTokenMissingSpike',
    anchor: 'bitrixwebhooktokenmissingspike',
    severity: 'critical',
    query: guardedShare('missing'),
    comparison: '>',
    threshold: 0.2,
    for: '2m',
    valueFormat: 'percent',
    summary: 'Bitrix24 deliveries arrive without a token ("received: None"); they are rejected and lost.',
    description: (value) =>
      `${value} of the token verifications of {{ $labels.job }} in the last ${VERIFICATION_WINDOW} found no token in any source (401 token_missing). ` +
      'Bitrix24 does not retry: every such delivery is a lost event. Usual causes: a flat or JSON body parser, a proxy rewriting the body or content type, a repeated token key.',
  },
  {
    name: 'BitrixWebhookTokenMismatchSpike',
    anchor: 'bitrixwebhooktokenmismatchspike',
    severity: 'critical',
    query: guardedShare('mismatched'),
    comparison: '>',
    threshold: 0.2,
    for: '2m',
    valueFormat: 'percent',
    summary: 'Bitrix24 deliveries carry a token that matches no configured one; they are rejected and lost.',
    description: (value) =>
      `${value} of the token verifications of {{ $labels.job }} in the last ${VERIFICATION_WINDOW} carried a token that matches none configured (403 token_mismatch, webhook="${UNKNOWN_WEBHOOK}"). ` +
      'Either a webhook was re-created or another portal points here with a token not configured, or someone is probing the endpoint.',
  },
  {
    name: 'BitrixWebhookTokensNotConfigured',
    anchor: 'bitrixwebhooktokensnotconfigured',
    severity: 'critical',
    query: METRIC.tokensConfigured,
    comparison: '<',
    threshold: 1,
    for: '1m',
    valueFormat: 'count',
    summary: 'The webhook guard has no token configured and rejects every delivery (503 not_configured).',
    description: (value) =>
      `{{ $labels.instance }} has ${value} tokens configured: it fails closed and every Bitrix24 delivery is rejected and lost. ` +
      'Set BITRIX24_OUTGOING_WEBHOOK_TOKEN (or _FILE) or BITRIX24_WEBHOOK_TOKENS (or _FILE) and restart.',
  },
  {
    name: 'BitrixWebhookDeliveriesStopped',
    anchor: 'bitrixwebhookdeliveriesstopped',
    severity: 'warning',
    query: deliveriesStoppedQuery(),
    comparison: '>',
    threshold: MIN_USUAL_DELIVERIES,
    for: '5m',
    valueFormat: 'count',
    summary: 'Accepted Bitrix24 deliveries stopped for a webhook that usually receives them at this hour.',
    description: (value) =>
      `Webhook "{{ $labels.webhook }}" accepted no delivery in the last ${DELIVERY_WINDOW}, while it accepted ${value} in the same hour yesterday (and more than ${MIN_USUAL_DELIVERIES} a week ago). ` +
      'Deliveries may not reach the service at all (handler URL changed, webhook deleted or disabled, network or proxy), or are rejected (see the token alerts).',
  },
  {
    name: 'BitrixWebhookRequestsRejected',
    anchor: 'bitrixwebhookrequestsrejected',
    severity: 'warning',
    query: sumIncrease(METRIC.requestsRejected, { reason: '!not_configured' }, '10m', ['job', 'reason']),
    comparison: '>',
    threshold: 3,
    for: '5m',
    valueFormat: 'count',
    summary:
      'Webhook requests are rejected before token verification (malformed, oversize, wrongly typed, too slow, overload, wrong path).',
    description: (value) =>
      `${value} webhook requests were rejected with reason "{{ $labels.reason }}" in the last 10m. ` +
      'A Bitrix24 delivery rejected this way is lost: check for a proxy rewriting the body or content type, events larger than BODY_LIMIT, ' +
      'a handler URL with a typo (not_found), or a flood of slow uploads (overloaded, request_timeout).',
  },
  {
    name: 'BitrixWebhookStoreFailing',
    anchor: 'bitrixwebhookstorefailing',
    severity: 'critical',
    query: sumIncrease(METRIC.storeWrites, { result: 'error' }, STORE_WINDOW, ['job', 'kind']),
    comparison: '>',
    threshold: 0,
    for: '1m',
    valueFormat: 'count',
    summary:
      'The webhook guard cannot write to its store: accepted events are refused (503 store_unavailable) or refused deliveries are not quarantined.',
    description: (value) =>
      `${value} writes of kind "{{ $labels.kind }}" to the store of {{ $labels.job }} failed in the last ${STORE_WINDOW}. ` +
      'kind="accepted": verified Bitrix24 deliveries were answered 503 store_unavailable and are lost (Bitrix24 does not retry). ' +
      'kind="quarantine": refused deliveries are not kept for replay. Check the disk under DATA_DIR or the database behind DATABASE_URL.',
  },
  {
    name: 'BitrixWebhookStoreTimeouts',
    anchor: 'bitrixwebhookstoretimeouts',
    severity: 'critical',
    query: sumIncrease(METRIC.storeTimeouts, {}, STORE_WINDOW, ['job']),
    comparison: '>',
    threshold: 0,
    for: '1m',
    valueFormat: 'count',
    summary:
      'Store operations of the webhook guard run past STORE_TIMEOUT_SECONDS: deliveries are answered 503 store_unavailable.',
    description: (value) =>
      `${value} store operations of {{ $labels.job }} took longer than STORE_TIMEOUT_SECONDS in the last ${STORE_WINDOW}. ` +
      'The database answers too slowly or not at all (a paused or overloaded PostgreSQL, a lock held by another writer of the SQLite file): ' +
      'verified deliveries meanwhile get 503 store_unavailable and /readyz is not ready. See /readyz for the cause.',
  },
  {
    name: 'BitrixWebhookQuarantineGrowing',
    anchor: 'bitrixwebhookquarantinegrowing',
    severity: 'warning',
    query: sumIncrease(METRIC.quarantined, {}, QUARANTINE_WINDOW, ['job', 'reason']),
    comparison: '>',
    threshold: MIN_QUARANTINED_IN_WINDOW,
    for: '10m',
    valueFormat: 'count',
    summary: 'Refused deliveries pile up in quarantine: read their diagnosis, fix the cause, then replay them.',
    description: (value) =>
      `${value} deliveries refused with reason "{{ $labels.reason }}" were quarantined by {{ $labels.job }} in the last ${QUARANTINE_WINDOW}. ` +
      'They are kept, not lost: read the diagnosis (bitrix24-webhook-guard quarantine list), fix the configuration, restart, then run bitrix24-webhook-guard quarantine replay --apply.',
  },
  {
    name: 'BitrixWebhookQuarantinePlausibleEvicted',
    anchor: 'bitrixwebhookquarantineplausibleevicted',
    severity: 'critical',
    query: sumIncrease(METRIC.quarantinePlausibleEvictions, {}, QUARANTINE_EVICTION_WINDOW, serviceLevel),
    comparison: '>',
    threshold: 0,
    for: '1m',
    valueFormat: 'count',
    summary:
      'The quarantine is full of likely genuine deliveries: plausible ones (known portal, Bitrix24-shaped token) are being evicted before anyone replayed them.',
    description: (value) =>
      `${value} plausible quarantined deliveries were evicted by {{ $labels.job }} in the last ${QUARANTINE_EVICTION_WINDOW}: every junk row had gone already, so these were known portals' events refused by a token that was probably rotated. ` +
      'Each one is a Bitrix24 event lost for good (Bitrix24 does not retry). Configure the new token, run bitrix24-webhook-guard quarantine replay --apply now, and raise QUARANTINE_MAX_BYTES / QUARANTINE_MAX_ROWS.',
  },
  {
    name: 'BitrixWebhookServiceDown',
    anchor: 'bitrixwebhookservicedown',
    severity: 'critical',
    // 0 for a target that is down, and 0 (from absent) when Prometheus knows no target of the job at all.
    query: `${upSelector}\nor on ()\n(\n${indent(`absent(${upSelector}) - 1`)}\n)`,
    comparison: '<',
    threshold: 1,
    for: '1m',
    valueFormat: 'raw',
    summary: 'The webhook guard cannot be scraped: it is down or missing, and Bitrix24 deliveries are being lost.',
    description: (value) =>
      `up=${value} for job "${SCRAPE_JOB}"{{ with $labels.instance }} on {{ . }}{{ else }} (no target known to Prometheus){{ end }}. ` +
      'While the service does not answer, every Bitrix24 delivery fails and is not retried.',
  },
  {
    name: 'BitrixWebhookForwardBacklogGrowing',
    anchor: 'bitrixwebhookforwardbackloggrowing',
    severity: 'warning',
    query: `max by (job) (${FORWARD_METRIC.oldestPendingAge})`,
    comparison: '>',
    threshold: FORWARD_BACKLOG_AGE_SECONDS,
    for: '5m',
    valueFormat: 'count',
    summary:
      'Accepted events wait in the store: the oldest not yet delivered to the application is older than 15 minutes.',
    description: (value) =>
      `The oldest event of {{ $labels.job }} not yet forwarded was received ${value} s ago. ` +
      'The events are kept (nothing is lost) and will be sent once the application accepts them; until then it does not see them. ' +
      'Check the application (FORWARD_URL/FORWARD_URLS) and the "forwarding failed" log lines.',
  },
  {
    name: 'BitrixWebhookForwardingFailing',
    anchor: 'bitrixwebhookforwardingfailing',
    severity: 'warning',
    query: forwardFailingQuery(),
    comparison: '>',
    threshold: 0.5,
    for: '5m',
    valueFormat: 'percent',
    summary:
      'Most attempts to forward events to the application fail (5xx, 429, timeouts, connection errors, refusals).',
    description: (value) =>
      `${value} of the forwarding attempts of {{ $labels.job }} in the last ${FORWARD_FAILURE_WINDOW} failed. ` +
      'Events are retried with backoff and kept in the store; they become dead letters after FORWARD_MAX_ATTEMPTS or FORWARD_MAX_AGE_SECONDS.',
  },
  {
    name: 'BitrixWebhookForwardDeadLetters',
    anchor: 'bitrixwebhookforwarddeadletters',
    severity: 'warning',
    query: `max by (job) (${FORWARD_METRIC.deadLetters})`,
    comparison: '>',
    threshold: 0,
    for: '1m',
    valueFormat: 'count',
    summary: 'Events the application refused for good or that ran out of attempts are waiting as dead letters.',
    description: (value) =>
      `{{ $labels.job }} holds ${value} dead-letter events: the application answered a permanent 4xx, or the attempts or age ran out. ` +
      'They are kept; list them with `events list --status dead`, fix the cause, then `events redeliver --all-dead`.',
  },
  {
    name: 'BitrixWebhookForwardUnreadableEvents',
    anchor: 'bitrixwebhookforwardunreadableevents',
    severity: 'warning',
    query: sumIncrease(FORWARD_METRIC.unreadable, {}, UNREADABLE_WINDOW, serviceLevel),
    comparison: '>',
    threshold: 0,
    for: '0m',
    valueFormat: 'count',
    summary: 'Stored events could not be read back and were dead-lettered at once (invalid JSON or nested too deep).',
    description: (value) =>
      `{{ $labels.job }} dead-lettered ${value} stored events in the last ${UNREADABLE_WINDOW} because they could not be read back. ` +
      'The other events are forwarded as usual; `events list --status dead` shows these with `unreadable:` and the reason.',
  },
];

export function alertExpression(alert: AlertSpec): string {
  return compare(alert.query, alert.comparison, alert.threshold);
}

export function runbookUrl(alert: AlertSpec): string {
  return `${RUNBOOK_BASE_URL}#${alert.anchor}`;
}

export function alertByName(name: string): AlertSpec {
  const alert = ALERTS.find((candidate) => candidate.name === name);
  if (!alert) throw new Error(`no alert named ${name}`);
  return alert;
}

/** Labels every alert carries, in Prometheus and in Grafana alike. */
export function alertLabels(alert: AlertSpec): Record<string, string> {
  return { severity: alert.severity, service: SCRAPE_JOB };
}
