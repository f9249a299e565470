import type { StoreFailureCause, StoreHealth } from './health';
import type { Store } from './types';

/** A store operation that could not be done now: the request path answers 503 store_unavailable. */
export class StoreUnavailableError extends Error {
  constructor(
    readonly failure: StoreFailureCause,
    message: string,
  ) {
    super(message);
    this.name = 'StoreUnavailableError';
  }
}

export interface GuardOptions {
  /** STORE_TIMEOUT_SECONDS in ms: the longest one operation may take, lock waits and retries included. */
  timeoutMs: number;
  health: StoreHealth;
  /** What a driver's error means; `busy` (another SQLite writer holds the lock) is retried until the deadline. */
  classify(error: unknown): StoreFailureCause;
  /** Throws StoreUnavailableError when the store is not the one opened (SQLite: the file on disk changed). */
  check?: () => void;
  /** A cheap write-path query, run every second while the store is failing, so /readyz sees the recovery. */
  probe?: () => Promise<void>;
  /** Called after a commit that makes an event due (accepted, released, redelivered): wakes the forwarder. */
  onCommit?: () => void;
}

const COMMITS = new Set(['saveAccepted', 'release', 'redeliver']);
// Reads succeed while writes wait for a lock (SQLite's WAL lets readers on): only a write, or the probe, shows
// that the store takes writes again.
const READS = new Set([
  'listQuarantine',
  'getQuarantined',
  'listEvents',
  'getEvent',
  'quarantineSize',
  'quarantinePendingSize',
  'forwardStats',
  'countQuarantine',
  'countEvents',
  'quarantineGroups',
  'lastAccepted',
  'quarantinedPerBucket',
]);
/** Synchronous, in-memory answers of the store (no I/O): passed through as they are, never made async. */
const IN_MEMORY = new Set(['isKnownPortal', 'admitQuarantine', 'onQuarantineEvicted']);
/** Between two tries of an operation that met another SQLite writer's lock (each try waits the busy timeout). */
const BUSY_RETRY_MS = 20;
const PROBE_INTERVAL_MS = 1_000;
/** How often the SQLite file's identity is checked besides before and after each operation. */
const CHECK_INTERVAL_MS = 1_000;

/**
 * Every operation of the store, bounded in time and watched: past `timeoutMs` it fails with
 * StoreUnavailableError (cause `timeout`), a lock held by another writer is waited for in short steps that
 * leave the event loop free, and each outcome moves the store's health. A Proxy rather than a class listing
 * the methods: an operation added to Store later is guarded without a change here.
 */
export function guardStore(inner: Store, options: GuardOptions): Store {
  const { health, timeoutMs } = options;
  let probeTimer: NodeJS.Timeout | undefined;
  const checkTimer = options.check
    ? setInterval(() => {
        try {
          options.check!();
        } catch (error) {
          health.recordFailure(causeOf(error, options), messageOf(error), 'file_check');
        }
      }, CHECK_INTERVAL_MS).unref()
    : undefined;

  const run = async <T>(operation: string, call: () => Promise<T>): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        options.check?.();
        const result = await withDeadline(call(), deadline, operation, timeoutMs);
        // A write that landed in a file deleted or replaced meanwhile is not kept: say so instead of a 200.
        options.check?.();
        if (!READS.has(operation)) health.recordSuccess();
        if (COMMITS.has(operation)) options.onCommit?.();
        return result;
      } catch (error) {
        const cause = causeOf(error, options);
        if (cause === 'busy' && Date.now() + BUSY_RETRY_MS < deadline) {
          await new Promise((resolve) => setTimeout(resolve, BUSY_RETRY_MS));
          continue;
        }
        const failure: StoreFailureCause = cause === 'busy' ? 'timeout' : cause;
        const message =
          failure === 'timeout' && cause === 'busy'
            ? `${operation}: another process held the SQLite write lock longer than ${timeoutMs / 1000} s (STORE_TIMEOUT_SECONDS)`
            : messageOf(error);
        health.recordFailure(failure, message, operation);
        if (error instanceof StoreUnavailableError || failure === 'timeout')
          throw error instanceof StoreUnavailableError ? error : new StoreUnavailableError(failure, message);
        throw error;
      }
    }
  };

  health.onChange(() => {
    if (!health.failing || !options.probe || probeTimer) return;
    probeTimer = setInterval(() => {
      if (!health.failing) {
        clearInterval(probeTimer);
        probeTimer = undefined;
        return;
      }
      run('probe', options.probe!).catch(() => {});
    }, PROBE_INTERVAL_MS).unref();
  });

  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(inner, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (typeof value !== 'function') return value;
      if (typeof property === 'string' && IN_MEMORY.has(property))
        return (value as (...args: unknown[]) => unknown).bind(target);
      if (!wrapped.has(property)) {
        const method = value as (...args: unknown[]) => Promise<unknown>;
        wrapped.set(
          property,
          property === 'close'
            ? () => {
                clearInterval(checkTimer);
                clearInterval(probeTimer);
                return method.apply(target, []);
              }
            : (...args: unknown[]) => run(String(property), () => method.apply(target, args)),
        );
      }
      return wrapped.get(property);
    },
  });
}

function withDeadline<T>(promise: Promise<T>, deadline: number, operation: string, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new StoreUnavailableError(
            'timeout',
            `${operation} took longer than ${timeoutMs / 1000} s (STORE_TIMEOUT_SECONDS)`,
          ),
        ),
      Math.max(deadline - Date.now(), 0),
    );
  });
  // The operation may still end after the deadline (its own statement or connect timeout ends it); its result
  // is then dropped, and a late rejection must not surface as unhandled.
  promise.catch(() => {});
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

function causeOf(error: unknown, options: GuardOptions): StoreFailureCause {
  return error instanceof StoreUnavailableError ? error.failure : options.classify(error);
}

function messageOf(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, 300);
}
