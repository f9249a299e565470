import { ADMIN_ENV, ENV } from '../vocabulary/env-names';
import type { Config } from '../config/load';
import type { StoreConfig } from '../store/config';
import { describeStore } from '../store/describe';
import type { Logger } from '../telemetry/logger';
import { fingerprint } from '../verify/fingerprint';

/** One line that states the configuration, plus a paragraph no one can miss when nothing is configured. */
export function logStartup(
  logger: Logger,
  config: Config,
  storeConfig: StoreConfig,
  telemetryDescription: string,
  recovery: Record<string, string>,
): void {
  logger.info('bitrix24-webhook-guard starting', {
    ...recovery,
    tokens: config.tokens.map(({ name, token }) => ({ name, fingerprint: fingerprint(token) })),
    token_sources: config.sources,
    webhook_path: config.webhookPath,
    body_limit: config.bodyLimit,
    limits: {
      max_connections: config.maxConnections,
      body_memory_limit_bytes: config.bodyMemoryLimitBytes,
      body_timeout_seconds: config.bodyTimeoutMs / 1000,
      shutdown_drain_seconds: config.shutdownDrainMs / 1000,
    },
    hygiene_warnings: config.warnings,
    telemetry: telemetryDescription,
    store: describeStore(storeConfig),
  });
  if (storeConfig.kind === 'none') {
    logger.warn(
      `${ENV.store}=none: NOTHING IS KEPT. Accepted events are not stored and refused deliveries are not ` +
        `quarantined, so an event refused by a configuration mistake cannot be replayed (Bitrix24 does not retry). ` +
        `Unset ${ENV.store} to keep them in ${ENV.dataDir}, or set ${ENV.databaseUrl}.`,
      { store: 'none' },
    );
  }
  for (const warning of config.warnings) logger.warn(`configuration: ${warning}`);
  if (config.tokens.length === 0)
    logger.error(notConfiguredMessage(storeConfig, recovery.quarantine_auto_replay === 'on'), {
      reason: 'not_configured',
    });
}

/**
 * What an operator must read when no token is configured. Bitrix24 does not retry, so the refused deliveries
 * are lost only without a store; with one they are quarantined and the message says how to release them.
 */
export function notConfiguredMessage(storeConfig: StoreConfig, autoReplay = false): string {
  const kept =
    storeConfig.kind === 'none'
      ? `and Bitrix24 does not retry: with ${ENV.store}=none nothing is kept, so those events are lost.`
      : `and Bitrix24 does not retry: they are quarantined in the store (${describeStore(storeConfig)}), not lost.`;
  const release =
    storeConfig.kind === 'none'
      ? 'then restart.'
      : autoReplay
        ? `then restart: at start-up the quarantined deliveries whose token then matches are released automatically ` +
          `(${ADMIN_ENV.quarantineAutoReplay}=on); by hand, \`bitrix24-webhook-guard quarantine replay --apply\` or the console (/admin) does the same.`
        : 'then restart and release the quarantined deliveries with `bitrix24-webhook-guard quarantine replay --apply` ' +
          '(run with the same environment; without --apply it shows what would be released).';
  return (
    `NO WEBHOOK TOKEN CONFIGURED: every delivery is being refused with 503 not_configured ${kept} Set ${ENV.token} ` +
    `(or ${ENV.tokenFile}, or named tokens in ${ENV.tokens}) to the token shown in Bitrix24 under Developer ` +
    `resources → Other → Outgoing webhook (the "Application token" field of that webhook's settings), ${release}`
  );
}
