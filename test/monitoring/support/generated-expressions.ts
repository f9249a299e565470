// Every PromQL expression in the generated files, read from the files on disk (not from the generator).
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { repoPath } from './tools';

export interface LocatedExpression {
  where: string;
  expr: string;
}

export interface PrometheusRuleOnDisk {
  alert: string;
  expr: string;
  for: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
export interface GrafanaDataOnDisk {
  refId: string;
  datasourceUid: string;
  relativeTimeRange?: unknown;
  model: Record<string, unknown>;
}
export interface GrafanaRuleOnDisk {
  uid: string;
  title: string;
  condition: string;
  for: string;
  data: GrafanaDataOnDisk[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  noDataState: string;
  execErrState: string;
}
export interface DashboardTarget {
  refId: string;
  datasource?: { type: string; uid: string };
  expr?: string;
  exemplar?: boolean;
  query?: string;
  queryType?: string;
}
export interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type: string; uid: string };
  targets?: DashboardTarget[];
  links?: Array<{ title: string; url: string }>;
  fieldConfig?: {
    defaults?: {
      thresholds?: { steps: Array<{ color: string; value: number | null }> };
      custom?: { thresholdsStyle?: { mode: string } };
    };
  };
}
export interface DashboardOnDisk {
  uid: string;
  title: string;
  panels: DashboardPanel[];
  links: Array<{ title: string; url: string }>;
  templating: { list: Array<{ name: string; query: { query: string }; current: { value: string } }> };
  [key: string]: unknown;
}

export const readYamlFile = (relative: string): unknown => parse(readFileSync(repoPath(relative), 'utf8'));

export function prometheusRulesOnDisk(): PrometheusRuleOnDisk[] {
  const file = readYamlFile('prometheus/rules/bitrix-webhook.rules.yml') as {
    groups: Array<{ rules: PrometheusRuleOnDisk[] }>;
  };
  return file.groups.flatMap((group) => group.rules);
}

export function grafanaRulesOnDisk(): GrafanaRuleOnDisk[] {
  const file = readYamlFile('grafana/provisioning/alerting/bitrix-webhook-alerts.yaml') as {
    groups: Array<{ rules: GrafanaRuleOnDisk[] }>;
  };
  return file.groups.flatMap((group) => group.rules);
}

export function dashboardOnDisk(): DashboardOnDisk {
  return JSON.parse(readFileSync(repoPath('grafana/dashboards/bitrix-webhook.json'), 'utf8')) as DashboardOnDisk;
}

/** Grafana's built-in variables and the dashboard's own, replaced by values Prometheus accepts. */
export function substituteGrafanaVariables(expr: string, job: string): string {
  return expr.replace(/\$__rate_interval|\$__interval|\$__range/g, '5m').replace(/\$job\b/g, job);
}

export function allExpressions(job: string): LocatedExpression[] {
  const rules = prometheusRulesOnDisk().map((rule) => ({ where: `Prometheus rule ${rule.alert}`, expr: rule.expr }));
  const grafana = grafanaRulesOnDisk().flatMap((rule) =>
    rule.data
      .filter((data) => typeof data.model.expr === 'string')
      .map((data) => ({ where: `Grafana rule ${rule.title} query ${data.refId}`, expr: String(data.model.expr) })),
  );
  const panels = dashboardOnDisk().panels.flatMap((panel) =>
    (panel.targets ?? [])
      .filter((target) => target.expr !== undefined)
      .map((target) => ({
        where: `dashboard panel "${panel.title}" target ${target.refId}`,
        expr: substituteGrafanaVariables(target.expr!, job),
      })),
  );
  return [...rules, ...grafana, ...panels];
}
