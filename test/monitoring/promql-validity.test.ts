import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { SCRAPE_JOB } from '../../src/monitoring/constants';
import { allExpressions, type LocatedExpression } from './support/generated-expressions';
import { needsTools, promtool } from './support/tools';

/** Every expression as a recording rule, so `promtool check rules` parses it with Prometheus' own parser. */
function checkWithPromtool(dir: string, expressions: LocatedExpression[]) {
  const file = path.join(dir, 'expressions.rules.yml');
  const rules = expressions.map((expression, index) => ({
    record: `monitoring_check:expression_${index}`,
    expr: expression.expr,
  }));
  writeFileSync(file, stringify({ groups: [{ name: 'expressions', rules }] }));
  return promtool(['check', 'rules', file]);
}

describe('PromQL in the rules, Grafana rules and dashboard', () => {
  needsTools();
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'bwg-promql-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const expressions = allExpressions(SCRAPE_JOB);

  it('covers the rules, the Grafana rules and the dashboard', () => {
    for (const origin of ['Prometheus rule', 'Grafana rule', 'dashboard panel']) {
      expect(
        expressions.filter((expression) => expression.where.startsWith(origin)),
        origin,
      ).to.have.length.greaterThan(4);
    }
  });

  it('is valid Prometheus syntax (promtool check rules)', () => {
    const result = checkWithPromtool(dir, expressions);
    expect(
      result.status,
      `${result.output}\n${expressions.map((expression, index) => `${index}: ${expression.where}`).join('\n')}`,
    ).to.equal(0);
    expect(result.output).to.include(`SUCCESS: ${expressions.length} rules found`);
  });

  it('would be caught if it were not (control: promtool rejects a broken expression)', () => {
    const result = checkWithPromtool(dir, [{ where: 'control', expr: 'sum by (job (rate(x[5m]))' }]);
    expect(result.status).to.not.equal(0);
  });
});
