// The alerts as a reviewer signs them off: written out by hand, not derived from src/monitoring, so a test
// comparing a generated file with these catches a change in the generator itself (a lost `and … >= 10`
// guard, a threshold of 0.02, a `for` dropped), not only a difference between two renderings of one spec.
export interface ExpectedAlert {
  /** The query, whitespace-normalised, without the final comparison. */
  query: string;
  comparison: '>' | '<';
  threshold: number;
  for: string;
  severity: 'critical' | 'warning';
}

const verifications = 'bitrix_webhook_token_verifications_total';
const shareOf = (result: string) =>
  `sum by (job) (increase(${verifications}{result="${result}"}[5m])) / sum by (job) (increase(${verifications}[5m]))` +
  ` and sum by (job) (increase(${verifications}[5m])) >= 10`;

export const EXPECTED_ALERTS: Record<string, ExpectedAlert> = {
  BitrixWebhookTokenMissingSpike: {
    query: shareOf('missing'),
    comparison: '>',
    threshold: 0.2,
    for: '2m',
    severity: 'critical',
  },
  BitrixWebhookTokenMismatchSpike: {
    query: shareOf('mismatched'),
    comparison: '>',
    threshold: 0.2,
    for: '2m',
    severity: 'critical',
  },
  BitrixWebhookTokensNotConfigured: {
    query: 'bitrix_webhook_tokens_configured',
    comparison: '<',
    threshold: 1,
    for: '1m',
    severity: 'critical',
  },
  BitrixWebhookDeliveriesStopped: {
    query:
      `sum by (webhook) (increase(${verifications}{result="accepted"}[1h] offset 1d))` +
      ` and on (webhook) sum by (webhook) (increase(${verifications}{result="accepted"}[1h] offset 1w)) > 10` +
      ` unless on (webhook) sum by (webhook) (increase(${verifications}{result="accepted"}[1h])) > 0`,
    comparison: '>',
    threshold: 10,
    for: '5m',
    severity: 'warning',
  },
  BitrixWebhookRequestsRejected: {
    query: 'sum by (job, reason) (increase(bitrix_webhook_requests_rejected_total{reason!="not_configured"}[10m]))',
    comparison: '>',
    threshold: 3,
    for: '5m',
    severity: 'warning',
  },
  BitrixWebhookStoreFailing: {
    query: 'sum by (job, kind) (increase(bitrix_webhook_store_writes_total{result="error"}[5m]))',
    comparison: '>',
    threshold: 0,
    for: '1m',
    severity: 'critical',
  },
  BitrixWebhookStoreTimeouts: {
    query: 'sum by (job) (increase(bitrix_webhook_store_timeouts_total[5m]))',
    comparison: '>',
    threshold: 0,
    for: '1m',
    severity: 'critical',
  },
  BitrixWebhookQuarantineGrowing: {
    query: 'sum by (job, reason) (increase(bitrix_webhook_quarantined_total[30m]))',
    comparison: '>',
    threshold: 5,
    for: '10m',
    severity: 'warning',
  },
  BitrixWebhookQuarantinePlausibleEvicted: {
    query: 'sum by (job) (increase(bitrix_webhook_quarantine_plausible_evictions_total[15m]))',
    comparison: '>',
    threshold: 0,
    for: '1m',
    severity: 'critical',
  },
  BitrixWebhookServiceDown: {
    query: 'up{job="bitrix24-webhook-guard"} or on () (absent(up{job="bitrix24-webhook-guard"}) - 1)',
    comparison: '<',
    threshold: 1,
    for: '1m',
    severity: 'critical',
  },
  BitrixWebhookForwardBacklogGrowing: {
    query: 'max by (job) (bitrix_webhook_forward_oldest_pending_age_seconds)',
    comparison: '>',
    threshold: 900,
    for: '5m',
    severity: 'warning',
  },
  BitrixWebhookForwardingFailing: {
    query:
      'sum by (job) (increase(bitrix_webhook_forward_attempts_total{result=~"retry|dead"}[10m])) / sum by (job) (increase(bitrix_webhook_forward_attempts_total[10m]))' +
      ' and sum by (job) (increase(bitrix_webhook_forward_attempts_total[10m])) >= 5',
    comparison: '>',
    threshold: 0.5,
    for: '5m',
    severity: 'warning',
  },
  BitrixWebhookForwardDeadLetters: {
    query: 'max by (job) (bitrix_webhook_forward_dead_letters)',
    comparison: '>',
    threshold: 0,
    for: '1m',
    severity: 'warning',
  },
  BitrixWebhookForwardUnreadableEvents: {
    query: 'sum by (job) (increase(bitrix_webhook_forward_unreadable_events_total[1h]))',
    comparison: '>',
    threshold: 0,
    for: '0m',
    severity: 'warning',
  },
};
