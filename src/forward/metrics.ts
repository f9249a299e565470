import type client from 'prom-client';
import type { ForwardStats } from '../store/types';
import { gauge, zeroedCounter } from '../telemetry/families';
import { FORWARD_METRIC, FORWARD_RESULTS, type ForwardResult } from '../vocabulary/names';

export interface ForwardMetrics {
  recordAttempt(result: ForwardResult): void;
  /** One stored event that could not be read back and was dead-lettered. */
  recordUnreadable(): void;
  /** The store-wide backlog (every replica reports the same value; alerts take the max). */
  setStats(stats: ForwardStats, now: Date): void;
}

/** Forwarding's metrics, registered in the service's registry (createMetrics' `register` option). */
export function registerForwardMetrics(registry: client.Registry): ForwardMetrics {
  const registers = [registry];
  const attempts = zeroedCounter(
    registers,
    FORWARD_METRIC.attempts,
    'Forwarding attempts of stored events to the application, by result (delivered, retry, dead).',
    { result: FORWARD_RESULTS },
  );
  const backlog = gauge(
    registers,
    FORWARD_METRIC.backlog,
    'Stored events not yet delivered to the application (status pending), in the whole store.',
  );
  const oldest = gauge(
    registers,
    FORWARD_METRIC.oldestPendingAge,
    'Age in seconds of the oldest event not yet delivered (0 when none is pending).',
  );
  const dead = gauge(
    registers,
    FORWARD_METRIC.deadLetters,
    'Events the application refused for good or that ran out of attempts (status dead), in the whole store.',
  );
  const unreadable = zeroedCounter(
    registers,
    FORWARD_METRIC.unreadable,
    'Stored events that could not be read back (invalid JSON, nested too deep) and were dead-lettered at once.',
  );
  return {
    recordAttempt: (result) => attempts.inc({ result }),
    recordUnreadable: () => unreadable.inc(),
    setStats(stats, now) {
      backlog.set(stats.pending);
      dead.set(stats.dead);
      oldest.set(
        stats.oldestPendingAt === null ? 0 : Math.max(0, (now.getTime() - stats.oldestPendingAt.getTime()) / 1000),
      );
    },
  };
}
