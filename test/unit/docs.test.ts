// Issue #22: the README is short and the reference lives in docs/. These tests tie each page to the code it
// describes, so that a name added to the code without its doc (or a doc naming what the code lost) fails here:
// every variable in docs/configuration.md, every metric family in docs/observability.md, every command in
// docs/cli.md, every name of docs/contract.md in the code; every relative link resolving, to a heading when it
// has an #anchor; docs/README.md naming every page; and no file pointing outside the repository.
import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { createProgram } from '../../src/cli/program';
import { renderMonitoringFiles } from '../../src/monitoring/render';
import { RUNBOOK_PATH } from '../../src/monitoring/constants';
import { CONFIG_ENV_NAMES, OTEL_ENV_PREFIX } from '../../src/vocabulary/env-names';
import {
  ADMIN_METRIC,
  ATTR,
  FORWARD_METRIC,
  FORWARD_SPAN,
  METRIC,
  RECOVER_METRIC,
  RELEASE_SPAN,
  SPAN,
  TOKEN_SOURCES,
  TRACING_METRIC,
} from '../../src/vocabulary/names';

const repoRoot = path.resolve(__dirname, '../../..');
const read = (relative: string) => readFileSync(path.join(repoRoot, relative), 'utf8');
const docsPages = () =>
  readdirSync(path.join(repoRoot, 'docs'))
    .filter((name) => !name.startsWith('.'))
    .sort();
const markdownFiles = () => [
  'README.md',
  ...docsPages()
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
];

/** The markdown without fenced code blocks and inline code: what is left is prose, headings and links. */
const prose = (markdown: string) => markdown.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, 'code');

/** GitHub's anchor for a heading: its text (links and emphasis unwrapped), lower case, punctuation dropped. */
const githubSlug = (heading: string) =>
  heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/[`*]/g, '')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');

/** Every anchor of a markdown file: one per heading, numbered as GitHub numbers repeats (`-1`, `-2`). */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const match of markdown.replace(/^```[\s\S]*?^```/gm, '').matchAll(/^#{1,6} (.+)$/gm)) {
    const slug = githubSlug(match[1]!);
    const count = seen.get(slug) ?? 0;
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
    seen.set(slug, count + 1);
  }
  return anchors;
}

/** Relative link targets of a markdown file, as written (`page.md`, `page.md#anchor`, `#anchor`, `../x`). */
function relativeLinks(markdown: string): string[] {
  return [...prose(markdown).matchAll(/\]\(([^)\s]+)\)/g)]
    .map((match) => match[1]!)
    .filter((target) => !/^[a-z]+:/i.test(target));
}

/** Why a link does not resolve from `from`, or null when it does. */
function brokenLink(from: string, target: string): string | null {
  const [file, anchor] = target.split('#') as [string, string | undefined];
  const resolved = file === '' ? from : path.posix.normalize(path.posix.join(path.posix.dirname(from), file));
  if (resolved.startsWith('..')) return `${target} leaves the repository`;
  if (!existsSync(path.join(repoRoot, resolved))) return `${target}: no file ${resolved}`;
  if (anchor === undefined) return null;
  if (!resolved.endsWith('.md')) return `${target}: an anchor into a file that is not markdown`;
  return anchorsOf(read(resolved)).has(anchor) ? null : `${target}: no heading #${anchor} in ${resolved}`;
}

/** The rows of the first table after `heading`: each row's cells, trimmed. */
function tableAfter(markdown: string, heading: string): string[][] {
  const start = `\n${markdown}`.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`no heading "${heading}"`);
  const lines = markdown.slice(start).split('\n');
  const first = lines.findIndex((line) => line.startsWith('|'));
  const rows: string[][] = [];
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(
      line
        .replace(/\\\|/g, '¦')
        .split('|')
        .slice(1, -1)
        .map((cell) => cell.trim()),
    );
  }
  return rows;
}

