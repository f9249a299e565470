// Failed sign-ins are limited per client address and in total, within a sliding window, so that guessing
// the admin token costs days per address and cannot be parallelised without bound.

export interface SignInLimiter {
  /** Seconds to wait when this client may not try now; 0 when it may. */
  retryAfterSeconds(client: string, now?: number): number;
  recordFailure(client: string, now?: number): void;
}

export interface LimiterOptions {
  perClient: number;
  total: number;
  windowMs: number;
}

export const SIGN_IN_LIMITS: LimiterOptions = { perClient: 5, total: 50, windowMs: 60_000 };
const MAX_CLIENTS_TRACKED = 10_000;

export function createSignInLimiter(options: LimiterOptions = SIGN_IN_LIMITS): SignInLimiter {
  const failures = new Map<string, number[]>();
  let all: number[] = [];
  const recent = (times: number[], now: number) => times.filter((time) => time > now - options.windowMs);
  const wait = (times: number[], limit: number, now: number) =>
    times.length >= limit ? Math.max(1, Math.ceil((times[times.length - limit]! + options.windowMs - now) / 1000)) : 0;
  return {
    retryAfterSeconds(client, now = Date.now()) {
      all = recent(all, now);
      const mine = recent(failures.get(client) ?? [], now);
      if (mine.length === 0) failures.delete(client);
      else failures.set(client, mine);
      return Math.max(wait(mine, options.perClient, now), wait(all, options.total, now));
    },
    recordFailure(client, now = Date.now()) {
      if (!failures.has(client) && failures.size >= MAX_CLIENTS_TRACKED) failures.delete(failures.keys().next().value!);
      failures.set(client, [...recent(failures.get(client) ?? [], now), now]);
      all.push(now);
    },
  };
}
