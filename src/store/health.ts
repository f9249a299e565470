/** Why a store operation failed, in the words /readyz, the log and the metrics use. */
export type StoreFailureCause = 'timeout' | 'busy' | 'connection' | 'file_changed' | 'error';

export interface StoreHealthState {
  status: 'ok' | 'failing';
  /** When the current run of failures began (ISO time), while failing. */
  since?: string;
  cause?: StoreFailureCause;
  /** The last failure's message (a driver's message: a table, a file or a host, never a password). */
  detail?: string;
}

export interface StoreHealthLog {
  error(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
}

export interface StoreHealthOptions {
  logger?: StoreHealthLog;
  /** Called for each operation that ran past STORE_TIMEOUT_SECONDS (the timeout counter). */
  onTimeout?: () => void;
  /** While failing, a failure is logged again at most this often (with the count left out). */
  logIntervalMs?: number;
  now?: () => number;
}

/**
 * The store's health as the last operations saw it: failing from the first failed operation until one
 * succeeds. Failures are logged once per burst (the first, then at most one line per interval with the count
 * left out), and the recovery in one line.
 */
export class StoreHealth {
  private failure: { since: number; cause: StoreFailureCause; detail: string } | undefined;
  private lastLog = -Infinity;
  private suppressed = 0;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly options: StoreHealthOptions = {}) {}

  get failing(): boolean {
    return this.failure !== undefined;
  }

  state(): StoreHealthState {
    if (!this.failure) return { status: 'ok' };
    return {
      status: 'failing',
      since: new Date(this.failure.since).toISOString(),
      cause: this.failure.cause,
      detail: this.failure.detail,
    };
  }

  recordSuccess(): void {
    if (!this.failure) return;
    const seconds = Math.round((this.now() - this.failure.since) / 100) / 10;
    this.options.logger?.info('store available again', { failing_seconds: seconds, suppressed: this.suppressed });
    this.failure = undefined;
    this.suppressed = 0;
    this.lastLog = -Infinity;
    for (const listener of this.listeners) listener();
  }

  recordFailure(cause: StoreFailureCause, detail: string, operation: string): void {
    if (cause === 'timeout') this.options.onTimeout?.();
    const first = !this.failure;
    if (first) this.failure = { since: this.now(), cause, detail };
    else this.failure = { ...this.failure!, cause, detail };
    if (first || this.now() - this.lastLog >= (this.options.logIntervalMs ?? 10_000)) {
      this.options.logger?.error(
        `store unavailable (${cause}): ${detail}; deliveries are answered 503 store_unavailable until it recovers`,
        {
          cause,
          operation,
          suppressed: this.suppressed,
        },
      );
      this.lastLog = this.now();
      this.suppressed = 0;
    } else this.suppressed += 1;
    for (const listener of this.listeners) listener();
  }

  /** Called on every change between ok and failing (and on each failure). */
  onChange(listener: () => void): void {
    this.listeners.add(listener);
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }
}
