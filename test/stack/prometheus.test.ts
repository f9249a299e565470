import fs from 'node:fs';
import path from 'node:path';
import { expect } from './expect';
import { REPO_ROOT, readYaml, repoPath } from './repo';
import type { JsonRecord } from '../support/ndjson';
import { needsTools, promtool } from '../monitoring/support/tools';

const CONFIG = 'prometheus/prometheus.yml';

/** The files a rule_files glob (relative to the config file's folder) matches. Supports `*` in the file name. */
function expandRuleGlob(pattern: string): string[] {
  const dir = path.join(path.dirname(repoPath(CONFIG)), path.dirname(pattern));
  const name = new RegExp(
    `^${path
      .basename(pattern)
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '[^/]*')}$`,
  );
  return fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .filter((file) => name.test(file))
        .map((file) => path.join(dir, file))
    : [];
}

describe('stack: prometheus/prometheus.yml', () => {
  needsTools();
  let config: JsonRecord;
  before(() => {
    config = readYaml(CONFIG);
  });

  it('passes promtool check config (including the rule files it names)', function () {
    this.timeout(60_000);
    const { status, output } = promtool(['check', 'config', CONFIG]);
    expect(status, output).to.equal(0);
  });

  it('names rule files relative to itself, and they exist', () => {
    const patterns = config.rule_files as string[];
    expect(patterns.length).to.be.greaterThan(0);
    for (const pattern of patterns) expect(path.isAbsolute(pattern), `${pattern} must be relative`).to.equal(false);
    const files = patterns.flatMap(expandRuleGlob);
    expect(files, `no rule file matches ${patterns.join(', ')} in prometheus/`).to.not.be.empty;
    const groups = files.flatMap(
      (file) => (readYaml(path.relative(REPO_ROOT, file)).groups ?? []) as Array<{ rules?: unknown[] }>,
    );
    expect(
      groups.flatMap((group) => group.rules ?? []),
      'rules in the rule files',
    ).to.not.be.empty;
  });

  it('scrapes and evaluates every 15s', () => {
    expect(config.global.scrape_interval).to.equal('15s');
    expect(config.global.evaluation_interval).to.equal('15s');
  });

  it('has exactly the two scrape jobs of the stack', () => {
    const jobs = (
      config.scrape_configs as Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }>
    ).map((job) => [job.job_name, job.static_configs.flatMap((s) => s.targets)]);
    expect(jobs).to.deep.equal([
      ['bitrix24-webhook-guard', ['bitrix24-webhook-guard:3000']],
      ['otel-collector', ['otel-collector:8888']],
    ]);
  });
});
