import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

/** Repository root, from dist/test/monitoring/support. */
export const REPO_ROOT = path.resolve(__dirname, '../../../..');
export const repoPath = (...parts: string[]) => path.join(REPO_ROOT, ...parts);

/** Absolute path of a required binary, or an error that says what to install. Never a skip. */
export function requireBinary(name: 'promtool' | 'prometheus'): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).concat(['/usr/bin', '/usr/local/bin'])) {
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  throw new Error(`${name} is not installed or not on PATH. These tests need Prometheus 2.x tools: apt-get install prometheus (Debian/Ubuntu) or put the release's ${name} binary on PATH.`);
}

export interface CommandResult { status: number | null; output: string }

export function promtool(args: string[]): CommandResult {
  const result = spawnSync(requireBinary('promtool'), args, { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
  if (result.error) throw result.error;
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}
