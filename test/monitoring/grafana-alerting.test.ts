import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import {
  grafanaRulesOnDisk,
  prometheusRulesOnDisk,
  readYamlFile,
  type GrafanaRuleOnDisk,
} from './support/generated-expressions';
import { normaliseWhitespace, splitAlertExpression } from './support/rule-expression';
import { repoPath } from './support/tools';
import { EXPECTED_ALERTS } from './support/expected-alerts';

const ALERT_FILE = 'grafana/provisioning/alerting/bitrix-webhook-alerts.yaml';
const evaluatorFor = { '>': 'gt', '<': 'lt' } as const;

function dataOf(rule: GrafanaRuleOnDisk, refId: string) {
  const data = rule.data.find((candidate) => candidate.refId === refId);
  if (!data) throw new Error(`${rule.title} has no ${refId}`);
  return data;
}

/** Strings that Grafana's provisioning would expand `$VAR` in, i.e. everything outside annotations. */
function interpolatedStrings(value: unknown, path: string, out: Array<[string, string]> = []): Array<[string, string]> {
  if (typeof value === 'string') out.push([path, value]);
  else if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) interpolatedStrings(item, `${path}[${index}]`, out);
  } else if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value))
      if (key !== 'annotations') interpolatedStrings(item, `${path}.${key}`, out);
  }
  return out;
}

