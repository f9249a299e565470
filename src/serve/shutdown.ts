import net from 'node:net';
import type http from 'node:http';
import type { Config } from '../config/load';
import type { ForwardWorker } from '../forward/worker';
import type { Lifecycle } from '../receive/health';
import type { Store } from '../store/types';
import type { Logger } from '../telemetry/logger';
import type { Telemetry } from '../telemetry/tracing';
import { SHUTDOWN_FINISH_MS } from './http-server';

/** After the listener closes: time for a just-accepted connection to deliver its request before idle ones are closed. */
const IDLE_GRACE_MS = 1_000;

export interface ShutdownDeps {
  server: http.Server;
  lifecycle: Lifecycle;
  config: Config;
  logger: Logger;
  store: Store;
  telemetry: Telemetry;
  forwarding: ForwardWorker | undefined;
  /** The retention timer, started once listening: read at shutdown, not at set-up. */
  retention: () => { stop(): void };
}

/**
 * SIGTERM: /readyz says shutting_down and every answer closes its connection for the drain, so load
 * balancers and keep-alive clients move away while requests are still served; then stop listening,
 * answer what is in flight, flush telemetry and exit 0.
 */
export function stopOnSignals(deps: ShutdownDeps): void {
  const { server, lifecycle, config, logger, forwarding } = deps;
  let forwardingStopped: Promise<void> = Promise.resolve();
  const shutdown = (signal: string) => {
    if (lifecycle.shuttingDown) return;
    lifecycle.shuttingDown = true;
    logger.info('shutting down: draining, then answering requests in flight and flushing telemetry', {
      signal,
      drain_seconds: config.shutdownDrainMs / 1000,
    });
    const deadline = setTimeout(
      () => {
        logger.error('shutdown deadline passed; closing remaining connections');
        server.closeAllConnections();
      },
      config.shutdownDrainMs + config.bodyTimeoutMs + SHUTDOWN_FINISH_MS,
    );
    deadline.unref();
    // Forwarding stops claiming now and finishes its sends in flight within the drain and finish time.
    if (forwarding) forwardingStopped = forwarding.stop(config.shutdownDrainMs + SHUTDOWN_FINISH_MS);
    setTimeout(() => stopListening(deps, deadline, forwardingStopped), config.shutdownDrainMs);
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

function stopListening(deps: ShutdownDeps, deadline: NodeJS.Timeout, forwardingStopped: Promise<void>): void {
  const { server, logger, store, telemetry } = deps;
  logger.info('drain over: no new connections; finishing requests in flight');
  // net's close, not http's: http's also closes idle connections at once, and a connection accepted a
  // moment ago whose request is not parsed yet counts as idle, so that request would be cut unanswered.
  net.Server.prototype.close.call(server, () => {
    // Every request in flight has been answered (its store write done): the store can close.
    deps.retention().stop();
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
}
