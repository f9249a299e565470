import { expect } from 'chai';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { RUNBOOK_BASE_URL } from '../../src/monitoring/constants';
import { prometheusRulesOnDisk, readYamlFile } from './support/generated-expressions';
import { needsTools, promtool, repoPath } from './support/tools';

const RULES = 'prometheus/rules/bitrix-webhook.rules.yml';
const TEST_FILES = [
  'prometheus/tests/bitrix-webhook.rules.test.yml',
  'prometheus/tests/bitrix-webhook.deliveries.test.yml',
  'prometheus/tests/bitrix-webhook.store.test.yml',
  'prometheus/tests/bitrix-webhook.unreadable.test.yml',
];
/** The alerts issues #3, #10 and #11 ask for. */
const REQUIRED_ALERTS = [
  'BitrixWebhookTokenMissingSpike',
  'BitrixWebhookTokenMismatchSpike',
  'BitrixWebhookTokensNotConfigured',
  'BitrixWebhookDeliveriesStopped',
  'BitrixWebhookRequestsRejected',
  'BitrixWebhookStoreFailing',
  // issue #17: store operations past STORE_TIMEOUT_SECONDS
  'BitrixWebhookStoreTimeouts',
  'BitrixWebhookQuarantineGrowing',
  // issue #16: genuine deliveries crowded out of the quarantine
  'BitrixWebhookQuarantinePlausibleEvicted',
  'BitrixWebhookServiceDown',
  // issue #11: forwarding
  'BitrixWebhookForwardBacklogGrowing',
  'BitrixWebhookForwardingFailing',
  'BitrixWebhookForwardDeadLetters',
  // issue #16: an event that cannot be read never blocks others
  'BitrixWebhookForwardUnreadableEvents',
];

interface RuleTestFile {
  tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts?: unknown[] }> }>;
}

describe('Prometheus alerting rules', function () {
  needsTools();
  this.timeout(120_000);

  it('pass `promtool check rules`', () => {
    const result = promtool(['check', 'rules', RULES]);
    expect(result.status, result.output).to.equal(0);
    expect(result.output).to.include(`SUCCESS: ${REQUIRED_ALERTS.length} rules found`);
  });

  it('pass their unit tests (`promtool test rules`)', () => {
    const result = promtool(['test', 'rules', ...TEST_FILES]);
    expect(result.status, result.output).to.equal(0);
  });

  it('define every alert the issue asks for', () => {
    expect(prometheusRulesOnDisk().map((rule) => rule.alert)).to.have.members(REQUIRED_ALERTS);
  });

  it('use no group-level labels (Prometheus 2.42 refuses them)', () => {
    const file = readYamlFile(RULES) as { groups: Array<Record<string, unknown>> };
    expect(file.groups, 'the groups checked').to.have.length.greaterThan(0);
    for (const group of file.groups) expect(Object.keys(group)).to.have.members(['name', 'rules']);
  });

  it('give every alert a severity, a summary, a description with the measured value and a runbook section', () => {
    const rules = prometheusRulesOnDisk();
    expect(
      rules.map((rule) => rule.alert),
      'the rules checked',
    ).to.have.members(REQUIRED_ALERTS);
    for (const rule of rules) {
      expect(rule.labels.severity, rule.alert).to.be.oneOf(['critical', 'warning']);
      expect(rule.annotations.summary, rule.alert).to.be.a('string').and.not.empty;
      expect(rule.annotations.description, rule.alert).to.match(/\{\{ \$value[^}]*\}\}/);
      expect(rule.annotations.runbook_url, rule.alert).to.match(
        new RegExp(`^${RUNBOOK_BASE_URL.replace(/[.]/g, '\\.')}#[a-z0-9-]+$`),
      );
    }
  });

  it('have unit-test cases that must fire and cases that must stay silent, for every alert', () => {
    const cases = TEST_FILES.flatMap((file) =>
      (readYamlFile(file) as RuleTestFile).tests.flatMap((test) => test.alert_rule_test ?? []),
    );
    for (const alert of REQUIRED_ALERTS) {
      const ofAlert = cases.filter((testCase) => testCase.alertname === alert);
      expect(
        ofAlert.some((testCase) => (testCase.exp_alerts ?? []).length > 0),
        `${alert}: a case that fires`,
      ).to.equal(true);
      expect(
        ofAlert.some((testCase) => (testCase.exp_alerts ?? []).length === 0),
        `${alert}: a case that stays silent`,
      ).to.equal(true);
    }
  });

  describe('the unit tests can fail', () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'bwg-rules-mutant-'));
      mkdirSync(path.join(dir, 'rules'));
      mkdirSync(path.join(dir, 'tests'));
      for (const file of TEST_FILES) copyFileSync(repoPath(file), path.join(dir, 'tests', path.basename(file)));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('fail for every alert when none of them can fire', () => {
      const file = parse(readFileSync(repoPath(RULES), 'utf8')) as {
        groups: Array<{ rules: Array<{ alert: string; expr: string }> }>;
      };
      for (const rule of file.groups[0]!.rules) rule.expr = `(${rule.expr}) and on () vector(0) > 1`;
      writeFileSync(path.join(dir, 'rules', path.basename(RULES)), JSON.stringify(file));
      const result = promtool([
        'test',
        'rules',
        ...TEST_FILES.map((test) => path.join(dir, 'tests', path.basename(test))),
      ]);
      expect(result.status, result.output).to.not.equal(0);
      for (const alert of REQUIRED_ALERTS) expect(result.output, alert).to.include(`alertname: ${alert}`);
    });
  });
});
