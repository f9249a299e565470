// Alert specs → Grafana-managed alert rules in the file-provisioning format, plus the contact point and
// the notification policy that route them.
import { ALERTS, alertLabels, runbookUrl, type AlertSpec, type ValueFormat } from './alerts';
import { CONTACT_POINT, GRAFANA_FOLDER, GRAFANA_ORG_ID, prometheusRef } from './constants';

export const GRAFANA_RULE_GROUP = 'bitrix24-webhook-guard';
export const GRAFANA_RULE_INTERVAL = '1m';
const EXPRESSION_DATASOURCE = { type: '__expr__', uid: '__expr__' } as const;
/** Grafana's reduce step B holds the measured value. */
const MEASURED = '$values.B.Value';

export function grafanaValue(format: ValueFormat): string {
  switch (format) {
    case 'percent':
      return `{{ humanizePercentage ${MEASURED} }}`;
    case 'count':
      return `{{ printf "%.0f" ${MEASURED} }}`;
    case 'raw':
      return `{{ ${MEASURED} }}`;
  }
}

/** Stable Grafana uid (≤ 40 chars) derived from the alert name: BitrixWebhookTokenMissingSpike → bwg-token-missing-spike. */
export function grafanaRuleUid(alert: AlertSpec): string {
  const words = alert.name
    .replace(/^BitrixWebhook/, '')
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .toLowerCase();
  return `bwg-${words}`;
}

const thresholdType = { '>': 'gt', '<': 'lt' } as const;

export function grafanaRule(alert: AlertSpec) {
  return {
    uid: grafanaRuleUid(alert),
    title: alert.name,
    condition: 'C',
    data: [
      {
        refId: 'A',
        relativeTimeRange: { from: 600, to: 0 },
        datasourceUid: prometheusRef.uid,
        model: {
          refId: 'A',
          datasource: prometheusRef,
          editorMode: 'code',
          expr: alert.query,
          instant: true,
          range: false,
          intervalMs: 1000,
          maxDataPoints: 43200,
          legendFormat: '__auto',
        },
      },
      {
        refId: 'B',
        datasourceUid: EXPRESSION_DATASOURCE.uid,
        model: {
          refId: 'B',
          datasource: EXPRESSION_DATASOURCE,
          type: 'reduce',
          expression: 'A',
          reducer: 'last',
          settings: { mode: 'dropNN' },
        },
      },
      {
        refId: 'C',
        datasourceUid: EXPRESSION_DATASOURCE.uid,
        model: {
          refId: 'C',
          datasource: EXPRESSION_DATASOURCE,
          type: 'threshold',
          expression: 'B',
          conditions: [
            {
              type: 'query',
              evaluator: { type: thresholdType[alert.comparison], params: [alert.threshold] },
              operator: { type: 'and' },
              query: { params: ['C'] },
              reducer: { type: 'last', params: [] },
            },
          ],
        },
      },
    ],
    // The queries return nothing while all is well (their guards filter), so "no data" is healthy.
    noDataState: 'OK',
    execErrState: 'Error',
    for: alert.for,
    annotations: {
      summary: alert.summary,
      description: alert.description(grafanaValue(alert.valueFormat)),
      runbook_url: runbookUrl(alert),
    },
    labels: alertLabels(alert),
    isPaused: false,
  };
}

export function grafanaAlertRuleFile(alerts: readonly AlertSpec[] = ALERTS) {
  return {
    apiVersion: 1,
    groups: [
      {
        orgId: GRAFANA_ORG_ID,
        name: GRAFANA_RULE_GROUP,
        folder: GRAFANA_FOLDER,
        interval: GRAFANA_RULE_INTERVAL,
        rules: alerts.map(grafanaRule),
      },
    ],
  };
}

export function grafanaContactPointFile() {
  return {
    apiVersion: 1,
    contactPoints: [
      {
        orgId: GRAFANA_ORG_ID,
        name: CONTACT_POINT.name,
        receivers: [
          {
            uid: CONTACT_POINT.uid,
            type: CONTACT_POINT.type,
            settings: { url: CONTACT_POINT.url },
            disableResolveMessage: false,
          },
        ],
      },
    ],
  };
}

/** Replaces the organisation's whole policy tree: leave this file out when loading into an existing Grafana. */
export function grafanaNotificationPolicyFile() {
  return {
    apiVersion: 1,
    policies: [
      {
        orgId: GRAFANA_ORG_ID,
        receiver: CONTACT_POINT.name,
        group_by: ['grafana_folder', 'alertname'],
        group_wait: '30s',
        group_interval: '5m',
        repeat_interval: '4h',
        routes: [
          {
            receiver: CONTACT_POINT.name,
            object_matchers: [['severity', '=', 'critical']],
            group_wait: '10s',
            repeat_interval: '1h',
          },
        ],
      },
    ],
  };
}
