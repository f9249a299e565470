import client from 'prom-client';
import { FORWARD_METRIC, FORWARD_RESULTS, type ForwardResult } from '../telemetry/names';
import type { ForwardStats } from '../store/types';

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
  const attempts = new client.Counter({
    name: FORWARD_METRIC.attempts,
    help: 'Forwarding attempts of stored events to the application, by result (delivered, retry, dead).',
    labelNames: ['result'] as const,
    registers,
  });
  const backlog = new client.Gauge({
    name: FORWARD_METRIC.backlog,
    help: 'Stored events not yet delivered to the application (status pending), in the whole store.',
    registers,
  });
  const oldest = new client.Gauge({
    name: FORWARD_METRIC.oldestPendingAge,
    help: 'Age in seconds of the oldest event not yet delivered (0 when none is pending).',
    registers,
  });
  const dead = new client.Gauge({
    name: FORWARD_METRIC.deadLetters,
    help: 'Events the application refused for good or that ran out of attempts (status dead), in the whole store.',
    registers,
  });
  const unreadable = new client.Counter({
    name: FORWARD_METRIC.unreadable,
    help: 'Stored events that could not be read back (invalid JSON, nested too deep) and were dead-lettered at once.',
    registers,
  });
  for (const result of FORWARD_RESULTS) attempts.inc({ result }, 0);
  return {
    recordAttempt(result) {
      attempts.inc({ result });
    },
    recordUnreadable() {
      unreadable.inc();
    },
    setStats(stats, now) {
      backlog.set(stats.pending);
      dead.set(stats.dead);
      oldest.set(stats.oldestPendingAt === null ? 0 : Math.max(0, (now.getTime() - stats.oldestPendingAt.getTime()) / 1000));
    },
  };
}
