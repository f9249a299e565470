import { expect } from 'chai';
import { StoreHealth } from '../../src/store/health';
import { openWhenReachable } from '../../src/store/wait-for-store';

describe('store health and the start-up wait', () => {
  it('logs a burst of failures once (then at most every interval, with the count left out) and the recovery once', () => {
    let now = 0;
    const lines: Array<[string, string, Record<string, unknown> | undefined]> = [];
    let timeouts = 0;
    const health = new StoreHealth({
      now: () => now,
      logIntervalMs: 10_000,
      onTimeout: () => (timeouts += 1),
      logger: {
        error: (message, fields) => lines.push(['error', message, fields]),
        info: (message, fields) => lines.push(['info', message, fields]),
      },
    });
    expect(health.state()).to.deep.equal({ status: 'ok' });
    for (let i = 0; i < 5; i++) {
      now += 1_000;
      health.recordFailure('timeout', 'saveAccepted took longer than 5 s (STORE_TIMEOUT_SECONDS)', 'saveAccepted');
    }
    now = 11_500;
    health.recordFailure('connection', 'Connection terminated unexpectedly', 'claimDue');
    expect(health.state()).to.deep.equal({
      status: 'failing',
      since: new Date(1_000).toISOString(),
      cause: 'connection',
      detail: 'Connection terminated unexpectedly',
    });
    now = 12_000;
    health.recordSuccess();
    health.recordSuccess();
    expect(health.state()).to.deep.equal({ status: 'ok' });
    expect(timeouts).to.equal(5);
    expect(lines).to.deep.equal([
      [
        'error',
        'store unavailable (timeout): saveAccepted took longer than 5 s (STORE_TIMEOUT_SECONDS); deliveries are answered 503 store_unavailable until it recovers',
        { cause: 'timeout', operation: 'saveAccepted', suppressed: 0 },
      ],
      [
        'error',
        'store unavailable (connection): Connection terminated unexpectedly; deliveries are answered 503 store_unavailable until it recovers',
        { cause: 'connection', operation: 'claimDue', suppressed: 4 },
      ],
      ['info', 'store available again', { failing_seconds: 11, suppressed: 0 }],
    ]);
  });

  it('retries an unreachable database with backoff, one line per attempt, and gives up after the start-up timeout', async () => {
    let now = 0;
    const waits: number[] = [];
    const warnings: Array<Record<string, unknown>> = [];
    let attempts = 0;
    const opening = openWhenReachable(
      async () => {
        attempts += 1;
        throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
      },
      {
        startupTimeoutMs: 5_000,
        retryable: () => true,
        warn: (_message, fields) => warnings.push(fields),
        now: () => now,
        sleep: async (ms) => {
          waits.push(ms);
          now += ms;
        },
      },
    );
    await opening.then(
      () => expect.fail('should give up'),
      (error: Error) => expect(error.message).to.equal('connect ECONNREFUSED 127.0.0.1:5432'),
    );
    expect(waits).to.deep.equal([500, 1_000, 2_000, 1_500]);
    expect(attempts).to.equal(5);
    expect(warnings.map((fields) => fields.attempt)).to.deep.equal([1, 2, 3, 4]);
  });

  it('does not retry an error that will not fix itself', async () => {
    let attempts = 0;
    const failed = await openWhenReachable(
      async () => {
        attempts += 1;
        throw new Error('damaged');
      },
      { startupTimeoutMs: 60_000, retryable: () => false, warn: () => expect.fail('no retry line') },
    ).catch((error: Error) => error.message);
    expect([failed, attempts]).to.deep.equal(['damaged', 1]);
  });
});
