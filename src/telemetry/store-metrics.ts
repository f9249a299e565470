import {
  METRIC,
  QUARANTINE_DROP_REASONS,
  QUARANTINE_REASONS,
  type QuarantineDropReason,
  type QuarantineReason,
  STORE_WRITE_KINDS,
  STORE_WRITE_RESULTS,
  type StoreWriteKind,
  type StoreWriteResult,
} from '../vocabulary/names';
import { gauge, type Registers, storeReadGauge, zeroedCounter } from './families';

/** What the store and the quarantine report: writes, health, and the quarantine's size and budgets. */
export interface StoreMetrics {
  recordStoreWrite(kind: StoreWriteKind, result: StoreWriteResult): void;
  /** A store operation past STORE_TIMEOUT_SECONDS. */
  recordStoreTimeout(): void;
  /** The store's health as /readyz reports it. */
  setStoreUp(up: boolean): void;
  recordQuarantined(reason: QuarantineReason): void;
  /** Rows a quarantine eviction run deleted, and of them the plausible deliveries not yet released. */
  recordQuarantineEvictions(count: number, plausible?: number): void;
  recordQuarantineDropped(reason: QuarantineDropReason): void;
  /** Where the quarantine-size gauge reads from on each scrape (the store); 0 until set. */
  setQuarantineSizeSource(read: () => Promise<number>): void;
  /** Where bitrix_webhook_quarantine_pending is read from on each scrape (the store, shared by every process). */
  setQuarantinePendingSource(read: () => Promise<number>): void;
}

export function registerStoreMetrics(registers: Registers): StoreMetrics {
  const storeWrites = zeroedCounter(
    registers,
    METRIC.storeWrites,
    'Writes to the store by kind (accepted event or quarantined delivery) and result.',
    {
      kind: STORE_WRITE_KINDS,
      result: STORE_WRITE_RESULTS,
    },
  );
  const storeTimeouts = zeroedCounter(
    registers,
    METRIC.storeTimeouts,
    'Store operations that took longer than STORE_TIMEOUT_SECONDS (connect, pool wait, statement or lock wait).',
  );
  const storeUp = gauge(
    registers,
    METRIC.storeUp,
    '1 while store operations succeed, 0 while they fail or time out (then /readyz is not ready).',
  );
  storeUp.set(1);
  const quarantined = zeroedCounter(
    registers,
    METRIC.quarantined,
    'Refused deliveries kept in quarantine, by the reason they were refused.',
    {
      reason: QUARANTINE_REASONS,
    },
  );
  const evictions = zeroedCounter(
    registers,
    METRIC.quarantineEvictions,
    'Quarantined deliveries deleted because the quarantine reached QUARANTINE_MAX_ROWS or QUARANTINE_MAX_BYTES (released, then junk, then plausible; oldest first).',
  );
  const plausibleEvictions = zeroedCounter(
    registers,
    METRIC.quarantinePlausibleEvictions,
    'Plausible quarantined deliveries (known portal, Bitrix24-shaped token, not released) evicted by the quarantine budgets: each may be a genuine event lost.',
  );
  const dropped = zeroedCounter(
    registers,
    METRIC.quarantineDropped,
    'Refused deliveries counted and logged but not written to the quarantine, by reason (write_budget, disk_reserve).',
    { reason: QUARANTINE_DROP_REASONS },
  );
  const size = storeReadGauge(
    registers,
    METRIC.quarantineSize,
    'Quarantined deliveries in the store (released ones too, until purged or expired).',
  );
  const pending = storeReadGauge(
    registers,
    METRIC.quarantinePending,
    'Quarantined deliveries not yet released, read from the store on each scrape (replays by the CLI or another replica show).',
  );
  return {
    recordStoreWrite: (kind, result) => storeWrites.inc({ kind, result }),
    recordStoreTimeout: () => storeTimeouts.inc(),
    setStoreUp: (up) => storeUp.set(up ? 1 : 0),
    recordQuarantined: (reason) => quarantined.inc({ reason }),
    recordQuarantineEvictions(count, plausible = 0) {
      if (count > 0) evictions.inc(count);
      if (plausible > 0) plausibleEvictions.inc(plausible);
    },
    recordQuarantineDropped: (reason) => dropped.inc({ reason }),
    setQuarantineSizeSource: (read) => size.setSource(read),
    setQuarantinePendingSource: (read) => pending.setSource(read),
  };
}
