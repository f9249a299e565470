import { telemetry } from './telemetry/preload';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { ConfigError } from './config/errors';
import { ENV } from './config/env-names';
import { loadConfig, type Config } from './config/load';
import { createApp } from './receive/app';
import type { Lifecycle } from './receive/health';
import { installTelemetryDiagnostics } from './telemetry/diagnostics';
import { createLogger, type Logger } from './telemetry/logger';
import { createMetrics } from './telemetry/metrics';
import { guardConnections } from './serve/connection-guards';
import { serveTraced } from './telemetry/tracing';
import { fingerprint } from './verify/fingerprint';
import { parseStoreConfig, type StoreConfig } from './store/config';
import { openStore } from './store/open';
import { describeStore } from './store/describe';
import { startRetention } from './serve/retention';
import type { Store } from './store/types';
import { parseForwardConfig, type ForwardConfig } from './forward/config';
import { registerForwardMetrics, type ForwardMetrics } from './forward/metrics';
import { startForwarding } from './forward/start';

/**
 * Node's server timeouts: a trickled or never-finished request is cut off instead of holding a socket. The
 * request timeout is a backstop behind the app's own body deadline (BODY_TIMEOUT_SECONDS after the headers),
 * which answers first and with the reason.
 */
export function serverTimeouts(bodyTimeoutMs: number) {
  const headersTimeout = 10_000;
  return { headersTimeout, requestTimeout: headersTimeout + bodyTimeoutMs + 5_000, keepAliveTimeout: 5_000, connectionsCheckingInterval: 1_000 };
}
/** After the drain, in-flight requests answered and telemetry flushed within this (plus the body deadline). */
export const SHUTDOWN_FINISH_MS = 4_000;
/** After the listener closes: time for a just-accepted connection to deliver its request before idle ones are closed. */
const IDLE_GRACE_MS = 1_000;

/** Starts the service (configuration from the environment). `serve` of the command line calls this. */
export function main(): void {
  let config: Config;
  let storeConfig: StoreConfig;
  let forwardConfig: ForwardConfig | undefined;
  try {
    config = loadConfig(process.env, (path) => readFileSync(path, 'utf8'));
    storeConfig = parseStoreConfig(process.env);
    forwardConfig = parseForwardConfig(process.env, (path) => readFileSync(path, 'utf8'));
    if (forwardConfig && storeConfig.kind === 'none') throw new ConfigError(ENV.store, `none keeps no event to forward; unset it or unset ${ENV.forwardUrl}/${ENV.forwardUrls}`);
  } catch (error) {
    const logger = createLogger('info');
    const message = error instanceof ConfigError ? error.message : String(error);
    logger.error(`configuration error: ${message}`, { variable: error instanceof ConfigError ? error.variable : undefined });
    logger.on('finish', () => process.exit(2));
    logger.end();
    return;
  }
  const logger = createLogger(config.logLevel);
  installTelemetryDiagnostics(logger, telemetry.plan.description);
  openStore(storeConfig, { bodyLimitBytes: config.bodyLimitBytes }).then(
    (store) => serve(config, storeConfig, forwardConfig, store, logger),
    (error: unknown) => {
      // Listening without the store would answer 503 store_unavailable to every delivery: refuse to start.
      logger.error(`cannot open the store (${describeStore(storeConfig)}): ${error instanceof Error ? error.message : String(error)}`);
      process.exitCode = 1;
      void telemetry.shutdown().finally(() => logger.end());
    },
  );
}