describe('Grafana-managed alert rules (file provisioning)', () => {
  const file = readYamlFile(ALERT_FILE) as { apiVersion: number; groups: Array<Record<string, unknown>> };
  const grafana = grafanaRulesOnDisk();
  const prometheus = prometheusRulesOnDisk();

  it('use the provisioning format: apiVersion 1, groups with orgId, name, folder, interval and rules', () => {
    expect(file.apiVersion).to.equal(1);
    expect(file.groups).to.have.length.greaterThan(0);
    for (const group of file.groups) {
      expect(group).to.include.keys('orgId', 'name', 'folder', 'interval', 'rules');
      expect(group.interval).to.match(/^\d+[smh]$/);
    }
  });

  it('define exactly the alerts signed off in the test, in both Grafana and Prometheus form', () => {
    expect(grafana.map((rule) => rule.title)).to.deep.equal(Object.keys(EXPECTED_ALERTS));
    expect(prometheus.map((rule) => rule.alert)).to.deep.equal(Object.keys(EXPECTED_ALERTS));
  });

  it('give every rule a stable, unique uid Grafana accepts', () => {
    const uids = grafana.map((rule) => rule.uid);
    expect(new Set(uids).size).to.equal(uids.length);
    for (const uid of uids) expect(uid).to.match(/^[a-zA-Z0-9_-]{1,40}$/);
  });

  it('chain A = Prometheus query, B = reduce of A, C = threshold on B, with condition C', () => {
    expect(
      grafana.map((rule) => rule.title),
      'the rules checked',
    ).to.deep.equal(Object.keys(EXPECTED_ALERTS));
    for (const rule of grafana) {
      expect(rule.condition, rule.title).to.equal('C');
      expect(rule.data.map((data) => data.refId)).to.deep.equal(['A', 'B', 'C']);
      const [a, b, c] = [dataOf(rule, 'A'), dataOf(rule, 'B'), dataOf(rule, 'C')];
      expect(a.datasourceUid).to.equal('prometheus');
      expect(a.model.expr).to.be.a('string');
      expect(a.relativeTimeRange, rule.title).to.deep.equal({ from: 600, to: 0 });
      expect(b.datasourceUid).to.equal('__expr__');
      expect(b.model).to.include({ type: 'reduce', expression: 'A' });
      expect(c.datasourceUid).to.equal('__expr__');
      expect(c.model).to.include({ type: 'threshold', expression: 'B' });
    }
  });

  for (const [alert, expected] of Object.entries(EXPECTED_ALERTS)) {
    it(`${alert}: the written query, threshold, for and severity, in the Grafana rule and the Prometheus rule`, () => {
      const rule = grafana.find((candidate) => candidate.title === alert)!;
      const promRule = prometheus.find((candidate) => candidate.alert === alert)!;
      const labels = { severity: expected.severity, service: 'bitrix24-webhook-guard' };
      expect(normaliseWhitespace(String(dataOf(rule, 'A').model.expr))).to.equal(expected.query);
      const conditions = dataOf(rule, 'C').model.conditions as Array<{ evaluator: { type: string; params: number[] } }>;
      expect(conditions).to.have.length(1);
      expect(conditions[0]!.evaluator).to.deep.equal({
        type: evaluatorFor[expected.comparison],
        params: [expected.threshold],
      });
      expect(rule.for).to.equal(expected.for);
      expect(rule.labels).to.deep.equal(labels);
      expect(splitAlertExpression(promRule.expr)).to.deep.equal({
        query: expected.query,
        comparison: expected.comparison,
        threshold: expected.threshold,
      });
      expect(promRule.for).to.equal(expected.for);
      expect(promRule.labels).to.deep.equal(labels);
      expect(rule.annotations.summary).to.equal(promRule.annotations.summary);
      expect(rule.annotations.runbook_url).to.equal(promRule.annotations.runbook_url);
    });
  }

  it("print the measured value from the reduce step in descriptions (Grafana's $value is not a number)", () => {
    expect(
      grafana.map((rule) => rule.title),
      'the rules checked',
    ).to.deep.equal(Object.keys(EXPECTED_ALERTS));
    for (const rule of grafana) {
      expect(rule.annotations.description, rule.title).to.include('$values.B.Value');
      expect(rule.annotations.description, rule.title).to.not.match(/\$value\b(?!s)/);
    }
  });

  it('treat "no data" as healthy, because the guarded queries return nothing while all is well', () => {
    expect(grafana.map((rule) => [rule.title, rule.noDataState])).to.deep.equal(
      Object.keys(EXPECTED_ALERTS).map((title) => [title, 'OK']),
    );
  });

  it('leave no `$` where Grafana would expand it as an environment variable', () => {
    const strings = interpolatedStrings(file, 'file');
    // The PromQL of every rule is among the strings checked (a `$` there would be expanded too).
    expect(strings.filter(([path]) => path.endsWith('.model.expr'))).to.have.length(
      Object.keys(EXPECTED_ALERTS).length,
    );
    for (const [path, text] of strings) {
      expect(text.replace(/\$\$/g, ''), path).to.not.include('$');
    }
  });

  it('route to a provisioned contact point through the notification policy', () => {
    const contactPoints = readYamlFile('grafana/provisioning/alerting/contact-points.yaml') as {
      apiVersion: number;
      contactPoints: Array<{
        name: string;
        receivers: Array<{ uid: string; type: string; settings: Record<string, string> }>;
      }>;
    };
    const policies = readYamlFile('grafana/provisioning/alerting/notification-policies.yaml') as {
      apiVersion: number;
      policies: Array<{ receiver: string; routes?: Array<{ receiver: string; object_matchers: string[][] }> }>;
    };
    expect(contactPoints.apiVersion).to.equal(1);
    expect(policies.apiVersion).to.equal(1);
    const names = contactPoints.contactPoints.map((point) => point.name);
    expect(
      contactPoints.contactPoints.flatMap((point) =>
        point.receivers.map((receiver) => [receiver.type, receiver.settings]),
      ),
    ).to.deep.equal([['prometheus-alertmanager', { url: 'http://alertmanager:9093' }]]);
    for (const policy of policies.policies) {
      expect(names).to.include(policy.receiver);
      for (const route of policy.routes ?? []) {
        expect(names).to.include(route.receiver);
        expect(route.object_matchers).to.deep.equal([['severity', '=', 'critical']]);
        expect(grafana.filter((rule) => rule.labels.severity === 'critical').map((rule) => rule.title)).to.deep.equal(
          Object.entries(EXPECTED_ALERTS)
            .filter(([, alert]) => alert.severity === 'critical')
            .map(([name]) => name),
        );
      }
    }
  });

  it('is plain YAML Grafana can read (no tabs, no anchors)', () => {
    const text = readFileSync(repoPath(ALERT_FILE), 'utf8');
    expect(text).to.not.match(/\t|&[a-z]|\*[a-z]/);
  });
});
