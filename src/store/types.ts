import type { QuarantineDropReason, TokenSource } from '../vocabulary/names';

export type EventStatus = 'pending' | 'delivered' | 'dead';
export const EVENT_STATUSES: readonly EventStatus[] = ['pending', 'delivered', 'dead'];

/** The non-secret facts of a delivery (as `deliveryFacts` reads them). */
export interface EventFacts {
  event: string | undefined;
  eventHandlerId: string | undefined;
  ts: string | undefined;
  domain: string | undefined;
  memberId: string | undefined;
}

/** An accepted delivery to keep. The store strips every secret from `data` and `rawBody` itself. */
export interface NewEvent extends EventFacts {
  receivedAt: Date;
  traceId: string | undefined;
  /** Name of the configured token that matched. */
  webhook: string;
  data: unknown;
  /** The body as it arrived (for FORWARD_FORMAT=bitrix24); kept with every token value replaced. */
  rawBody: string | undefined;
  contentType: string | undefined;
  /** Sent by `doctor --url` (SELF_TEST_HEADER): kept, marked, never released as genuine. */
  selfTest?: boolean;
}

export interface StoredEvent extends EventFacts {
  /** Sortable unique id (ULID-like); also the forwarded `webhook-id`. */
  id: string;
  receivedAt: Date;
  traceId: string | null;
  webhook: string;
  data: unknown;
  /** The raw body with every token value replaced by SECRET_MARKER. */
  body: string | null;
  contentType: string | null;
  /** Sent by `doctor --url` (present only then). */
  selfTest?: true;
  status: EventStatus;
  attempts: number;
  nextAttemptAt: Date;
  leaseOwner: string | null;
  leaseUntil: Date | null;
  lastError: string | null;
  deliveredAt: Date | null;
  /** The quarantined delivery this event was released from, if any. */
  quarantineId: string | null;
  /**
   * Why the stored row cannot be read back (its data is not valid JSON, or nested deeper than
   * MAX_STORED_DEPTH); `data` is then null. The forwarder dead-letters such an event instead of failing the
   * claim of the others; `events list` shows it.
   */
  unreadable?: string;
}

/** A token offered by a refused delivery, kept only as its SHA-256 so replay can verify it later. */
export interface TokenCandidate {
  source: TokenSource;
  location: string;
  /** SHA-256 hex of the token. */
  digest: string;
}

/** A refused delivery to keep. */
export interface NewQuarantine extends EventFacts {
  receivedAt: Date;
  /** The HTTP status answered. */
  status: number;
  reason: string;
  diagnosis: string | undefined;
  traceId: string | undefined;
  /** The request's headers; only names are kept, plus the values of HARMLESS_HEADERS. */
  headers: Record<string, string | string[] | undefined>;
  rawBody: string | undefined;
  /** The tokens the receiver read (body, query, header), as digests. The store adds what its raw-body scan saw. */
  candidates: TokenCandidate[];
  /** Sent by `doctor --url` (SELF_TEST_HEADER): kept, marked, never released. */
  selfTest?: boolean;
  /**
   * A known portal's delivery (one the service has accepted events from) carrying a Bitrix24-shaped token:
   * likely genuine (a rotated or mistyped token), so evicted only after every other row.
   */
  plausible?: boolean;
}

export interface QuarantinedDelivery extends EventFacts {
  id: string;
  receivedAt: Date;
  status: number;
  reason: string;
  diagnosis: string | null;
  traceId: string | null;
  headerNames: string[];
  headers: Record<string, string>;
  body: string | null;
  bodyTruncated: boolean;
  candidates: TokenCandidate[];
  /** Sent by `doctor --url` (present only then): never released, not even by --release-without-token. */
  selfTest?: true;
  releasedAt: Date | null;
  releasedEventId: string | null;
  releaseNote: string | null;
}

interface Page {
  /** Most rows returned (default 100, at most 1000). */
  limit?: number;
  /** Only rows with an id after this one (ids sort by receive time). */
  afterId?: string;
  from?: Date;
  /** Exclusive. */
  to?: Date;
}

export interface QuarantineFilter extends Page {
  reason?: string;
  diagnosis?: string;
  portal?: string;
  released?: boolean;
}

export interface EventFilter extends Page {
  status?: EventStatus;
  webhook?: string;
  portal?: string;
  event?: string;
}

/** What a quarantined delivery becomes when it is released: its facts as the replay verified them. */
export interface ReleasedEvent extends EventFacts {
  webhook: string;
  data: unknown;
  /** Why an operator released it by hand (a delivery without any token); logged by the caller. */
  note?: string;
}

export type ReleaseResult =
  | { result: 'released'; eventId: string }
  | { result: 'already_released'; eventId: string }
  | { result: 'not_found' };

export type AttemptOutcome =
  | { result: 'delivered' }
  | { result: 'retry'; error: string; nextAttemptAt: Date }
  | { result: 'dead'; error: string }
  /** The send was stopped by the shutdown: not an attempt (the claim's count is taken back), due again at once. */
  | { result: 'aborted' };

