import { telemetry } from './telemetry/preload';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { ConfigError } from './config/errors';
import { ADMIN_ENV, ENV } from './config/env-names';
import { loadConfig, type Config } from './config/load';
import { createApp } from './receive/app';
import type { Lifecycle } from './receive/health';
import { installTelemetryDiagnostics } from './telemetry/diagnostics';
import { createLogger, type Logger } from './telemetry/logger';
import { createMetrics } from './telemetry/metrics';
import { guardConnections } from './serve/connection-guards';
import { serveTraced } from './telemetry/tracing';
import { fingerprint } from './verify/fingerprint';
import { parseStoreConfig, parseStoreTimeouts, type StoreConfig, type StoreTimeouts } from './store/config';
import { openStore } from './store/open';
import { StoreHealth } from './store/health';
import { StoreCorruptError } from './store/sqlite-file';
import { openWhenReachable } from './store/wait-for-store';
import { describeStore } from './store/describe';
import { startRetention } from './serve/retention';
import type { Store } from './store/types';
import { parseForwardConfig, type ForwardConfig } from './forward/config';
import { registerForwardMetrics, type ForwardMetrics } from './forward/metrics';
import { createForwarding } from './forward/start';
import type { ForwardWorker } from './forward/worker';
import type { ServiceMetrics } from './telemetry/metrics';
import { parseAutoReplay } from './recover/config';
import { autoReplay } from './recover/auto-replay';
import { registerRecoverMetrics, type RecoverMetrics } from './recover/metrics';
import { createReleaseRecorder } from './recover/release-recorder';
import { parseAdminConfig, type AdminConfig } from './admin/config';
import { registerAdminMetrics, type AdminMetrics } from './admin/metrics';
import { createAdminRouter } from './admin/router';
import { createManagementApp } from './admin/management-app';

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
  let storeTimeouts: StoreTimeouts;
  let autoReplayOn: boolean;
  let adminConfig: AdminConfig;
  try {
    autoReplayOn = parseAutoReplay(process.env);
    adminConfig = parseAdminConfig(process.env, (path) => readFileSync(path, 'utf8'));
    config = loadConfig(process.env, (path) => readFileSync(path, 'utf8'));
    storeConfig = parseStoreConfig(process.env);
    storeTimeouts = parseStoreTimeouts(process.env);
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
  const secrets = config.tokens.map(({ token }) => token);
  const logger = createLogger(config.logLevel, undefined, secrets);
  installTelemetryDiagnostics(logger, telemetry.plan.description);
  let forwardMetrics: ForwardMetrics | undefined;
  let recoverMetrics: RecoverMetrics | undefined;
  let adminMetrics: AdminMetrics | undefined;
  const metrics = createMetrics({
    webhookNames: config.tokens.map(({ name }) => name),
    tokensConfigured: config.tokens.length,
    register: (registry) => {
      if (forwardConfig) forwardMetrics = registerForwardMetrics(registry);
      recoverMetrics = registerRecoverMetrics(registry);
      if (adminConfig.token !== undefined) adminMetrics = registerAdminMetrics(registry);
    },
  });
  const storeHealth = new StoreHealth({ logger, onTimeout: () => metrics.recordStoreTimeout() });
  storeHealth.onChange(() => metrics.setStoreUp(!storeHealth.failing));
  // The forwarder is woken by each commit instead of waiting for its next poll.
  let wakeForwarder: (() => void) | undefined;
  const open = () => openStore(storeConfig, { bodyLimitBytes: config.bodyLimitBytes, secrets, timeoutMs: storeTimeouts.timeoutMs, health: storeHealth, onCommit: () => wakeForwarder?.() });
  openWhenReachable(open, {
    startupTimeoutMs: storeTimeouts.startupTimeoutMs,
    // A database server may come up after the service; a SQLite file that cannot be opened, or is damaged, will not fix itself.
    retryable: (error) => storeConfig.kind === 'postgres' && !(error instanceof StoreCorruptError),
    warn: (message, fields) => logger.warn(`${message} (${describeStore(storeConfig)}; ${ENV.storeStartupTimeout}=${storeTimeouts.startupTimeoutMs / 1000})`, fields),
  }).then(
    (store) => {
      const forwarding = serve({ config, storeConfig, forwardConfig, store, logger, metrics, forwardMetrics, storeHealth, recoverMetrics, adminMetrics, autoReplayOn, adminConfig });
      if (forwarding) wakeForwarder = () => forwarding.notify();
    },
    (error: unknown) => {
      // Listening without the store would answer 503 store_unavailable to every delivery: refuse to start.
      logger.error(`cannot open the store (${describeStore(storeConfig)}): ${error instanceof Error ? error.message : String(error)}`);
      process.exitCode = 1;
      void telemetry.shutdown().finally(() => logger.end());
    },
  );
}


interface ServeDeps {
  config: Config;
  storeConfig: StoreConfig;
  forwardConfig: ForwardConfig | undefined;
  store: Store;
  logger: Logger;
  metrics: ServiceMetrics;
  forwardMetrics: ForwardMetrics | undefined;
  storeHealth: StoreHealth;
  recoverMetrics: RecoverMetrics | undefined;
  adminMetrics: AdminMetrics | undefined;
  autoReplayOn: boolean;
  adminConfig: AdminConfig;
}

