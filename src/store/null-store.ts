import { newId } from './ids';
import type { EvictionResult, QuarantineDropReason, RetentionResult, Store } from './types';

/** STORE=none: verification and telemetry only. Every write succeeds and keeps nothing. */
export class NullStore implements Store {
  readonly kind = 'none' as const;

  async saveAccepted(): Promise<string> {
    return newId();
  }

  async quarantine(): Promise<string> {
    return newId();
  }

  async listQuarantine() {
    return [];
  }

  async getQuarantined() {
    return undefined;
  }

  async listEvents() {
    return [];
  }

  async getEvent() {
    return undefined;
  }

  async release() {
    return { result: 'not_found' } as const;
  }

  async purgeQuarantine(): Promise<number> {
    return 0;
  }

  async applyRetention(): Promise<RetentionResult> {
    return { quarantineExpired: 0, eventsExpired: 0, quarantineEvicted: 0, quarantinePlausibleEvicted: 0 };
  }

  async enforceQuarantineCap(): Promise<EvictionResult> {
    return { evicted: 0, plausibleEvicted: 0 };
  }

  onQuarantineEvicted(): void {}

  isKnownPortal(): boolean {
    return false;
  }

  admitQuarantine(): QuarantineDropReason | undefined {
    return undefined;
  }

  async quarantineSize(): Promise<number> {
    return 0;
  }

  async quarantinePendingSize(): Promise<number> {
    return 0;
  }

  async claimDue() {
    return [];
  }

  async recordAttempt(): Promise<boolean> {
    return false;
  }

  async forwardStats() {
    return { pending: 0, oldestPendingAt: null, dead: 0 };
  }

  async redeliver(): Promise<string[]> {
    return [];
  }

  async countQuarantine(): Promise<number> {
    return 0;
  }

  async countEvents(): Promise<number> {
    return 0;
  }

  async quarantineGroups() {
    return [];
  }

  async lastAccepted() {
    return [];
  }

  async quarantinedPerBucket() {
    return [];
  }

  async close(): Promise<void> {}
}
