// A real Prometheus for the tests: the installed binary on a free loopback port, temp storage, 1 s scrape
// and evaluation intervals, and the generated rule file.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { freePort } from '../../support/loopback-http';
import { requireBinary } from './tools';

export interface PrometheusServer {
  url: string;
  query(expr: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>>;
  alerts(): Promise<Array<{ labels: Record<string, string>; state: 'pending' | 'firing'; value: string }>>;
  rules(): Promise<Array<{ name: string; health: string; lastError?: string; state?: string }>>;
  /** Exemplars stored for the series an expression selects, over the last `seconds`. */
  exemplars(
    expr: string,
    seconds: number,
  ): Promise<
    Array<{ seriesLabels: Record<string, string>; exemplars: Array<{ labels: Record<string, string>; value: string }> }>
  >;
  output(): string;
  stop(): Promise<void>;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  const body = (await response.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`${url}: ${body.error ?? response.status}`);
  return body.data;
}

export async function startPrometheus(options: {
  job: string;
  target: string;
  ruleFile: string;
}): Promise<PrometheusServer> {
  const binary = requireBinary('prometheus');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bwg-prometheus-'));
  const configFile = path.join(dir, 'prometheus.yml');
  writeFileSync(
    configFile,
    stringify({
      global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
      rule_files: [options.ruleFile],
      scrape_configs: [{ job_name: options.job, static_configs: [{ targets: [options.target] }] }],
    }),
  );
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    binary,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
      // As in the shipped stack: Prometheus then asks for OpenMetrics and keeps the trace_id exemplars.
      '--enable-feature=exemplar-storage',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let hasExited = false;
  void exited.then(() => {
    hasExited = true;
  });

  const stop = async () => {
    if (!hasExited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (hasExited) {
      await stop();
      throw new Error(`prometheus exited during start-up:\n${output}`);
    }
    try {
      const response = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) });
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus not ready within 30 s:\n${output}`);
    }
    await sleep(200);
  }

  return {
    url,
    query: (expr) =>
      getJson<{ result: Array<{ metric: Record<string, string>; value: [number, string] }> }>(
        `${url}/api/v1/query?query=${encodeURIComponent(expr)}`,
      ).then((data) => data.result),
    alerts: () =>
      getJson<{ alerts: Array<{ labels: Record<string, string>; state: 'pending' | 'firing'; value: string }> }>(
        `${url}/api/v1/alerts`,
      ).then((data) => data.alerts),
    rules: () =>
      getJson<{
        groups: Array<{ rules: Array<{ name: string; health: string; lastError?: string; state?: string }> }>;
      }>(`${url}/api/v1/rules`).then((data) => data.groups.flatMap((group) => group.rules)),
    exemplars: (expr, seconds) => {
      const end = Date.now() / 1000;
      return getJson(
        `${url}/api/v1/query_exemplars?query=${encodeURIComponent(expr)}&start=${end - seconds}&end=${end}`,
      );
    },
    output: () => output,
    stop,
  };
}