function serve(deps: ServeDeps): ForwardWorker | undefined {
  const { config, storeConfig, forwardConfig, store, logger, metrics, forwardMetrics, storeHealth, recoverMetrics, adminMetrics, autoReplayOn, adminConfig } = deps;
  const recordRelease = createReleaseRecorder(logger, recoverMetrics);
  // The forwarder reads the store, never the request: it sends what the request path committed. It and the
  // retention start once the port is ours: a process that cannot listen exits at once instead of working on.
  const forwarding = forwardConfig ? createForwarding(store, forwardConfig, config.tokens, logger, forwardMetrics) : undefined;
  let retention: { stop(): void } = { stop() {} };
  let forwardingStopped: Promise<void> = Promise.resolve();
  const lifecycle: Lifecycle = { shuttingDown: false };
  const admin =
    adminConfig.token === undefined
      ? undefined
      : createAdminRouter({
          admin: { ...adminConfig, token: adminConfig.token },
          config,
          store,
          logger,
          record: recordRelease,
          forwardConfig,
          storeDescription: describeStore(storeConfig),
          telemetryDescription: telemetry.plan.description,
          autoReplay: autoReplayOn,
          ...(adminMetrics ? { metrics: adminMetrics } : {}),
        });
  const managementElsewhere = adminConfig.managementPort !== undefined;
  const readiness = { storeHealth: () => storeHealth.state(), forwardingHealth: forwarding && (() => forwarding.health()) };
  const app = createApp({ config, metrics, logger, lifecycle, store, ...readiness, ...(admin && !managementElsewhere ? { admin } : {}), managementElsewhere });
  if (managementElsewhere) {
    serveManagement(createManagementApp({ config, metrics, logger, lifecycle, ...readiness, ...(admin ? { admin } : {}) }), config, adminConfig.managementPort!, logger);
  }
  const timeouts = serverTimeouts(config.bodyTimeoutMs);
  const server = http.createServer(timeouts, serveTraced(app.callback(), telemetry.plan));
  server.keepAliveTimeout = timeouts.keepAliveTimeout;
  guardConnections(server, metrics, logger, config.maxConnections);

  logStartup(logger, config, storeConfig, {
    quarantine_auto_replay: autoReplayOn ? 'on' : 'off',
    admin_console: !admin ? 'off' : managementElsewhere ? `on, port ${adminConfig.managementPort}` : 'on',
  });
  if (autoReplayOn) {
    // Tokens are read at start-up, so a restart with a new token is when they change: release what now matches.
    autoReplay({ store, tokens: config.tokens, sources: config.sources, logger, record: recordRelease }).catch((error: unknown) =>
      logger.error(`automatic replay of the quarantine failed: ${error instanceof Error ? error.message : String(error)}`),
    );
  }
  server.listen(config.port, config.host, () => {
    const { port } = server.address() as AddressInfo;
    const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
    retention = startRetention(store, logger);
    forwarding?.start();
    logger.info('listening', { url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`, port, webhook_path: config.webhookPath });
  });
  server.on('error', (error) => {
    logger.error(`cannot listen on ${config.host}:${config.port}: ${error.message}`);
    // Nothing else was started: close the store, flush and exit non-zero now.
    void store
      .close()
      .catch(() => {})
      .then(() => telemetry.shutdown())
      .finally(() => {
        logger.on('finish', () => process.exit(1));
        logger.end();
      });
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
  return forwarding;
}

/** The management listener (MANAGEMENT_PORT): same host as the service; closed with the process. */
function serveManagement(app: ReturnType<typeof createManagementApp>, config: Config, port: number, logger: Logger): void {
  const server = http.createServer(serverTimeouts(config.bodyTimeoutMs), serveTraced(app.callback(), telemetry.plan));
  server.listen(port, config.host, () => {
    const address = server.address() as AddressInfo;
    const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
    logger.info('management listening', { url: `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`, port: address.port, serves: ['/admin', '/metrics', '/readyz'] });
  });
  server.unref();
  server.on('error', (error) => {
    logger.error(`cannot listen on ${config.host}:${port} (${ADMIN_ENV.managementPort}): ${error.message}`);
    process.exitCode = 1;
  });
}

/** One line that states the configuration, plus a paragraph no one can miss when nothing is configured. */
function logStartup(logger: Logger, config: Config, storeConfig: StoreConfig, recovery: Record<string, string>): void {
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
  if (config.tokens.length === 0) logger.error(notConfiguredMessage(storeConfig, recovery.quarantine_auto_replay === 'on'), { reason: 'not_configured' });
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

if (require.main === module) {
  // `npm start` passes no argument. Anything else (`--help`, a command, a typo) goes to the command line,
  // which explains itself instead of starting a server by mistake.
  if (process.argv.length > 2) void (require('./cli/program') as typeof import('./cli/program')).runCli(process.argv);
  else main();
}
