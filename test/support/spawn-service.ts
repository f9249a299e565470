import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

/** The compiled service, started exactly as `npm start` starts it (with the OpenTelemetry preload). */
export const SERVICE_MAIN = path.resolve(__dirname, '../../src/main.js');
export const SERVICE_PRELOAD = path.resolve(__dirname, '../../src/telemetry/preload.js');

export interface RunningService {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  port: number;
  process: ChildProcess;
  /** Every stdout line so far, parsed as JSON where it is JSON (the service logs JSON lines). */
  logs: Array<Record<string, unknown>>;
  /** Raw stdout and stderr text so far. */
  stdout(): string;
  stderr(): string;
  /** Waits for a log line that satisfies the predicate. */
  waitForLog(
    predicate: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface SpawnOptions {
  /**
   * Environment on top of a clean one (PATH and HOME kept; PORT=0 and HOST=127.0.0.1 by default). Without
   * DATA_DIR, DATABASE_URL or STORE, the store lives in a temporary directory deleted when the process exits.
   */
  env?: Record<string, string | undefined>;
  /** Resolve once the process has exited instead of waiting for "listening" (for start-up failures). */
  expectExit?: boolean;
  timeoutMs?: number;
}

export async function spawnService(options: SpawnOptions = {}): Promise<RunningService> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    PORT: '0',
    HOST: '127.0.0.1',
    OTEL_TRACES_EXPORTER: 'none',
    OTEL_LOGS_EXPORTER: 'none',
    OTEL_METRICS_EXPORTER: 'none',
  };
  for (const [key, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  let ownDataDir: string | undefined;
  if (env.DATA_DIR === undefined && env.DATABASE_URL === undefined && env.STORE === undefined) {
    ownDataDir = mkdtempSync(path.join(os.tmpdir(), 'service-store-'));
    env.DATA_DIR = ownDataDir;
  }
  const child = spawn(process.execPath, ['--require', SERVICE_PRELOAD, SERVICE_MAIN], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  let stdoutText = '';
  let stderrText = '';
  const waiters: Array<() => void> = [];
  const notify = () => {
    for (const wake of waiters.splice(0)) wake();
  };
  readline.createInterface({ input: child.stdout! }).on('line', (line) => {
    stdoutText += `${line}\n`;
    try {
      const parsed: unknown = JSON.parse(line);
      if (parsed && typeof parsed === 'object') logs.push(parsed as Record<string, unknown>);
    } catch {
      logs.push({ unparsed: line });
    }
    notify();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderrText += chunk.toString('utf8');
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      if (ownDataDir !== undefined) rmSync(ownDataDir, { recursive: true, force: true });
      notify();
      resolve(code);
    }),
  );
  let exitCode: number | null | undefined;
  void exited.then((code) => {
    exitCode = code;
  });

  const waitForLog = async (
    predicate: (line: Record<string, unknown>) => boolean,
    timeoutMs = options.timeoutMs ?? 15000,
  ): Promise<Record<string, unknown>> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = logs.find(predicate);
      if (hit) return hit;
      if (exitCode !== undefined) {
        throw new Error(
          `service exited (${exitCode}) before the expected log line.\nstdout:\n${stdoutText}\nstderr:\n${stderrText}`,
        );
      }
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`timed out waiting for a log line.\nstdout:\n${stdoutText}\nstderr:\n${stderrText}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  };

  const service: RunningService = {
    url: '',
    port: 0,
    process: child,
    logs,
    stdout: () => stdoutText,
    stderr: () => stderrText,
    waitForLog,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (exitCode !== undefined) return exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 15000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };

  if (options.expectExit) {
    await exited;
    return service;
  }
  const listening = await waitForLog((line) => line.message === 'listening');
  service.url = String(listening.url);
  service.port = Number(listening.port);
  return service;
}
