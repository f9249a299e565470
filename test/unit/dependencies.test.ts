// A production install (`npm ci --omit=dev`) must hold every package the compiled service and CLI load, and
// `npm install` must not rewrite the committed lock. Both read the compiled files and the two JSON files.
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { expect } from 'chai';

const ROOT = path.resolve(__dirname, '../../..');
const manifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8'));

function compiledFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return compiledFiles(full);
    return entry.name.endsWith('.js') ? [full] : [];
  });
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** Package names a compiled file requires (tsc emits `require("x")` for every value import). */
function requiredPackages(source: string): string[] {
  const names = [...source.matchAll(/\brequire\((["'])([^"']+)\1\)/g)].map((match) => match[2]!);
  return names
    .filter((name) => !name.startsWith('.') && !name.startsWith('node:') && !builtinModules.includes(name))
    .map((name) => (name.startsWith('@') ? name.split('/').slice(0, 2).join('/') : name.split('/')[0]!));
}

describe('dependencies', () => {
  const runtime = new Set(
    compiledFiles(path.join(ROOT, 'dist/src')).flatMap((file) => requiredPackages(readFileSync(file, 'utf8'))),
  );

  it('declares every package the compiled service and CLI require as a dependency (better-sqlite3 optional)', () => {
    const declared = { ...manifest.dependencies, ...manifest.optionalDependencies };
    expect([...runtime].filter((name) => !(name in declared)).sort()).to.deep.equal([]);
    expect(Object.keys(manifest.optionalDependencies)).to.deep.equal(['better-sqlite3']);
  });

  it("uses packages by their public entry points only: no path into a package's build folder, no cast to never", () => {
    const reaching = compiledFiles(path.join(ROOT, 'dist/src')).flatMap((file) =>
      [
        ...readFileSync(file, 'utf8').matchAll(
          /\brequire\((["'])((?:@[^/"']+\/)?[^./"'][^"']*\/(?:build|dist|lib)\/[^"']*)\1\)/g,
        ),
      ].map((match) => `${path.relative(ROOT, file)}: ${match[2]}`),
    );
    expect(reaching).to.deep.equal([]);
    const sources = sourceFiles(path.join(ROOT, 'src'));
    const casts = sources
      .filter((file) => /\bas never\b/.test(readFileSync(file, 'utf8')))
      .map((file) => path.relative(ROOT, file));
    expect(sources.length).to.be.above(50);
    expect(casts).to.deep.equal([]);
  });

  it('loads no development-only package at run time', () => {
    expect([...runtime].filter((name) => name in manifest.devDependencies).sort()).to.deep.equal([]);
  });

  it('keeps koa-bodyparser for the benchmark peers only', () => {
    expect(runtime.has('koa-bodyparser')).to.equal(false);
    expect(manifest.devDependencies).to.have.property('koa-bodyparser');
    expect(manifest.dependencies).not.to.have.property('koa-bodyparser');
  });

  it('pins every dependency to an exact version', () => {
    const all = { ...manifest.dependencies, ...manifest.devDependencies, ...manifest.optionalDependencies };
    expect(Object.entries(all).filter(([, version]) => !/^\d+\.\d+\.\d+$/.test(String(version)))).to.deep.equal([]);
  });

  it('has a lock whose root entry is what `npm install` writes from package.json, so the install leaves it unchanged', () => {
    const root = lock.packages[''];
    const expected: Record<string, unknown> = {};
    for (const key of [
      'name',
      'version',
      'license',
      'dependencies',
      'bin',
      'devDependencies',
      'optionalDependencies',
      'engines',
    ]) {
      if (manifest[key] !== undefined) expected[key] = manifest[key];
    }
    expect(root).to.deep.equal(expected);
    for (const [name, version] of Object.entries({
      ...manifest.dependencies,
      ...manifest.devDependencies,
      ...manifest.optionalDependencies,
    })) {
      expect(lock.packages[`node_modules/${name}`]?.version, name).to.equal(version);
    }
  });
});
