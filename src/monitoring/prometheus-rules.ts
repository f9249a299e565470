// Alert specs → Prometheus rule file (no group-level labels: Prometheus 2.42 rejects them).
import { ALERTS, alertExpression, alertLabels, runbookUrl, type AlertSpec, type ValueFormat } from './alerts';

export const PROMETHEUS_RULE_GROUP = 'bitrix24-webhook-guard';

export function prometheusValue(format: ValueFormat): string {
  switch (format) {
    case 'percent':
      return '{{ $value | humanizePercentage }}';
    case 'count':
      return '{{ $value | printf "%.0f" }}';
    case 'raw':
      return '{{ $value }}';
  }
}

export interface PrometheusAlertingRule {
  alert: string;
  expr: string;
  for: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export function prometheusRule(alert: AlertSpec): PrometheusAlertingRule {
  return {
    alert: alert.name,
    expr: alertExpression(alert),
    for: alert.for,
    labels: alertLabels(alert),
    annotations: {
      summary: alert.summary,
      description: alert.description(prometheusValue(alert.valueFormat)),
      runbook_url: runbookUrl(alert),
    },
  };
}

export function prometheusRuleFile(alerts: readonly AlertSpec[] = ALERTS) {
  return { groups: [{ name: PROMETHEUS_RULE_GROUP, rules: alerts.map(prometheusRule) }] };
}
