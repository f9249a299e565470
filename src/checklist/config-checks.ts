import { ENV } from '../vocabulary/env-names';
import type { Config } from '../config/load';
import { fingerprint } from '../verify/fingerprint';
import type { Check } from './checks';

export interface ConfigurationSummary {
  tokens: Array<{ name: string; fingerprint: string }>;
  token_sources: string[];
  webhook_path: string;
  listen: { host: string; port: number };
  body_limit: string;
  body_limit_bytes: number;
  log_level: string;
  warnings: string[];
}

export function summarize(config: Config): ConfigurationSummary {
  return {
    tokens: config.tokens.map(({ name, token }) => ({ name, fingerprint: fingerprint(token) })),
    token_sources: [...config.sources],
    webhook_path: config.webhookPath,
    listen: { host: config.host, port: config.port },
    body_limit: config.bodyLimit,
    body_limit_bytes: config.bodyLimitBytes,
    log_level: config.logLevel,
    warnings: [...config.warnings],
  };
}

/** The checklist of what the service would run with, read from the same environment. */
export function configurationChecks(summary: ConfigurationSummary): Check[] {
  const checks: Check[] = [];
  if (summary.tokens.length === 0) {
    checks.push({
      check: 'tokens',
      status: 'fail',
      detail: 'none configured',
      likely: `every delivery would be refused with 503 not_configured; set ${ENV.token} (or ${ENV.tokenFile}, or ${ENV.tokens})`,
    });
  } else {
    const listed = summary.tokens.map(({ name, fingerprint }) => `${name} ${fingerprint}`).join(', ');
    checks.push({ check: 'tokens', status: 'ok', detail: `${summary.tokens.length} configured: ${listed}` });
  }
  for (const warning of summary.warnings) checks.push({ check: 'hygiene', status: 'warn', detail: warning });
  checks.push(
    summary.token_sources.includes('body')
      ? { check: 'token sources', status: 'ok', detail: summary.token_sources.join(', ') }
      : {
          check: 'token sources',
          status: 'warn',
          detail: summary.token_sources.join(', '),
          likely: `Bitrix24 sends the token in the body (auth[application_token]); without body in ${ENV.tokenSources} its deliveries are refused`,
        },
  );
  checks.push({ check: 'webhook path', status: 'ok', detail: summary.webhook_path });
  checks.push({ check: 'listen', status: 'ok', detail: `${summary.listen.host}:${summary.listen.port}` });
  checks.push({
    check: 'body limit',
    status: 'ok',
    detail: `${summary.body_limit} (${summary.body_limit_bytes} bytes)`,
  });
  return checks;
}
