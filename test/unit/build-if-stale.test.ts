// Issue #22, item 9: `npm start` builds only when a source is newer than the last successful build
// (scripts/build-if-stale.mjs, run as `prestart`). A stale decision that says "current" would start old code.
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const repoRoot = path.resolve(__dirname, '../../..');

interface BuildIfStale {
  STAMP: string;
  staleReason(root: string): string | null;
  buildInputs(root: string): string[];
}

describe('build-if-stale: npm start compiles only when a source changed', () => {
  let script: BuildIfStale;
  let root: string;
  const inFuture = (seconds: number) => new Date(Date.now() + seconds * 1000);
  const write = (relative: string, content = '') => {
    mkdirSync(path.dirname(path.join(root, relative)), { recursive: true });
    writeFileSync(path.join(root, relative), content);
  };
  const stampAt = (when: Date) => {
    write(script.STAMP, 'built\n');
    utimesSync(path.join(root, script.STAMP), when, when);
  };
  const touchAt = (relative: string, when: Date) => utimesSync(path.join(root, relative), when, when);

  before(async () => {
    script = (await import(pathToFileURL(path.join(repoRoot, 'scripts/build-if-stale.mjs')).href)) as BuildIfStale;
  });
  beforeEach(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'build-if-stale-'));
    write('tsconfig.json', JSON.stringify({ include: ['src/**/*.ts', 'test/**/*.ts', 'scripts/**/*.ts'] }));
    write('package.json', '{}');
    write('src/main.ts', 'export {};\n');
    write('test/unit/a.test.ts', 'export {};\n');
    write('scripts/tool.ts', 'export {};\n');
    write('docs/page.md', '# page\n');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('builds when no build has succeeded yet', () => {
    expect(script.staleReason(root)).to.equal('no successful build yet');
  });

  it('skips the build when every source is older than the last successful build', () => {
    stampAt(inFuture(60));
    expect(script.staleReason(root)).to.equal(null);
  });

  it('builds when a source file under any folder tsconfig.json includes changed, naming it', () => {
    stampAt(inFuture(60));
    for (const file of ['src/main.ts', 'test/unit/a.test.ts', 'scripts/tool.ts', 'tsconfig.json', 'package.json']) {
      touchAt(file, inFuture(120));
      expect(script.staleReason(root), file).to.equal(`${file} changed since the last build`);
      touchAt(file, new Date(Date.now() - 60_000));
    }
  });

  it('builds when a new source file appears', () => {
    stampAt(inFuture(60));
    write('src/receive/new-room.ts', 'export {};\n');
    touchAt('src/receive/new-room.ts', inFuture(120));
    expect(script.staleReason(root)).to.equal(
      `${path.join('src', 'receive', 'new-room.ts')} changed since the last build`,
    );
  });

  it('does not build for a change outside what the compiler reads', () => {
    stampAt(inFuture(60));
    touchAt('docs/page.md', inFuture(120));
    expect(script.staleReason(root)).to.equal(null);
  });

  it('reads the folders from the real tsconfig.json, and the real package.json runs it before start', () => {
    const inputs = script.buildInputs(repoRoot).map((file) => path.relative(repoRoot, file));
    expect(inputs).to.include.members([
      'tsconfig.json',
      'package.json',
      'src/main.ts',
      'scripts/bench.ts',
      'test/unit/build-if-stale.test.ts',
    ]);
    const scripts = (
      JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
    ).scripts;
    expect(scripts.prestart).to.equal('node scripts/build-if-stale.mjs');
    expect(scripts.start).to.equal('node --require ./dist/src/telemetry/preload.js dist/src/main.js');
    expect(scripts.test).to.match(/^npm run build --silent && /);
  });
});
