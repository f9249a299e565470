// The Grafana Alloy config shipped for platforms that scrape nothing (deploy/alloy/config.alloy), checked
// statically (no Alloy binary here): balanced blocks, the job label the bundled alerts select, the service's
// /metrics, a remote_write the scrape forwards to, and every environment variable it reads documented.
import { expect } from './expect';
import { readText, readYaml } from './repo';

interface Block {
  kind: string;
  label: string;
  body: string;
}

/** Top-level `kind "label" { … }` blocks, comments removed; throws on unbalanced braces. */
function parseAlloy(text: string): Block[] {
  const source = text
    .split('\n')
    .map((line) => line.replace(/\/\/.*$/, ''))
    .join('\n');
  const blocks: Block[] = [];
  const header = /([a-z_.]+)\s+"([^"]+)"\s*\{/g;
  let index = 0;
  for (let match = header.exec(source); match; match = header.exec(source)) {
    expect(source.slice(index, match.index).trim(), 'text between blocks').to.equal('');
    let depth = 1;
    let end = header.lastIndex;
    for (; depth > 0 && end < source.length; end++) {
      if (source[end] === '{') depth++;
      if (source[end] === '}') depth--;
    }
    expect(depth, `block ${match[1]} "${match[2]}" is closed`).to.equal(0);
    blocks.push({ kind: match[1]!, label: match[2]!, body: source.slice(header.lastIndex, end - 1) });
    header.lastIndex = end;
    index = end;
  }
  expect(source.slice(index).trim(), 'text after the last block').to.equal('');
  return blocks;
}

const attribute = (block: Block, name: string) =>
  new RegExp(`^\\s*${name}\\s*=\\s*(.+)$`, 'm').exec(block.body)?.[1]?.trim();

describe('stack: Grafana Alloy config for a PaaS (deploy/alloy/config.alloy)', () => {
  const text = readText('deploy/alloy/config.alloy');
  const blocks = parseAlloy(text);
  const scrape = blocks.find((block) => block.kind === 'prometheus.scrape')!;

  it('scrapes the service /metrics under the job label the bundled alerts and Prometheus config use', () => {
    expect(scrape, 'a prometheus.scrape block').to.exist;
    const job = (
      readYaml('prometheus/prometheus.yml') as { scrape_configs: Array<{ job_name: string; metrics_path?: string }> }
    ).scrape_configs.find((config) => config.job_name === 'bitrix24-webhook-guard')!;
    expect(attribute(scrape, 'job_name')).to.equal(`"${job.job_name}"`);
    expect(attribute(scrape, 'metrics_path')).to.equal(`"${job.metrics_path}"`);
    expect(readText('prometheus/rules/bitrix-webhook.rules.yml')).to.include(`up{job="${job.job_name}"}`);
    expect(attribute(scrape, 'targets')).to.equal('[{"__address__" = sys.env("GUARD_METRICS_TARGET")}]');
  });

  it('forwards to a remote_write block that exists, with credentials from the environment', () => {
    const writer = blocks.find((block) => block.kind === 'prometheus.remote_write')!;
    expect(attribute(scrape, 'forward_to')).to.equal(`[prometheus.remote_write.${writer.label}.receiver]`);
    expect(writer.body).to.match(/endpoint\s*\{[\s\S]*url\s*=\s*sys\.env\("REMOTE_WRITE_URL"\)[\s\S]*basic_auth\s*\{/);
  });

  it('documents every environment variable it reads, in the file and in docs/deploy.md', () => {
    const names = [...text.matchAll(/sys\.env\("([A-Z_]+)"\)/g)].map((match) => match[1]!);
    expect(names).to.include.members([
      'GUARD_METRICS_TARGET',
      'REMOTE_WRITE_URL',
      'REMOTE_WRITE_USERNAME',
      'REMOTE_WRITE_PASSWORD',
    ]);
    const docs = readText('docs/deploy.md');
    for (const name of new Set(names)) {
      expect(text, `${name} explained in the config's header`).to.match(new RegExp(`^//\\s+${name}\\s`, 'm'));
      expect(docs, `${name} in docs/deploy.md`).to.include(`\`${name}\``);
    }
  });
});
