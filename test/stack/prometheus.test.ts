import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from './expect';
import { REPO_ROOT, readYaml, repoPath } from './repo';

const CONFIG = 'prometheus/prometheus.yml';

/** Runs promtool; fails (never skips) when it is not installed. */
function promtool(args: string[]): { status: number | null; output: string } {
  const result = spawnSync('promtool', args, { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
  if (result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new Error('promtool is not installed: install it (Debian/Ubuntu: apt-get install prometheus) to check the Prometheus config');
  }
  if (result.error) throw result.error;
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** The files a rule_files glob (relative to the config file's folder) matches. Supports `*` in the file name. */
function expandRuleGlob(pattern: string): string[] {
  const dir = path.join(path.dirname(repoPath(CONFIG)), path.dirname(pattern));
  const name = new RegExp(`^${path.basename(pattern).replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`);
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((file) => name.test(file)).map((file) => path.join(dir, file)) : [];
}

describe('stack: prometheus/prometheus.yml', () => {
  let config: any;
  before(() => { config = readYaml(CONFIG); });

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
    const groups = files.flatMap((file) => (readYaml(path.relative(REPO_ROOT, file)).groups ?? []) as Array<{ rules?: unknown[] }>);
    expect(groups.flatMap((group) => group.rules ?? []), 'rules in the rule files').to.not.be.empty;
  });

  it('scrapes and evaluates every 15s', () => {
    expect(config.global.scrape_interval).to.equal('15s');
    expect(config.global.evaluation_interval).to.equal('15s');
  });

  it('has exactly the two scrape jobs of the stack', () => {
    const jobs = (config.scrape_configs as Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }>)
      .map((job) => [job.job_name, job.static_configs.flatMap((s) => s.targets)]);
    expect(jobs).to.deep.equal([
      ['bitrix24-webhook-guard', ['bitrix24-webhook-guard:3000']],
      ['otel-collector', ['otel-collector:8888']],
    ]);
  });
});
