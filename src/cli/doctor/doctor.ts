import { parseForwardConfig } from '../../forward/config';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../../config/errors';
import { type Config, loadConfig } from '../../config/load';
import { exportPlan } from '../../telemetry/tracing';
import { renderCheck, type Check } from '../../checklist/checks';
import { configurationChecks, summarize, type ConfigurationSummary } from '../../checklist/config-checks';
import { terminalSafe } from '../../checklist/terminal-text';
import { otlpTargets, probeOtlp } from './otlp-probe';
import { deliveryLabel, describeAnswer, selfTest, type SelfTest } from './self-test';
import type { Env } from '../../config/env';

export interface DoctorOptions {
  url?: string;
  json?: boolean;
  timeout: number;
}

export interface DoctorReport {
  ok: boolean;
  configuration: ConfigurationSummary & { telemetry: string };
  checks: Check[];
  self_test?: SelfTest;
}

/** Exit codes: 0 every check passed, 1 a check failed, 2 the configuration is refused (as the service would). */
export const EXIT = { ok: 0, failed: 1, configuration: 2 } as const;

export async function doctor(options: DoctorOptions, env: Env = process.env): Promise<number> {
  let config: Config;
  try {
    config = loadConfig(env, (path) => readFileSync(path, 'utf8'));
    // Forwarding's variables are refused at start-up like the rest (a URL with user:password@, for one).
    parseForwardConfig(env, (path) => readFileSync(path, 'utf8'));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    if (options.json) print({ ok: false, error: { variable: error.variable, message: error.message } });
    else process.stderr.write(`configuration error: ${error.message}\n`);
    return EXIT.configuration;
  }
  const summary = summarize(config);
  const plan = exportPlan(env);
  const checks = configurationChecks(summary);
  checks.push({ check: 'telemetry', status: 'ok', detail: plan.description });
  for (const target of otlpTargets(env, plan)) checks.push(await probeOtlp(target, options.timeout));

  const report: DoctorReport = { ok: false, configuration: { ...summary, telemetry: plan.description }, checks };
  if (options.url !== undefined) report.self_test = await selfTest(options.url, config.tokens, options.timeout);
  report.ok = checks.every((check) => check.status !== 'fail') && (report.self_test?.ok ?? true);

  if (options.json) print(report);
  else process.stdout.write(render(report));
  return report.ok ? EXIT.ok : EXIT.failed;
}

function render(report: DoctorReport): string {
  const lines = [
    'Configuration (read from this environment, as the service reads it)',
    ...report.checks.map(renderCheck),
  ];
  let failed = report.checks.filter((check) => check.status === 'fail').length;
  if (report.self_test) {
    lines.push(`Self-test deliveries to ${terminalSafe(report.self_test.url)}`);
    for (const result of report.self_test.deliveries) {
      const expected = `${result.expected.status} ${result.expected.reason}`;
      const detail = result.ok ? describeAnswer(result.got) : `expected ${expected}, got ${describeAnswer(result.got)}`;
      lines.push(
        renderCheck({
          check: deliveryLabel(result),
          status: result.ok ? 'ok' : 'fail',
          detail,
          ...(result.likely ? { likely: result.likely } : {}),
        }),
      );
      if (!result.ok) failed++;
    }
  }
  lines.push(failed === 0 ? 'doctor: all checks passed' : `doctor: ${failed} check${failed === 1 ? '' : 's'} failed`);
  return `${lines.join('\n')}\n`;
}

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
