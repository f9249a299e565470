import { expect } from 'chai';
import { backoffMs, exhausted, retryAfterMs, verdictForStatus } from '../../src/forward/retry';

describe('forward: retry policy', () => {
  it('2xx delivered; 408, 429, 5xx retried; every other status dead', () => {
    const table = [200, 201, 204, 299, 300, 301, 400, 401, 403, 404, 408, 409, 410, 422, 429, 500, 502, 503, 504].map(
      (status) => [status, verdictForStatus(status)],
    );
    expect(table).to.deep.equal([
      [200, 'delivered'],
      [201, 'delivered'],
      [204, 'delivered'],
      [299, 'delivered'],
      [300, 'dead'],
      [301, 'dead'],
      [400, 'dead'],
      [401, 'dead'],
      [403, 'dead'],
      [404, 'dead'],
      [408, 'retry'],
      [409, 'dead'],
      [410, 'dead'],
      [422, 'dead'],
      [429, 'retry'],
      [500, 'retry'],
      [502, 'retry'],
      [503, 'retry'],
      [504, 'retry'],
    ]);
  });

  it('full jitter under an exponential ceiling capped at the maximum', () => {
    const top = () => 0.999999;
    expect([1, 2, 3, 4, 5, 10, 60].map((attempt) => backoffMs(attempt, 100, 1000, top))).to.deep.equal([
      99, 199, 399, 799, 999, 999, 999,
    ]);
    expect(backoffMs(3, 100, 1000, () => 0)).to.equal(0);
    expect(backoffMs(3, 100, 1000, () => 0.5)).to.equal(200);
  });

  it('Retry-After as seconds or an HTTP date, capped; unreadable means the backoff applies', () => {
    const now = new Date(Date.UTC(2026, 0, 10, 12, 0, 0));
    expect(retryAfterMs('3', now, 60_000)).to.equal(3000);
    expect(retryAfterMs('3600', now, 60_000)).to.equal(60_000);
    expect(retryAfterMs('Sat, 10 Jan 2026 12:00:07 GMT', now, 60_000)).to.equal(7000);
    expect(retryAfterMs('Sat, 10 Jan 2026 11:00:00 GMT', now, 60_000)).to.equal(0);
    expect(retryAfterMs(null, now, 60_000)).to.equal(undefined);
    expect(retryAfterMs('soon', now, 60_000)).to.equal(undefined);
    expect(retryAfterMs('-5', now, 60_000)).to.equal(undefined);
  });

  it('a retry past the attempts or the age allowed is dead', () => {
    const received = new Date(0);
    const limits = { maxAttempts: 3, maxAgeMs: 10_000 };
    expect(exhausted(2, received, new Date(5_000), limits)).to.equal(undefined);
    expect(exhausted(3, received, new Date(5_000), limits)).to.equal('gave up after 3 attempts');
    expect(exhausted(1, received, new Date(10_001), limits)).to.equal('gave up: older than 10 s at the next attempt');
  });
});