function serve(config: Config, storeConfig: StoreConfig, forwardConfig: ForwardConfig | undefined, store: Store, logger: Logger): void {
  let forwardMetrics: ForwardMetrics | undefined;
  const metrics = createMetrics({
    webhookNames: config.tokens.map(({ name }) => name),
    tokensConfigured: config.tokens.length,
    register: forwardConfig ? (registry) => (forwardMetrics = registerForwardMetrics(registry)) : undefined,
  });
  const retention = startRetention(store, metrics, logger);
  // The forwarder reads the store, never the request: it sends what the request path committed.
  const forwarding = forwardConfig ? startForwarding(store, forwardConfig, config.tokens, logger, forwardMetrics) : undefined;
  let forwardingStopped: Promise<void> = Promise.resolve();
  const lifecycle: Lifecycle = { shuttingDown: false };
  const app = createApp({ config, metrics, logger, lifecycle, store });
  const timeouts = serverTimeouts(config.bodyTimeoutMs);
  const server = http.createServer(timeouts, serveTraced(app.callback(), telemetry.plan));
  server.keepAliveTimeout = timeouts.keepAliveTimeout;
  guardConnections(server, metrics, logger, config.maxConnections);

  logStartup(logger, config, storeConfig);
  server.listen(config.port, config.host, () => {
    const { port } = server.address() as AddressInfo;
    const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
    logger.info('listening', { url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`, port, webhook_path: config.webhookPath });
  });
  server.on('error', (error) => {
    logger.error(`cannot listen on ${config.host}:${config.port}: ${error.message}`);
    process.exitCode = 1;
    void telemetry.shutdown().finally(() => logger.end());
  });

  // SIGTERM: /readyz says shutting_down and every answer closes its connection for the drain, so load
  // balancers and keep-alive clients move away while requests are still served; then stop listening,
  // answer what is in flight, flush telemetry and exit 0.
  const shutdown = (signal: string) => {
    if (lifecycle.shuttingDown) return;
    lifecycle.shuttingDown = true;
    logger.info('shutting down: draining, then answering requests in flight and flushing telemetry', {
      signal,
      drain_seconds: config.shutdownDrainMs / 1000,
    });
    const deadline = setTimeout(() => {
      logger.error('shutdown deadline passed; closing remaining connections');
      server.closeAllConnections();
    }, config.shutdownDrainMs + config.bodyTimeoutMs + SHUTDOWN_FINISH_MS);
    deadline.unref();
    // Forwarding stops claiming now and finishes its sends in flight within the drain and finish time.
    if (forwarding) forwardingStopped = forwarding.stop(config.shutdownDrainMs + SHUTDOWN_FINISH_MS);
    setTimeout(() => stopListening(deadline), config.shutdownDrainMs);
  };
  const stopListening = (deadline: NodeJS.Timeout) => {
    logger.info('drain over: no new connections; finishing requests in flight');
    // net's close, not http's: http's also closes idle connections at once, and a connection accepted a
    // moment ago whose request is not parsed yet counts as idle, so that request would be cut unanswered.
    net.Server.prototype.close.call(server, () => {
      // Every request in flight has been answered (its store write done): the store can close.
      retention.stop();
      void forwardingStopped
        .then(() => store.close())
        .catch((error: unknown) => logger.warn(`closing the store failed: ${String(error)}`))
        .then(() => telemetry.shutdown())
        .catch((error: unknown) => logger.warn(`telemetry flush failed: ${String(error)}`))
        .finally(() => {
          clearTimeout(deadline);
          logger.info('stopped');
          logger.on('finish', () => process.exit(0));
          logger.end();
        });
    });
    // Connections still without a request after a grace period are truly idle: close them. Busy ones
    // close after their answer (Connection: close).
    setTimeout(() => server.closeIdleConnections(), IDLE_GRACE_MS).unref();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

/** One line that states the configuration, plus a paragraph no one can miss when nothing is configured. */
function logStartup(logger: Logger, config: Config, storeConfig: StoreConfig): void {
  logger.info('bitrix24-webhook-guard starting', {
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
    telemetry: telemetry.plan.description,
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
  if (config.tokens.length === 0) logger.error(notConfiguredMessage(storeConfig), { reason: 'not_configured' });
}

/**
 * What an operator must read when no token is configured. Bitrix24 does not retry, so the refused deliveries
 * are lost only without a store; with one they are quarantined and the message says how to release them.
 */
export function notConfiguredMessage(storeConfig: StoreConfig): string {
  const kept =
    storeConfig.kind === 'none'
      ? `and Bitrix24 does not retry: with ${ENV.store}=none nothing is kept, so those events are lost.`
      : `and Bitrix24 does not retry: they are quarantined in the store (${describeStore(storeConfig)}), not lost.`;
  const release =
    storeConfig.kind === 'none'
      ? 'then restart.'
      : 'then restart and release the quarantined deliveries with `bitrix24-webhook-guard quarantine replay --apply` ' +
        '(run with the same environment; without --apply it shows what would be released).';
  return (
    `NO WEBHOOK TOKEN CONFIGURED: every delivery is being refused with 503 not_configured ${kept} Set ${ENV.token} ` +
    `(or ${ENV.tokenFile}, or named tokens in ${ENV.tokens}) to the token shown in Bitrix24 under Developer ` +
    `resources → Other → Outgoing webhook (the "Application token" field of that webhook's settings), ${release}`
  );
}

if (require.main === module) {
  // `npm start` passes no argument. Anything else (`--help`, a command, a typo) goes to the command line,
  // which explains itself instead of starting a server by mistake.
  if (process.argv.length > 2) void (require('./cli/program') as typeof import('./cli/program')).runCli(process.argv);
  else main();
}
