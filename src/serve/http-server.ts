import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { createManagementApp } from '../admin/management-app';
import { ADMIN_ENV } from '../vocabulary/env-names';
import type { Config } from '../config/load';
import type { Logger } from '../telemetry/logger';
import { type ExportPlan, serveTraced } from '../telemetry/tracing';

/**
 * Node's server timeouts: a trickled or never-finished request is cut off instead of holding a socket. The
 * request timeout is a backstop behind the app's own body deadline (BODY_TIMEOUT_SECONDS after the headers),
 * which answers first and with the reason.
 */
export function serverTimeouts(bodyTimeoutMs: number) {
  const headersTimeout = 10_000;
  return {
    headersTimeout,
    requestTimeout: headersTimeout + bodyTimeoutMs + 5_000,
    keepAliveTimeout: 5_000,
    connectionsCheckingInterval: 1_000,
  };
}
/** After the drain, in-flight requests answered and telemetry flushed within this (plus the body deadline). */
export const SHUTDOWN_FINISH_MS = 4_000;

/** The address to reach a listener at: a wildcard host is reached on the loopback. */
export function listeningUrl(host: string, port: number): string {
  const reachable = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}

/** The management listener (MANAGEMENT_PORT): same host as the service; closed with the process. */
export function serveManagement(
  app: ReturnType<typeof createManagementApp>,
  config: Config,
  port: number,
  logger: Logger,
  plan: ExportPlan,
): void {
  const server = http.createServer(serverTimeouts(config.bodyTimeoutMs), serveTraced(app.callback(), plan));
  server.listen(port, config.host, () => {
    const address = server.address() as AddressInfo;
    logger.info('management listening', {
      url: listeningUrl(config.host, address.port),
      port: address.port,
      serves: ['/admin', '/metrics', '/readyz'],
    });
  });
  server.unref();
  server.on('error', (error) => {
    logger.error(`cannot listen on ${config.host}:${port} (${ADMIN_ENV.managementPort}): ${error.message}`);
    process.exitCode = 1;
  });
}
