import type { Store } from '../store/types';
import type { Logger } from '../telemetry/logger';
import type { ServiceMetrics } from '../telemetry/metrics';

/** How often retention and the quarantine cap run while the service serves. */
export const RETENTION_INTERVAL_MS = 60_000;

/**
 * Runs the store's retention (expired quarantine and delivered events, then the quarantine cap) now and
 * every RETENTION_INTERVAL_MS, counting evictions. The timer never keeps the process alive; a failing run
 * is logged and tried again next time.
 */
export function startRetention(store: Store, metrics: ServiceMetrics, logger: Logger, intervalMs = RETENTION_INTERVAL_MS): { stop(): void; run(): Promise<void> } {
  let running: Promise<void> | undefined;
  const run = (): Promise<void> => {
    running ??= (async () => {
      try {
        const result = await store.applyRetention(new Date());
        metrics.recordQuarantineEvictions(result.quarantineEvicted);
        if (result.quarantineEvicted > 0) {
          logger.warn('quarantine full: oldest quarantined deliveries evicted', { evicted: result.quarantineEvicted });
        }
        if (result.quarantineExpired + result.eventsExpired > 0) {
          logger.info('retention: expired rows deleted', { quarantine_expired: result.quarantineExpired, events_expired: result.eventsExpired });
        }
      } catch (error) {
        logger.error('retention failed', { error: error instanceof Error ? error.message : String(error) });
      } finally {
        running = undefined;
      }
    })();
    return running;
  };
  void run();
  const timer = setInterval(() => void run(), intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer), run };
}
