// `npm start` runs this first (prestart): it compiles only when a source is newer than the last successful
// build, so a restart with nothing changed starts at once instead of recompiling the whole tree.
// Plain JavaScript on purpose: it must run before anything is compiled.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, utimesSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Written after each successful build, with the time the build started (so an edit during it counts). */
export const STAMP = 'dist/.build-stamp';

/** Files whose change needs a build: what tsconfig.json includes, plus the files that steer the compiler. */
export function buildInputs(root) {
  const tsconfig = JSON.parse(readFileSync(path.join(root, 'tsconfig.json'), 'utf8'));
  const folders = [...new Set((tsconfig.include ?? []).map((pattern) => pattern.split('/')[0]))];
  const files = ['tsconfig.json', 'package.json', 'package-lock.json'].map((name) => path.join(root, name)).filter(existsSync);
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts') || entry.name.endsWith('.json')) files.push(full);
    }
  };
  for (const folder of folders) if (existsSync(path.join(root, folder))) walk(path.join(root, folder));
  return files;
}

/** Why a build is needed (a file newer than the stamp, or no stamp), or null when the build is current. */
export function staleReason(root) {
  const stamp = path.join(root, STAMP);
  if (!existsSync(stamp)) return 'no successful build yet';
  const built = statSync(stamp).mtimeMs;
  for (const file of buildInputs(root)) {
    // A directory listing can be older than a file moved into it, so each file's own times are compared.
    const { mtimeMs, ctimeMs } = statSync(file);
    if (Math.max(mtimeMs, ctimeMs) > built) return `${path.relative(root, file)} changed since the last build`;
  }
  return null;
}

/** Builds (`npm run build`) when stale; returns the compiler's exit status (0 when nothing had to be done). */
export function buildIfStale(root) {
  const reason = staleReason(root);
  if (reason === null) return 0;
  console.error(`building: ${reason}`);
  const startedAt = new Date();
  const result = spawnSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) return result.status ?? 1;
  mkdirSync(path.join(root, 'dist'), { recursive: true });
  writeFileSync(path.join(root, STAMP), `${startedAt.toISOString()}\n`);
  utimesSync(path.join(root, STAMP), startedAt, startedAt);
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = buildIfStale(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..'));
}
