import type { TokenSource } from '../telemetry/names';

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
  status: EventStatus;
  attempts: number;
  nextAttemptAt: Date;
  leaseOwner: string | null;
  leaseUntil: Date | null;
  lastError: string | null;
  deliveredAt: Date | null;
  /** The quarantined delivery this event was released from, if any. */
  quarantineId: string | null;
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
  /** Candidates outside the body (query, header). Body candidates are found by the store when it scrubs the body. */
  candidates: TokenCandidate[];
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
  | { result: 'dead'; error: string };

export interface RetentionResult {
  quarantineExpired: number;
  eventsExpired: number;
  quarantineEvicted: number;
}

/** What the forwarding metrics show: the whole store's backlog, not one process's. */
export interface ForwardStats {
  pending: number;
  /** Receive time of the oldest pending event, or null when none is pending. */
  oldestPendingAt: Date | null;
  dead: number;
}

export type StoreKind = 'none' | 'sqlite' | 'postgres';

export interface Store {
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
  /** Deletes the oldest quarantine rows beyond the cap; returns how many. */
  enforceQuarantineCap(): Promise<number>;
  quarantineSize(): Promise<number>;
  /** Quarantined deliveries not yet released (optional so that wrappers of the store need not have it). */
  quarantinePendingSize?(): Promise<number>;
  /**
   * Leases up to `limit` pending events that are due (and not leased by a live owner) to `owner` for `leaseMs`.
   * Two owners never get the same event while its lease lasts.
   */
  claimDue(owner: string, leaseMs: number, limit: number, now?: Date): Promise<StoredEvent[]>;
  /** Records one forwarding attempt of a leased event; false when `owner` no longer holds its lease. */
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
