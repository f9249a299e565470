import type { Logger } from '../telemetry/logger';

export type WarnFields = Record<string, unknown>;

/**
 * A warn line at most once per interval; the lines left out meanwhile are counted in the next one
 * (`suppressed`), so a flood of refusals shows its size without flooding the log.
 */
export function rateLimitedWarn(
  logger: Logger,
  intervalMs: number,
  now: () => number = Date.now,
): (message: string, fields: WarnFields) => void {
  let last = -Infinity;
  let suppressed = 0;
  return (message, fields) => {
    const at = now();
    if (at - last < intervalMs) {
      suppressed++;
      return;
    }
    last = at;
    logger.warn(message, { ...fields, suppressed });
    suppressed = 0;
  };
}
