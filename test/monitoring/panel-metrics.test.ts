// Every forwarding and store panel queries exactly the metric its title names: a copy-paste that points the
// "Dead letters" stat at the backlog gauge renders a plausible number and passes every other check.
import { expect } from 'chai';
import { FORWARD_METRIC, METRIC } from '../../src/vocabulary/names';
import { dashboard as buildDashboard } from '../../src/monitoring/dashboard';
import { dashboardOnDisk, type DashboardPanel } from './support/generated-expressions';

/** Panel title → the metrics its queries select, by query ref (A, B, …). */
const PANEL_METRICS: Record<string, Record<string, string>> = {
  'Store writes by kind and result': { A: METRIC.storeWrites },
  'Quarantined deliveries by reason (last 30 min)': { A: METRIC.quarantined },
  'Quarantine size': { A: METRIC.quarantineSize },
  'Quarantine evictions and refusals not kept (24h)': {
    A: METRIC.quarantineEvictions,
    B: METRIC.quarantinePlausibleEvictions,
    C: METRIC.quarantineDropped,
  },
  'Forward backlog': { A: FORWARD_METRIC.backlog },
  'Oldest pending event': { A: FORWARD_METRIC.oldestPendingAge },
  'Dead letters': { A: FORWARD_METRIC.deadLetters },
  'Forward attempts by result': { A: FORWARD_METRIC.attempts, B: FORWARD_METRIC.unreadable },
  'Forward backlog over time': { A: FORWARD_METRIC.backlog, B: FORWARD_METRIC.deadLetters },
};

const STORE_AND_FORWARD_METRICS: readonly string[] = [
  METRIC.storeWrites,
  METRIC.quarantined,
  METRIC.quarantineSize,
  METRIC.quarantineEvictions,
  ...Object.values(FORWARD_METRIC),
];

/** The metric names a PromQL expression selects (every `bitrix_webhook_…` identifier in it). */
function metricsIn(expr: string): string[] {
  return [...new Set(expr.match(/\bbitrix_webhook_[a-z0-9_]+/g) ?? [])].sort();
}

function panelMetrics(panels: readonly DashboardPanel[]): Record<string, Record<string, string[]>> {
  const out: Record<string, Record<string, string[]>> = {};
  for (const panel of panels) {
    const targets = (panel.targets ?? []).filter((target) => target.expr !== undefined);
    if (!targets.some((target) => metricsIn(target.expr!).some((name) => STORE_AND_FORWARD_METRICS.includes(name))))
      continue;
    out[panel.title] = Object.fromEntries(targets.map((target) => [String(target.refId), metricsIn(target.expr!)]));
  }
  return out;
}

describe('Grafana dashboard: every forwarding and store panel queries the metric it names', () => {
  const expected = Object.fromEntries(
    Object.entries(PANEL_METRICS).map(([title, refs]) => [
      title,
      Object.fromEntries(Object.entries(refs).map(([ref, name]) => [ref, [name]])),
    ]),
  );

  it('in the generated source (src/monitoring/dashboard.ts)', () => {
    expect(panelMetrics(JSON.parse(JSON.stringify(buildDashboard().panels)) as DashboardPanel[])).to.deep.equal(
      expected,
    );
  });

  it('in the file on disk (grafana/dashboards/bitrix-webhook.json)', () => {
    expect(panelMetrics(dashboardOnDisk().panels)).to.deep.equal(expected);
  });
});