const codeSpans = (text: string) => [...text.matchAll(/`([^`]+)`/g)].map((match) => match[1]!);

/** `quarantine list`, `events redeliver`, …: every command that does something (no subcommands of its own). */
function leafCommands(command: Command, prefix: string[] = []): string[] {
  return command.commands.flatMap((child) => {
    const words = [...prefix, child.name()];
    return child.commands.length > 0 ? leafCommands(child, words) : [words.join(' ')];
  });
}

describe('docs: the README and docs/ stand alone and match the code', () => {
  it('README.md stays short and points at the pages a newcomer needs next', () => {
    const readme = read('README.md');
    expect(readme.split('\n').length, 'README.md lines').to.be.at.most(120);
    for (const page of [
      'docs/README.md',
      'docs/configuration.md',
      'docs/deploy.md',
      'docs/architecture.md',
      'docs/contributing.md',
    ]) {
      expect(
        relativeLinks(readme).map((target) => target.split('#')[0]),
        page,
      ).to.include(page);
    }
    for (const command of ['npm install && npm start', 'npm test', 'npm run test:all'])
      expect(readme, command).to.include(command);
  });

  it('docs/README.md names every page under docs/', () => {
    const linked = new Set(relativeLinks(read('docs/README.md')).map((target) => target.split('#')[0]));
    const pages = docsPages().filter((name) => name !== 'README.md');
    expect(pages, 'the pages').to.include.members([
      'architecture.md',
      'configuration.md',
      'contract.md',
      'bitrix24-delivery.md',
      'runbooks.md',
    ]);
    expect(
      pages.filter((page) => !linked.has(page)),
      'pages docs/README.md does not list',
    ).to.deep.equal([]);
  });

  it('resolves every relative link of README.md and docs/*.md, to a heading when it names an anchor', () => {
    const links = markdownFiles().flatMap((file) => relativeLinks(read(file)).map((target) => ({ file, target })));
    expect(links.length, 'the links checked').to.be.greaterThan(50);
    expect(links.filter(({ target }) => target.includes('#')).length, 'the anchors checked').to.be.greaterThan(10);
    expect(
      links
        .map(({ file, target }) => brokenLink(file, target) && `${file}: ${brokenLink(file, target)}`)
        .filter(Boolean),
    ).to.deep.equal([]);
  });

  it('would catch a broken link (control: a missing page, a missing heading)', () => {
    expect(brokenLink('docs/README.md', 'no-such-page.md')).to.equal('no-such-page.md: no file docs/no-such-page.md');
    expect(brokenLink('README.md', 'docs/store.md#no-such-heading')).to.equal(
      'docs/store.md#no-such-heading: no heading #no-such-heading in docs/store.md',
    );
    expect(brokenLink('README.md', 'docs/cli.md#checking-a-deployment-doctor---url')).to.equal(null);
    expect(brokenLink('docs/forwarding.md', '../examples/upstream/server.js')).to.equal(null);
    expect([...anchorsOf('# A `b` c\n## Why? (x)\n```\n# not a heading\n```\n## Why? (x)\n')]).to.deep.equal([
      'a-b-c',
      'why-x',
      'why-x-1',
    ]);
  });

  it('runs only npm scripts that package.json defines', () => {
    const scripts = Object.keys((JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts);
    const used = markdownFiles().flatMap((file) =>
      [...read(file).matchAll(/npm run ([a-z:]+)/g)].map((match) => `${file}: ${match[1]}`),
    );
    expect(used.length, 'the npm run commands checked').to.be.greaterThan(5);
    expect(used.filter((entry) => !scripts.includes(entry.split(': ')[1]!))).to.deep.equal([]);
  });

  describe('docs/configuration.md', () => {
    const rows = () => tableAfter(read('docs/configuration.md'), '## The variables');
    const documented = () => rows().flatMap((row) => codeSpans(row[0]!));

    it('lists every environment variable the service reads, in the first column of its table', () => {
      expect(CONFIG_ENV_NAMES.length, 'the variables').to.be.greaterThan(40);
      expect(CONFIG_ENV_NAMES.filter((name) => !documented().includes(name))).to.deep.equal([]);
    });

    it('lists no variable the service does not read (besides the standard OTEL_* ones)', () => {
      const names = documented().filter((name) => /^[A-Z][A-Z0-9_]+$/.test(name));
      expect(names.length, 'the documented variables').to.be.greaterThan(40);
      expect(
        names.filter((name) => !CONFIG_ENV_NAMES.includes(name) && !name.startsWith(OTEL_ENV_PREFIX)),
      ).to.deep.equal([]);
      expect(documented()).to.include('OTEL_*');
    });

    it('names every token source', () => {
      const sources = tableAfter(read('docs/configuration.md'), '## The variables').find(
        (row) => row[0] === '`BITRIX24_TOKEN_SOURCES`',
      )!;
      expect(sources[2]).to.equal(`\`${TOKEN_SOURCES.join(',')}\``);
    });
  });

  describe('docs/observability.md', () => {
    const families = [METRIC, TRACING_METRIC, FORWARD_METRIC, RECOVER_METRIC, ADMIN_METRIC].flatMap(
      (group) => Object.values(group) as string[],
    );

    it('lists every metric family the service registers, once, and nothing else', () => {
      const documented = tableAfter(read('docs/observability.md'), '## Metrics').map((row) => codeSpans(row[0]!)[0]!);
      expect(families.length, 'the families').to.be.greaterThan(25);
      expect([...documented].sort()).to.deep.equal([...families].sort());
    });

    it('names every span and every span attribute of the webhook path', () => {
      const page = read('docs/observability.md');
      const spans = [SPAN.verify, SPAN.storeWrite, ...TOKEN_SOURCES.map((source) => SPAN.extract(source))];
      const names = [...spans, ...(Object.values(ATTR) as string[])];
      expect(names.length, 'the names').to.be.greaterThan(20);
      expect(
        names.filter(
          (name) =>
            !page.includes(`\`${name}\``) &&
            !(name.startsWith('bitrix.token.extract.') && page.includes('`bitrix.token.extract.body|query|header`')),
        ),
      ).to.deep.equal([]);
    });

    it('lists every file `npm run generate` writes', () => {
      const rows = tableAfter(read('docs/observability.md'), '## Monitoring: generated from one source');
      const listed = rows.flatMap((row) => codeSpans(row[0]!)).map((name) => path.posix.basename(name));
      const written = [...renderMonitoringFiles().map((file) => file.path), RUNBOOK_PATH];
      expect(written.length, 'the generated files').to.be.greaterThan(6);
      expect(written.filter((file) => !listed.includes(path.posix.basename(file)))).to.deep.equal([]);
    });

    it('names the forwarding and release spans where they are described', () => {
      expect(read('docs/forwarding.md')).to.include(`\`${FORWARD_SPAN}\``);
      expect(read('docs/store.md')).to.include(`\`${RELEASE_SPAN}\``);
    });
  });

  describe('docs/cli.md', () => {
    const documented = () =>
      tableAfter(read('docs/cli.md'), '# Command line').map((row) => {
        const words = codeSpans(row[0]!)[0]!.split(' ');
        return words
          .slice(
            0,
            words.findIndex((word) => /^[-<]/.test(word)) === -1
              ? undefined
              : words.findIndex((word) => /^[-<]/.test(word)),
          )
          .join(' ');
      });

    it('lists every command of the bin, and none it lacks', () => {
      const commands = leafCommands(createProgram());
      expect(commands, 'the commands').to.include.members([
        'serve',
        'doctor',
        'quarantine replay',
        'events redeliver',
        'store backup',
      ]);
      expect([...new Set(documented())].sort()).to.deep.equal([...commands].sort());
    });
  });

  describe('docs/contract.md', () => {
    const contract = () => read('docs/contract.md');

    it('names only variables the service reads (or their *_FILE twins, or OTEL_*)', () => {
      const rows = tableAfter(contract(), '## Configuration (environment)');
      const names = rows.flatMap((row) => codeSpans(row[0]!)).filter((name) => /^[A-Z][A-Z0-9_]+$/.test(name));
      expect(names.length, 'the variables').to.be.greaterThan(15);
      expect(names.filter((name) => !CONFIG_ENV_NAMES.includes(name))).to.deep.equal([]);
    });

    it('names only metric families, spans and attributes the code defines', () => {
      const families = [METRIC, TRACING_METRIC, FORWARD_METRIC, RECOVER_METRIC, ADMIN_METRIC].flatMap(
        (group) => Object.values(group) as string[],
      );
      const metrics = [...new Set(contract().match(/\bbitrix_webhook_[a-z_]+|\bhttp_server_[a-z_]+/g) ?? [])];
      expect(metrics.length, 'the metrics').to.be.greaterThan(5);
      expect(metrics.filter((name) => !families.includes(name))).to.deep.equal([]);
      const spanNames = [...new Set(contract().match(/`bitrix\.[a-z_.]+`/g) ?? [])].map((name) => name.slice(1, -1));
      const known = [
        SPAN.verify,
        SPAN.storeWrite,
        ...TOKEN_SOURCES.map((source) => SPAN.extract(source)),
        ...(Object.values(ATTR) as string[]),
      ];
      expect(spanNames.length, 'the span names').to.be.greaterThan(10);
      expect(spanNames.filter((name) => !known.includes(name))).to.deep.equal([]);
    });

    it('names only commands the bin has', () => {
      const section = contract().slice(contract().indexOf('## Command line'));
      const paragraph = section.slice(0, section.indexOf('\n## ', 1));
      const commands = leafCommands(createProgram());
      // `serve`, `quarantine list|show|replay|purge`, …: each spelled-out command, subcommands expanded.
      const named = codeSpans(paragraph)
        .filter((span) => /^[a-z]+( [a-z|]+)?$/.test(span))
        .flatMap((span) => {
          const [group, subs] = span.split(' ') as [string, string | undefined];
          return subs === undefined ? [group] : subs.split('|').map((sub) => `${group} ${sub}`);
        });
      expect(named.length, 'the commands').to.be.greaterThan(8);
      expect(named.filter((command) => !commands.includes(command))).to.deep.equal([]);
    });
  });

  describe('the repository stands alone', () => {
    const outside = ['..', 'shared'].join('/');
    const forbidden = [outside, ['CONTRACT', 'md'].join('.'), ['shared', 'bitrix24-delivery.md'].join('/')];
    const skipped = new Set(['node_modules', 'dist', '.git', 'data', '.bench']);

    function repositoryFiles(dir = repoRoot): string[] {
      return readdirSync(dir).flatMap((name) => {
        if (skipped.has(name)) return [];
        const full = path.join(dir, name);
        return statSync(full).isDirectory() ? repositoryFiles(full) : [path.relative(repoRoot, full)];
      });
    }

    it(`no file outside node_modules, dist and .git mentions ${outside}, the shared contract or the shared delivery notes`, () => {
      const files = repositoryFiles();
      expect(files, 'the files searched').to.include.members([
        'README.md',
        'src/vocabulary/names.ts',
        'docker-compose.yml',
        'test/support/bitrix-bodies.ts',
      ]);
      const hits = files.flatMap((file) => {
        const text = readFileSync(path.join(repoRoot, file), 'utf8');
        return forbidden.filter((word) => text.includes(word)).map((word) => `${file}: ${word}`);
      });
      expect(hits).to.deep.equal([]);
    });

    it('has its own contract and delivery notes under docs/', () => {
      expect(read('docs/contract.md')).to.match(/^# The service's outside contract\n/);
      expect(read('docs/bitrix24-delivery.md')).to.match(/^# How Bitrix24 delivers events/);
      expect(read('src/vocabulary/names.ts')).to.include('docs/contract.md');
      expect(read('test/support/bitrix-bodies.ts')).to.include('docs/bitrix24-delivery.md');
    });
  });
});
