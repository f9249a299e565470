// What an attempt's result means for the event (pure): delivered, retried later, or dead.

export type Verdict = 'delivered' | 'retry' | 'dead';

/** 2xx delivered; 408, 429 and 5xx are worth another try; every other status is the application's final no. */
export function verdictForStatus(status: number): Verdict {
  if (status >= 200 && status < 300) return 'delivered';
  if (status === 408 || status === 429 || status >= 500) return 'retry';
  return 'dead';
}

/** Exponential backoff with full jitter: a random delay in [0, min(max, base·2^(attempt−1))). */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt - 1, 40));
  return Math.floor(random() * ceiling);
}

/**
 * `Retry-After` as delay-seconds or an HTTP date, in milliseconds from `now`, capped at `capMs`; undefined
 * when absent or unreadable (the backoff applies then).
 */
export function retryAfterMs(header: string | null, now: Date, capMs: number): number | undefined {
  if (header === null) return undefined;
  const value = header.trim();
  if (value === '') return undefined;
  let ms: number;
  if (/^\d{1,10}$/.test(value)) ms = Number(value) * 1000;
  else {
    // Every HTTP-date form starts with the day's name; Date.parse alone would read "-5" as a year.
    if (value.length > 64 || !/^[A-Za-z]{3}/.test(value)) return undefined;
    const at = Date.parse(value);
    if (Number.isNaN(at)) return undefined;
    ms = at - now.getTime();
  }
  return Math.min(Math.max(ms, 0), capMs);
}

export interface RetryLimits {
  maxAttempts: number;
  maxAgeMs: number;
}

/** A retry that would exceed the attempts or the age allowed becomes dead. `attempt` counts the one just made. */
export function exhausted(
  attempt: number,
  receivedAt: Date,
  nextAttemptAt: Date,
  limits: RetryLimits,
): string | undefined {
  if (attempt >= limits.maxAttempts) return `gave up after ${attempt} attempts`;
  if (nextAttemptAt.getTime() - receivedAt.getTime() > limits.maxAgeMs)
    return `gave up: older than ${limits.maxAgeMs / 1000} s at the next attempt`;
  return undefined;
}
