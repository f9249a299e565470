/**
 * A token bucket: `perSecond` writes a second, with a burst of one second's worth. `take` says whether a
 * write may happen now (and counts it).
 */
export function createWriteBudget(perSecond: number, now: () => number = Date.now): { take(): boolean } {
  let tokens = perSecond;
  let last = now();
  return {
    take() {
      const at = now();
      tokens = Math.min(perSecond, tokens + ((at - last) / 1000) * perSecond);
      last = at;
      if (tokens < 1) return false;
      tokens -= 1;
      return true;
    },
  };
}
