// docs/observability.md's alert table lists every generated alert, with its severity and its `for`, and
// nothing else: the README's table once listed 9 of 11.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { ALERTS } from '../../src/monitoring/alerts';
import { prometheusRulesOnDisk } from '../monitoring/support/generated-expressions';
import { repoPath } from '../monitoring/support/tools';

interface Row {
  alert: string;
  severity: string;
  firesWhen: string;
}

function documentedAlertTable(): Row[] {
  const page = readFileSync(repoPath('docs/observability.md'), 'utf8');
  const section = page.slice(page.indexOf('## The alerts'));
  const table = section.slice(section.indexOf('| alert | severity | fires when |'));
  const lines = table.split('\n');
  const rows: Row[] = [];
  for (const line of lines.slice(2)) {
    if (!line.startsWith('|')) break;
    const [alert, severity, firesWhen] = line.split(' | ').map((cell) => cell.replace(/^\|\s*|\s*\|$/g, '').trim());
    rows.push({ alert: alert!.replace(/`/g, ''), severity: severity!, firesWhen: firesWhen! });
  }
  return rows;
}

describe('docs/observability.md: the alert table matches the generated rules', () => {
  const rows = documentedAlertTable();

  it('lists every alert of src/monitoring/alerts.ts and of prometheus/rules, once, in the same order, with its severity', () => {
    expect(ALERTS, 'the alerts').to.have.length.greaterThan(0);
    expect(rows.map(({ alert, severity }) => [alert, severity])).to.deep.equal(
      ALERTS.map((alert) => [alert.name, alert.severity]),
    );
    expect(rows.map(({ alert }) => alert)).to.deep.equal(prometheusRulesOnDisk().map((rule) => rule.alert));
  });

  it("states each alert's `for` duration in words (1m → 1 min)", () => {
    expect(
      rows.map(({ alert }) => alert),
      'the rows checked',
    ).to.deep.equal(ALERTS.map((alert) => alert.name));
    for (const alert of ALERTS) {
      const row = rows.find((candidate) => candidate.alert === alert.name)!;
      const words = alert.for.replace(/^(\d+)m$/, '$1 min').replace(/^(\d+)h$/, '$1 h');
      expect(row.firesWhen, alert.name).to.include(`for ${words}`);
    }
  });
});
