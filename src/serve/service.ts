import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createManagementApp } from '../admin/management-app';
import { type AdminMetrics, registerAdminMetrics } from '../admin/metrics';
import { createAdminRouter } from '../admin/router';
import { ENV } from '../vocabulary/env-names';
import { ConfigError } from '../config/errors';
import { type ForwardMetrics, registerForwardMetrics } from '../forward/metrics';
import { createForwarding } from '../forward/start';
import type { ForwardWorker } from '../forward/worker';
import { createApp } from '../receive/app';
import type { Lifecycle } from '../receive/health';
import { autoReplay } from '../recover/auto-replay';
import { type RecoverMetrics, registerRecoverMetrics } from '../recover/metrics';
import { createReleaseRecorder } from '../recover/release-recorder';
import { describeStore } from '../store/describe';
import { StoreHealth } from '../store/health';
import { openStore } from '../store/open';
import { StoreCorruptError } from '../store/sqlite-file';
import type { Store } from '../store/types';
import { openWhenReachable } from '../store/wait-for-store';
import { installTelemetryDiagnostics } from '../telemetry/diagnostics';
import { createLogger, type Logger } from '../telemetry/logger';
import { createMetrics, type ServiceMetrics } from '../telemetry/metrics';
import { serveTraced, type Telemetry } from '../telemetry/tracing';
import { startRetention } from './retention';
import { guardConnections } from './connection-guards';
import { readServiceEnvironment, type ServiceEnvironment } from './environment';
import { listeningUrl, serveManagement, serverTimeouts } from './http-server';
import { stopOnSignals } from './shutdown';
import { logStartup } from './startup-log';
import type { Env } from '../config/env';

/**
 * Starts the service: reads the environment (a mistake exits 2 with the variable named), opens the store
 * (waiting for a database that comes up after the service), then listens. `serve` of the command line and
 * `node dist/src/main.js` call this, with the telemetry the preload started.
 */
export function startService(telemetry: Telemetry, env: Env = process.env): void {
  let environment: ServiceEnvironment;
  try {
    environment = readServiceEnvironment(env);
  } catch (error) {
    const logger = createLogger('info');
    const message = error instanceof ConfigError ? error.message : String(error);
    logger.error(`configuration error: ${message}`, {
      variable: error instanceof ConfigError ? error.variable : undefined,
    });
    logger.on('finish', () => process.exit(2));
    logger.end();
    return;
  }
  const { config, storeConfig, storeTimeouts } = environment;
  const secrets = config.tokens.map(({ token }) => token);
  const logger = createLogger(config.logLevel, undefined, secrets);
  installTelemetryDiagnostics(logger, telemetry.plan.description);
  const registered = createServiceMetrics(environment);
  const { metrics } = registered;
  const storeHealth = new StoreHealth({ logger, onTimeout: () => metrics.recordStoreTimeout() });
  storeHealth.onChange(() => metrics.setStoreUp(!storeHealth.failing));
  // The forwarder is woken by each commit instead of waiting for its next poll.
  let wakeForwarder: (() => void) | undefined;
  const open = () =>
    openStore(storeConfig, {
      bodyLimitBytes: config.bodyLimitBytes,
      secrets,
      timeoutMs: storeTimeouts.timeoutMs,
      health: storeHealth,
      onCommit: () => wakeForwarder?.(),
    });
  openWhenReachable(open, {
    startupTimeoutMs: storeTimeouts.startupTimeoutMs,
    // A database server may come up after the service; a SQLite file that cannot be opened, or is damaged, will not fix
    // itself.
    retryable: (error) => storeConfig.kind === 'postgres' && !(error instanceof StoreCorruptError),
    warn: (message, fields) =>
      logger.warn(
        `${message} (${describeStore(storeConfig)}; ${ENV.storeStartupTimeout}=${storeTimeouts.startupTimeoutMs / 1000})`,
        fields,
      ),
  }).then(
    (store) => {
      const forwarding = serve({ ...environment, ...registered, store, logger, storeHealth, telemetry });
      if (forwarding) wakeForwarder = () => forwarding.notify();
    },
    (error: unknown) => {
      // Listening without the store would answer 503 store_unavailable to every delivery: refuse to start.
      logger.error(
        `cannot open the store (${describeStore(storeConfig)}): ${error instanceof Error ? error.message : String(error)}`,
      );
      process.exitCode = 1;
      void telemetry.shutdown().finally(() => logger.end());
    },
  );
}

