import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { NamedToken } from '../config/tokens';
import type { Store } from '../store/types';
import type { Logger } from '../telemetry/logger';
import type { ForwardConfig } from './config';
import type { ForwardMetrics } from './metrics';
import { ForwardWorker, redactedUrl } from './worker';

/** A lease owner that tells replicas (and restarts of one) apart in the store. */
export function leaseOwner(): string {
  return `${os.hostname().slice(0, 40)}:${process.pid}:${randomBytes(4).toString('hex')}`;
}

/** Starts the forwarding worker on an open store and logs where events go (URLs without their query values). */
export function startForwarding(
  store: Store,
  config: ForwardConfig,
  tokens: readonly NamedToken[],
  logger: Logger,
  metrics?: ForwardMetrics,
): ForwardWorker {
  const worker = createForwarding(store, config, tokens, logger, metrics);
  worker.start();
  return worker;
}

/** The forwarding worker, not started yet (the service starts it once it listens); logs where events go. */
export function createForwarding(
  store: Store,
  config: ForwardConfig,
  tokens: readonly NamedToken[],
  logger: Logger,
  metrics?: ForwardMetrics,
): ForwardWorker {
  const worker = new ForwardWorker({ store, config, tokens, logger, metrics, owner: leaseOwner() });
  logger.info('forwarding accepted events', {
    upstream: config.defaultUrl === undefined ? undefined : redactedUrl(new URL(config.defaultUrl)),
    upstreams: Object.fromEntries([...config.urls].map(([name, url]) => [name, redactedUrl(new URL(url))])),
    format: config.format,
    store: store.kind,
    max_attempts: config.maxAttempts,
    max_age_seconds: config.maxAgeMs / 1000,
    timeout_seconds: config.timeoutMs / 1000,
    concurrency: config.concurrency,
    rate_per_second: config.ratePerSecond,
  });
  return worker;
}
