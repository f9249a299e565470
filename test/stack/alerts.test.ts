import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { expect } from './expect';
import { METRIC, VERIFICATION_RESULTS } from '../../src/vocabulary/names';
import { parseMix, readOptions } from '../../scripts/traffic';
import { environmentOf, listFiles, loadCompose, readYaml, repoPath, service } from './repo';
import { needsTools, promtool } from '../monitoring/support/tools';

const JOB = 'bitrix24-webhook-guard';
const SCRAPE_SECONDS = 15;

interface Rule {
  alert?: string;
  expr: string;
}

/**
 * "A newcomer sees an alert move within minutes": feed the shipped Prometheus rules the counter series
 * that the compose `traffic` service produces (its rate and mix) and let promtool evaluate them.
 */
describe('stack: the demo traffic makes an alert fire', function () {
  this.timeout(60_000);
  needsTools();

  it('fires the missing-token alert within 5 minutes of traffic at the compose rate and mix', () => {
    const env = environmentOf(service(loadCompose(), 'traffic'));
    const options = readOptions({ ...env, TRAFFIC_TOKEN: 'x'.repeat(32) });
    const mix = env.TRAFFIC_MIX ? parseMix(env.TRAFFIC_MIX) : options.mix;
    const total = VERIFICATION_RESULTS.reduce((sum, kind) => sum + mix[kind], 0);

    const ruleFiles = listFiles('prometheus/rules', ['.yml', '.yaml']).map((file) => repoPath(file));
    expect(ruleFiles, 'rule files in prometheus/rules').to.not.be.empty;
    const rules = ruleFiles.flatMap((file) =>
      (YAML.parse(fs.readFileSync(file, 'utf8')).groups as Array<{ rules: Rule[] }>).flatMap((group) => group.rules),
    );
    const missingAlert = rules.find(
      (rule) => rule.alert && rule.expr.includes(METRIC.verifications) && rule.expr.includes('result="missing"'),
    );
    expect(missingAlert, `an alert on ${METRIC.verifications}{result="missing"}`).to.exist;

    const minutes = 5;
    const steps = (minutes * 60) / SCRAPE_SECONDS;
    const test = {
      rule_files: ruleFiles,
      evaluation_interval: `${SCRAPE_SECONDS}s`,
      tests: [
        {
          interval: `${SCRAPE_SECONDS}s`,
          input_series: VERIFICATION_RESULTS.map((result) => ({
            series: `${METRIC.verifications}{job="${JOB}",result="${result}",source="${result === 'missing' ? 'none' : 'body'}",webhook="${result === 'accepted' ? 'default' : 'unknown'}"}`,
            values: `0+${(options.ratePerSecond * SCRAPE_SECONDS * mix[result]) / total}x${steps}`,
          })),
          promql_expr_test: [
            {
              expr: `count(ALERTS{alertstate="firing",alertname="${missingAlert!.alert}"})`,
              eval_time: `${minutes}m`,
              exp_samples: [{ labels: '{}', value: 1 }],
            },
          ],
        },
      ],
    };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stack-alerts-'));
    try {
      const file = path.join(dir, 'traffic-alerts.test.yml');
      fs.writeFileSync(file, YAML.stringify(test));
      const result = promtool(['test', 'rules', file]);
      expect(result.status, result.output).to.equal(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('uses rule files that the shipped Prometheus config loads', () => {
    const patterns = readYaml('prometheus/prometheus.yml').rule_files as string[];
    const files = listFiles('prometheus/rules', ['.yml', '.yaml']);
    expect(files.map((file) => path.posix.relative('prometheus', file))).to.deep.equal([
      'rules/bitrix-webhook.rules.yml',
    ]);
    for (const file of files) {
      const relative = path.posix.relative('prometheus', file);
      expect(
        patterns.some((p) => new RegExp(`^${p.replace(/\./g, '\\.').replace(/\*/g, '[^/]*')}$`).test(relative)),
        relative,
      ).to.equal(true);
    }
  });
});