interface RegisteredMetrics {
  metrics: ServiceMetrics;
  forwardMetrics: ForwardMetrics | undefined;
  recoverMetrics: RecoverMetrics | undefined;
  adminMetrics: AdminMetrics | undefined;
}

/** One registry: the service's families, and those of forwarding and the console only when they are on. */
function createServiceMetrics({ config, forwardConfig, adminConfig }: ServiceEnvironment): RegisteredMetrics {
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
  return { metrics, forwardMetrics, recoverMetrics, adminMetrics };
}

interface ServeDeps extends ServiceEnvironment, RegisteredMetrics {
  store: Store;
  logger: Logger;
  storeHealth: StoreHealth;
  telemetry: Telemetry;
}

/** With the store open: the apps, the listeners, recovery at start-up, forwarding, retention and the shutdown. */
function serve(deps: ServeDeps): ForwardWorker | undefined {
  const {
    config,
    storeConfig,
    forwardConfig,
    store,
    logger,
    metrics,
    forwardMetrics,
    storeHealth,
    autoReplayOn,
    adminConfig,
    telemetry,
  } = deps;
  const recordRelease = createReleaseRecorder(logger, deps.recoverMetrics);
  // The forwarder reads the store, never the request: it sends what the request path committed. It and the
  // retention start once the port is ours: a process that cannot listen exits at once instead of working on.
  const forwarding = forwardConfig
    ? createForwarding(store, forwardConfig, config.tokens, logger, forwardMetrics)
    : undefined;
  let retention: { stop(): void } = { stop() {} };
  const lifecycle: Lifecycle = { shuttingDown: false };
  const admin = createAdmin(deps, recordRelease);
  const managementElsewhere = adminConfig.managementPort !== undefined;
  const readiness = {
    storeHealth: () => storeHealth.state(),
    forwardingHealth: forwarding && (() => forwarding.health()),
  };
  const app = createApp({
    config,
    metrics,
    logger,
    lifecycle,
    store,
    ...readiness,
    ...(admin && !managementElsewhere ? { admin } : {}),
    managementElsewhere,
  });
  if (managementElsewhere) {
    const management = createManagementApp({
      config,
      metrics,
      logger,
      lifecycle,
      ...readiness,
      ...(admin ? { admin } : {}),
    });
    serveManagement(management, config, adminConfig.managementPort!, logger, telemetry.plan);
  }
  const timeouts = serverTimeouts(config.bodyTimeoutMs);
  const server = http.createServer(timeouts, serveTraced(app.callback(), telemetry.plan));
  server.keepAliveTimeout = timeouts.keepAliveTimeout;
  guardConnections(server, metrics, logger, config.maxConnections);

  logStartup(logger, config, storeConfig, telemetry.plan.description, {
    quarantine_auto_replay: autoReplayOn ? 'on' : 'off',
    admin_console: !admin ? 'off' : managementElsewhere ? `on, port ${adminConfig.managementPort}` : 'on',
  });
  if (autoReplayOn) {
    // Tokens are read at start-up, so a restart with a new token is when they change: release what now matches.
    autoReplay({ store, tokens: config.tokens, sources: config.sources, logger, record: recordRelease }).catch(
      (error: unknown) =>
        logger.error(
          `automatic replay of the quarantine failed: ${error instanceof Error ? error.message : String(error)}`,
        ),
    );
  }
  server.listen(config.port, config.host, () => {
    const { port } = server.address() as AddressInfo;
    retention = startRetention(store, logger);
    forwarding?.start();
    logger.info('listening', { url: listeningUrl(config.host, port), port, webhook_path: config.webhookPath });
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
  stopOnSignals({ server, lifecycle, config, logger, store, telemetry, forwarding, retention: () => retention });
  return forwarding;
}

/** The console (/admin), when ADMIN_TOKEN is set. */
function createAdmin(deps: ServeDeps, record: ReturnType<typeof createReleaseRecorder>) {
  const { adminConfig, config, store, logger, forwardConfig, storeConfig, telemetry, autoReplayOn, adminMetrics } =
    deps;
  if (adminConfig.token === undefined) return undefined;
  return createAdminRouter({
    admin: { ...adminConfig, token: adminConfig.token },
    config,
    store,
    logger,
    record,
    forwardConfig,
    storeDescription: describeStore(storeConfig),
    telemetryDescription: telemetry.plan.description,
    autoReplay: autoReplayOn,
    ...(adminMetrics ? { metrics: adminMetrics } : {}),
  });
}
