import type { Store } from '../store/types';
import type { Logger } from '../telemetry/logger';

/** How often retention and the quarantine cap run while the service serves. */
export const RETENTION_INTERVAL_MS = 60_000;

/**
 * Runs the store's retention (expired quarantine and delivered events, then the quarantine cap) now and
 * every RETENTION_INTERVAL_MS, counting evictions. The timer never keeps the process alive; a failing run
 * is logged and tried again next time.
 */
export function startRetention(
  store: Store,
  logger: Logger,
  intervalMs = RETENTION_INTERVAL_MS,
): { stop(): void; run(): Promise<void> } {
  let running: Promise<void> | undefined;
  const run = (): Promise<void> => {
    running ??= (async () => {
      try {
        // Evictions are counted and logged by the store's eviction listener (createRefusalRecorder), which also
        // hears the evictions a write past the budget starts.
        const result = await store.applyRetention(new Date());
        if (result.quarantineExpired + result.eventsExpired > 0) {
          logger.info('retention: expired rows deleted', {
            quarantine_expired: result.quarantineExpired,
            events_expired: result.eventsExpired,
          });
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
