import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { METRIC, SPAN } from '../../src/vocabulary/names';
import { RUNBOOK_BASE_URL, SCRAPE_JOB } from '../../src/monitoring/constants';
import {
  dashboardOnDisk,
  prometheusRulesOnDisk,
  readYamlFile,
  type DashboardPanel,
} from './support/generated-expressions';
import { readExpression } from './support/promql-selectors';
import { EXPECTED_ALERTS } from './support/expected-alerts';
import { repoPath } from './support/tools';

const KNOWN_DATASOURCES: Record<string, string> = { prometheus: 'prometheus', tempo: 'tempo', loki: 'loki' };

function datasourceRefs(value: unknown, out: unknown[] = []): unknown[] {
  if (Array.isArray(value)) {
    for (const item of value) datasourceRefs(item, out);
  } else if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      if (key === 'datasource') out.push(item);
      else datasourceRefs(item, out);
    }
  }
  return out;
}

const exprsOf = (panel: DashboardPanel) => (panel.targets ?? []).map((target) => target.expr ?? '');

describe('Grafana dashboard', () => {
  const text = readFileSync(repoPath('grafana/dashboards/bitrix-webhook.json'), 'utf8');
  const dashboard = dashboardOnDisk();
  const panels = dashboard.panels;
  const metricPanels = panels.filter((panel) => panel.type !== 'row');

  // biome-ignore lint/suspicious/noTemplateCurlyInString: the title names Grafana's literal ${DS_…} export placeholders
  it('is a plain dashboard model with a stable uid: no __inputs, no ${DS_…} placeholders, no numeric id', () => {
    expect(dashboard.uid).to.match(/^[a-zA-Z0-9_-]{1,40}$/);
    expect(dashboard).to.not.have.property('__inputs');
    expect(dashboard).to.not.have.property('id');
    expect(text).to.not.include('${DS_');
  });

  it('references every datasource by {type, uid} of a provisioned datasource', () => {
    const refs = datasourceRefs(dashboard);
    expect(refs.length).to.be.greaterThan(10);
    for (const ref of refs) {
      expect(ref).to.be.an('object').with.keys('type', 'uid');
      const { type, uid } = ref as { type: string; uid: string };
      expect(KNOWN_DATASOURCES[uid], uid).to.equal(type);
    }
  });

  it('has unique panel ids and a layout without overlaps inside 24 columns', () => {
    const ids = panels.map((panel) => panel.id);
    expect(new Set(ids).size).to.equal(ids.length);
    const cells = new Set<string>();
    for (const panel of panels) {
      const { x, y, w, h } = panel.gridPos;
      expect(x + w, panel.title).to.be.at.most(24);
      for (let row = y; row < y + h; row++) {
        for (let column = x; column < x + w; column++) {
          const cell = `${column},${row}`;
          expect(cells.has(cell), `${panel.title} overlaps at ${cell}`).to.equal(false);
          cells.add(cell);
        }
      }
    }
  });

  it('graphs verifications by result, tokens by source, rejections by reason and events by type', () => {
    const grouped = metricPanels.flatMap(exprsOf).map(readExpression);
    const groupsBy = (metric: string, label: string) =>
      grouped.some(
        (uses) => uses.selectors.some((selector) => selector.metric === metric) && uses.groupingLabels.includes(label),
      );
    expect(groupsBy(METRIC.verifications, 'result')).to.equal(true);
    expect(groupsBy(METRIC.verifications, 'source')).to.equal(true);
    expect(groupsBy(METRIC.requestsRejected, 'reason')).to.equal(true);
    expect(groupsBy(METRIC.events, 'event')).to.equal(true);
    expect(groupsBy(METRIC.lastAcceptedTimestamp, 'webhook')).to.equal(true);
  });

  for (const alert of ['BitrixWebhookTokenMissingSpike', 'BitrixWebhookTokenMismatchSpike']) {
    it(`draws the ${alert} threshold on a graph of the share it alerts on, linked to its runbook`, () => {
      const rule = prometheusRulesOnDisk().find((candidate) => candidate.alert === alert)!;
      const { threshold } = EXPECTED_ALERTS[alert]!;
      const result = { BitrixWebhookTokenMissingSpike: 'missing', BitrixWebhookTokenMismatchSpike: 'mismatched' }[
        alert
      ]!;
      const graph = metricPanels.find(
        (panel) =>
          panel.type === 'timeseries' && (panel.links ?? []).some((link) => link.url === rule.annotations.runbook_url),
      );
      expect(graph, `a timeseries panel linked to ${rule.annotations.runbook_url}`).to.not.equal(undefined);
      expect(graph!.fieldConfig?.defaults?.custom?.thresholdsStyle?.mode).to.not.equal('off');
      const steps = graph!.fieldConfig!.defaults!.thresholds!.steps.filter((step) => step.value !== null);
      expect(steps.map((step) => step.value)).to.deep.equal([threshold]);
      const selectors = exprsOf(graph!).flatMap((expr) => readExpression(expr).selectors);
      expect(
        selectors.some((selector) =>
          selector.matchers.some((matcher) => matcher.label === 'result' && matcher.value === result),
        ),
      ).to.equal(true);
    });
  }

  it('colours the tokens-configured stat by the BitrixWebhookTokensNotConfigured threshold', () => {
    const { threshold } = EXPECTED_ALERTS.BitrixWebhookTokensNotConfigured!;
    const stat = metricPanels.find(
      (panel) => panel.type === 'stat' && exprsOf(panel).some((expr) => expr.includes(METRIC.tokensConfigured)),
    );
    expect(stat!.fieldConfig!.defaults!.thresholds!.steps).to.deep.equal([
      { color: 'red', value: null },
      { color: 'green', value: threshold },
    ]);
  });

  it('shows request duration p50, p95 and p99 from the histogram buckets, with exemplars', () => {
    const targets = metricPanels
      .flatMap((panel) => panel.targets ?? [])
      .filter((target) => (target.expr ?? '').includes(`${METRIC.httpRequestDuration}_bucket`));
    const quantiles = targets.map((target) => /histogram_quantile\(([0-9.]+),/.exec(target.expr!)?.[1]);
    expect(quantiles).to.have.members(['0.5', '0.95', '0.99']);
    for (const target of targets) expect(target.exemplar, target.expr).to.equal(true);
  });

  it('turns exemplars on for the verification counter so a point opens its trace', () => {
    const targets = metricPanels
      .flatMap((panel) => panel.targets ?? [])
      .filter((target) => (target.expr ?? '').includes(`${METRIC.verifications}{`) && target.expr!.includes('rate('));
    expect(targets.some((target) => target.exemplar === true)).to.equal(true);
  });

  it('links to the runbook and to a Tempo search for failed verifications', () => {
    expect(dashboard.links.map((link) => link.url)).to.include(RUNBOOK_BASE_URL);
    const tempo = dashboard.links.find((link) => link.url.startsWith('/explore'));
    expect(tempo).to.not.equal(undefined);
    const panes = JSON.parse(new URL(tempo!.url, 'http://grafana').searchParams.get('panes')!) as Record<
      string,
      { datasource: string; queries: Array<{ query: string; queryType: string }> }
    >;
    const pane = Object.values(panes)[0]!;
    expect(pane.datasource).to.equal('tempo');
    expect(pane.queries[0]!.queryType).to.equal('traceql');
    expect(pane.queries[0]!.query).to.include(`name = "${SPAN.verify}"`).and.include('status = error');
  });

  it('lists failed verifications from Tempo in a panel', () => {
    const traces = metricPanels.find((panel) => panel.datasource?.uid === 'tempo');
    expect(traces?.targets?.[0]?.query).to.include(SPAN.verify);
  });

  it('selects the job through a variable that defaults to the shipped scrape job', () => {
    const job = dashboard.templating.list.find((variable) => variable.name === 'job')!;
    expect(job.current.value).to.equal(SCRAPE_JOB);
    expect(job.query.query).to.equal(`label_values(${METRIC.tokensConfigured}, job)`);
    for (const expr of metricPanels.flatMap(exprsOf).filter(Boolean)) {
      for (const selector of readExpression(expr).selectors) {
        expect(
          selector.matchers.find((matcher) => matcher.label === 'job')?.value,
          `${selector.metric} in ${expr}`,
        ).to.equal('$job');
      }
    }
  });

  it('is loaded by the file provider from the directory the compose stack mounts', () => {
    const provider = readYamlFile('grafana/provisioning/dashboards/bitrix-webhook.yaml') as {
      apiVersion: number;
      providers: Array<{ type: string; options: { path: string } }>;
    };
    expect(provider.apiVersion).to.equal(1);
    expect(provider.providers[0]).to.deep.include({ type: 'file' });
    expect(provider.providers[0]!.options.path).to.equal('/var/lib/grafana/dashboards');
  });
});
