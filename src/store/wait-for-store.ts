import { ENV } from '../vocabulary/env-names';

export interface WaitOptions {
  /** STORE_STARTUP_TIMEOUT_SECONDS in ms: after this, the last error is thrown. */
  startupTimeoutMs: number;
  /** Whether an error is worth another attempt (a database not up yet) or final (a damaged file). */
  retryable(error: unknown): boolean;
  /** One line per failed attempt. */
  warn(message: string, fields: Record<string, unknown>): void;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 10_000;

/**
 * Opens the store, retrying with exponential backoff (0.5 s, 1 s, 2 s … at most 10 s apart) while the database
 * is not reachable, for at most `startupTimeoutMs`: a database that starts after the service (a compose
 * stack, a platform's private network) is waited for, one that never comes ends the start-up with an error.
 */
export async function openWhenReachable<T>(open: () => Promise<T>, options: WaitOptions): Promise<T> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const started = now();
  for (let attempt = 1, delay = FIRST_DELAY_MS; ; attempt++, delay = Math.min(delay * 2, MAX_DELAY_MS)) {
    try {
      return await open();
    } catch (error) {
      const left = started + options.startupTimeoutMs - now();
      if (!options.retryable(error) || left <= 0) throw error;
      const wait = Math.min(delay, left);
      options.warn(
        `store not reachable yet (attempt ${attempt}): ${(error instanceof Error ? error.message : String(error)).slice(0, 300)}; next attempt in ${wait / 1000} s`,
        {
          attempt,
          retry_in_seconds: wait / 1000,
          gives_up_in_seconds: Math.round(left / 1000),
          setting: ENV.storeStartupTimeout,
        },
      );
      await sleep(wait);
    }
  }
}
