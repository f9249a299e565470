import { spawn } from 'node:child_process';
import path from 'node:path';

/** The compiled command line, run as the bin runs it. */
export const CLI = path.resolve(__dirname, '../../src/cli/index.js');
export const SERVICE_MAIN = path.resolve(__dirname, '../../src/main.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in a clean environment (PATH and HOME kept) plus `env`, with `stdin` as its standard input. */
export function runCli(
  args: string[],
  env: Record<string, string> = {},
  stdin = '',
  script = CLI,
  cwd?: string,
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(cwd !== undefined ? { cwd } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 25_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(stdin);
  });
}
