// Fixed names shared by the generated monitoring files, the compose stack and the tests.

/** `job` label of the service's scrape target; the shipped prometheus.yml uses this job name. */
export const SCRAPE_JOB = 'bitrix24-webhook-guard';

/** Every alert's runbook_url is this base plus `#<anchor>`. */
export const RUNBOOK_BASE_URL = 'https://github.com/your-org/bitrix24-webhook-guard/blob/main/docs/runbooks.md';
export const RUNBOOK_PATH = 'docs/runbooks.md';

/** Grafana datasources: uids and in-network URLs the compose stack relies on. */
export const DATASOURCE = {
  prometheus: { type: 'prometheus', uid: 'prometheus', name: 'Prometheus', url: 'http://prometheus:9090' },
  tempo: { type: 'tempo', uid: 'tempo', name: 'Tempo', url: 'http://tempo:3200' },
  loki: { type: 'loki', uid: 'loki', name: 'Loki', url: 'http://loki:3100' },
} as const;
export type DatasourceRef = { type: string; uid: string };
export const prometheusRef: DatasourceRef = { type: DATASOURCE.prometheus.type, uid: DATASOURCE.prometheus.uid };
export const tempoRef: DatasourceRef = { type: DATASOURCE.tempo.type, uid: DATASOURCE.tempo.uid };

export const GRAFANA_ORG_ID = 1;
export const GRAFANA_FOLDER = 'Bitrix24 webhook guard';
export const DASHBOARD_UID = 'bitrix24-webhook-guard';
export const DASHBOARD_TITLE = 'Bitrix24 webhook guard';
/** Where the compose stack mounts ./grafana/dashboards inside the Grafana container. */
export const GRAFANA_DASHBOARDS_DIR = '/var/lib/grafana/dashboards';

/**
 * Contact point for the provisioned notification policy: the compose stack's Alertmanager (service
 * `alertmanager`), which shows every notification. Point it at your own Alertmanager, or change the type.
 */
export const CONTACT_POINT = {
  name: 'bitrix24-webhook-guard-oncall',
  uid: 'bitrix24-webhook-guard-oncall',
  type: 'prometheus-alertmanager',
  url: 'http://alertmanager:9093',
} as const;

/** Repository-relative paths of the generated files. */
export const OUTPUT = {
  prometheusRules: 'prometheus/rules/bitrix-webhook.rules.yml',
  grafanaAlertRules: 'grafana/provisioning/alerting/bitrix-webhook-alerts.yaml',
  grafanaContactPoints: 'grafana/provisioning/alerting/contact-points.yaml',
  grafanaNotificationPolicies: 'grafana/provisioning/alerting/notification-policies.yaml',
  grafanaDashboard: 'grafana/dashboards/bitrix-webhook.json',
  grafanaDashboardProvider: 'grafana/provisioning/dashboards/bitrix-webhook.yaml',
  grafanaDatasources: 'grafana/provisioning/datasources/datasources.yaml',
} as const;

export const GENERATE_COMMAND = 'npm run generate';