export interface RetentionResult {
  quarantineExpired: number;
  eventsExpired: number;
  quarantineEvicted: number;
  /** Of quarantineEvicted: plausible deliveries not yet released (each one may be a genuine event lost). */
  quarantinePlausibleEvicted: number;
}

/** Rows the quarantine's budgets (QUARANTINE_MAX_ROWS, QUARANTINE_MAX_BYTES) evicted in one run. */
export interface EvictionResult {
  evicted: number;
  /** Of `evicted`: plausible deliveries not yet released. */
  plausibleEvicted: number;
}

/** Why a refused delivery was not written to the quarantine (it is still counted and logged). */
export type { QuarantineDropReason } from '../vocabulary/names';

export interface PortalIdentity {
  memberId: string | undefined;
  domain: string | undefined;
}

/** What the forwarding metrics show: the whole store's backlog, not one process's. */
export interface ForwardStats {
  pending: number;
  /** Receive time of the oldest pending event, or null when none is pending. */
  oldestPendingAt: Date | null;
  dead: number;
}

export type StoreKind = 'none' | 'sqlite' | 'postgres';

/** What the operator console shows at a glance (issue 19): counts and groups, computed by the store. */
export interface StoreOverview {
  countQuarantine(filter?: QuarantineFilter): Promise<number>;
  countEvents(filter?: EventFilter): Promise<number>;
  /** Unreleased quarantined deliveries by diagnosis and reason, largest group first. */
  quarantineGroups(): Promise<Array<{ diagnosis: string | null; reason: string; count: number }>>;
  /** The latest accepted event per token name and portal domain. */
  lastAccepted(): Promise<Array<{ webhook: string; portal: string | null; receivedAt: Date }>>;
  /** Refused deliveries kept in quarantine since `from`, counted per `bucketMs` (buckets without any left out). */
  quarantinedPerBucket(from: Date, bucketMs: number): Promise<Array<{ start: Date; count: number }>>;
}

export interface Store extends StoreOverview {
  readonly kind: StoreKind;
  /** Commits an accepted event (status pending, due now); resolves with its id once it is durable. */
  saveAccepted(event: NewEvent): Promise<string>;
  quarantine(delivery: NewQuarantine): Promise<string>;
  listQuarantine(filter?: QuarantineFilter): Promise<QuarantinedDelivery[]>;
  getQuarantined(id: string): Promise<QuarantinedDelivery | undefined>;
  listEvents(filter?: EventFilter): Promise<StoredEvent[]>;
  getEvent(id: string): Promise<StoredEvent | undefined>;
  /**
   * Turns a quarantined delivery into an accepted event with its original receive time, body and trace id,
   * exactly once: a second call, from this or another process, returns `already_released` with the same id.
   */
  release(quarantineId: string, event: ReleasedEvent, now?: Date): Promise<ReleaseResult>;
  purgeQuarantine(filter?: QuarantineFilter): Promise<number>;
  /** Deletes expired quarantine rows and delivered events, then enforces the quarantine cap. */
  applyRetention(now: Date): Promise<RetentionResult>;
  /**
   * Deletes quarantine rows beyond QUARANTINE_MAX_ROWS or QUARANTINE_MAX_BYTES: released ones first, then
   * junk, then plausible deliveries, oldest first within each; reports to the eviction listeners.
   */
  enforceQuarantineCap(): Promise<EvictionResult>;
  /** Called after every eviction run that deleted rows (retention or a write past the budget). */
  onQuarantineEvicted(listener: (result: EvictionResult) => void): void;
  /** Whether the service has accepted an event from this portal (memory only: cheap on the refusal path). */
  isKnownPortal(portal: PortalIdentity): boolean;
  /**
   * Asks to write one refused delivery to the quarantine: undefined when it may (and the write is counted),
   * else why not: free disk below QUARANTINE_DISK_RESERVE, or (for a delivery that is not plausible) past
   * QUARANTINE_WRITES_PER_SECOND.
   */
  admitQuarantine(plausible: boolean): QuarantineDropReason | undefined;
  quarantineSize(): Promise<number>;
  /** Quarantined deliveries not yet released (optional so that wrappers of the store need not have it). */
  quarantinePendingSize?(): Promise<number>;
  /**
   * Leases up to `limit` pending events that are due (and not leased by a live owner) to `owner` for `leaseMs`.
   * Two owners never get the same event while its lease lasts.
   */
  claimDue(owner: string, leaseMs: number, limit: number, now?: Date): Promise<StoredEvent[]>;
  /**
   * Records the result of a forwarding attempt of a leased event (the claim counted the attempt); false when
   * `owner` no longer holds its lease.
   */
  recordAttempt(id: string, owner: string, outcome: AttemptOutcome, now?: Date): Promise<boolean>;
  /** Counts for the forwarding metrics. */
  forwardStats(): Promise<ForwardStats>;
  /**
   * Dead events back to pending, due now, attempts from zero (`events redeliver`): the given ids, or every
   * dead event when `ids` is 'all-dead'. Returns the ids reset; an id that is not dead is left alone.
   */
  redeliver(ids: readonly string[] | 'all-dead', now?: Date): Promise<string[]>;
  close(): Promise<void>;
}
