// The command-line tools the monitoring and stack tests run, and how the test run obtains them itself on a
// fresh Debian machine of this kind (issue 9 §4): when one is missing it installs the Debian packages, as
// root, once per run, under a machine-wide lock so parallel test runs wait for one another instead of racing
// apt. Where it cannot (not root, no apt-get, the install failed) the tests fail with one instruction.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

/** Repository root, from dist/test/monitoring/support. */
export const REPO_ROOT = path.resolve(__dirname, '../../../..');
export const repoPath = (...parts: string[]) => path.join(REPO_ROOT, ...parts);

/** Each tool and the Debian (bookworm) package that ships it. */
export const TOOL_PACKAGES = {
  promtool: 'prometheus',
  prometheus: 'prometheus',
  amtool: 'prometheus-alertmanager',
  'docker-compose': 'docker-compose',
  yamllint: 'yamllint',
} as const;
export type Tool = keyof typeof TOOL_PACKAGES;
export const ALL_TOOLS = Object.keys(TOOL_PACKAGES) as Tool[];

const LOCK_FILE = '/tmp/bitrix24-webhook-guard-test-tools.lock';
const INSTALL_TIMEOUT_MS = 15 * 60_000;

export function installCommand(tools: readonly Tool[] = ALL_TOOLS): string {
  const packages = [...new Set(tools.map((tool) => TOOL_PACKAGES[tool]))];
  return `apt-get update && apt-get install -y --no-install-recommends ${packages.join(' ')}`;
}

/** Absolute path of an executable on PATH (or the usual system folders), undefined when absent. */
export function findBinary(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '')
    .split(path.delimiter)
    .concat(['/usr/bin', '/usr/local/bin', '/usr/sbin'])) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

export interface InstallEnvironment {
  uid: number | undefined;
  find: (name: string) => string | undefined;
  run: (command: string, args: string[]) => { status: number | null; output: string };
}

const realEnvironment: InstallEnvironment = {
  uid: process.getuid?.(),
  find: findBinary,
  run: (command, args) => {
    const result = spawnSync(command, args, {
      encoding: 'utf8',
      timeout: INSTALL_TIMEOUT_MS,
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    return {
      status: result.status,
      output: `${result.error?.message ?? ''}${result.stdout ?? ''}${result.stderr ?? ''}`,
    };
  },
};

/**
 * Installs whichever of `tools` are missing, or throws one instruction. Pure decision over an injectable
 * environment so the refusal paths are tested without touching the machine.
 */
export function installMissing(tools: readonly Tool[], env: InstallEnvironment = realEnvironment): void {
  const missing = tools.filter((tool) => !env.find(tool));
  if (missing.length === 0) return;
  const instruction =
    `The tests need ${missing.join(', ')}, which ${missing.length === 1 ? 'is' : 'are'} not installed. ` +
    `Run once, as root: ${installCommand(ALL_TOOLS)}`;
  if (env.uid !== 0) throw new Error(`${instruction} (the test run installs them itself only when it runs as root).`);
  if (!env.find('apt-get'))
    throw new Error(
      `${instruction} (apt-get is not available here: install the equivalent packages, or put the binaries on PATH).`,
    );
  // Inside the lock the script checks again: a parallel run may have installed everything meanwhile.
  const script = `for t in ${missing.join(' ')}; do command -v "$t" >/dev/null || { ${installCommand(ALL_TOOLS)} -o DPkg::Lock::Timeout=600; exit $?; }; done`;
  const result = env.find('flock')
    ? env.run('flock', ['-w', '900', LOCK_FILE, 'sh', '-c', script])
    : env.run('sh', ['-c', script]);
  const still = tools.filter((tool) => !env.find(tool));
  if (result.status !== 0 || still.length > 0) {
    throw new Error(
      `${instruction} (the automatic install failed with status ${result.status}; last output: ${result.output.slice(-600)})`,
    );
  }
}

let attempt: Error | null | undefined;

/** Makes every tool the tests use available, once per process; later calls repeat the first outcome. */
export function ensureTools(): void {
  if (attempt === undefined) {
    try {
      installMissing(ALL_TOOLS);
      attempt = null;
    } catch (error) {
      attempt = error as Error;
    }
  }
  if (attempt) throw attempt;
}

/** Registers a `before` hook (no timeout: an install takes minutes) in the calling describe block. */
export function needsTools(): void {
  before(function () {
    this.timeout(0);
    ensureTools();
  });
}

/**
 * Root hook for the full tier (`npm run test:all` requires this file; `npm test` does not): tools are in place before
 * the first test. When
 * they cannot be obtained it says so once and lets the run go on: only the tests that need a tool fail
 * (their `needsTools()` hook repeats the instruction), the others still run.
 */
export const mochaHooks = {
  beforeAll(this: Mocha.Context) {
    this.timeout(0);
    try {
      ensureTools();
    } catch (error) {
      console.error(`\n  ${(error as Error).message}\n`);
    }
  },
};

/** Absolute path of a required binary, or an error that says what to install. Never a skip. */
export function requireBinary(name: Tool): string {
  ensureTools();
  const found = findBinary(name);
  if (!found) throw new Error(`${name} is not on PATH. Run once, as root: ${installCommand(ALL_TOOLS)}`);
  return found;
}

export interface CommandResult {
  status: number | null;
  output: string;
}

export function runTool(name: Tool, args: string[], input?: string): CommandResult {
  const result = spawnSync(requireBinary(name), args, { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000, input });
  if (result.error) throw result.error;
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

export function promtool(args: string[]): CommandResult {
  return runTool('promtool', args);
}
