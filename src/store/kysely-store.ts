import { statfsSync } from 'node:fs';
import { type Kysely, type SelectQueryBuilder, type Selectable, sql } from 'kysely';
import { newId } from './ids';
import { KnownPortals } from './known-portals';
import { createWriteBudget } from './write-budget';
import type { Database, EventsTable, QuarantineTable } from './schema';
import { jsonText } from './json-text';
import { isSecretKey, scrubBody } from '../secrets/scrub';
import type { EventInsert, EventRow } from './event-insert';
import type { SecretGuard } from '../secrets/secret-guard';
import type {
  AttemptOutcome,
  EventFacts,
  EventFilter,
  EvictionResult,
  EventStatus,
  ForwardStats,
  NewEvent,
  NewQuarantine,
  PortalIdentity,
  QuarantineDropReason,
  QuarantinedDelivery,
  QuarantineFilter,
  ReleasedEvent,
  ReleaseResult,
  RetentionResult,
  Store,
  StoredEvent,
  StoreKind,
  TokenCandidate,
} from './types';
import type { StoreBounds } from './config';

/** Header values kept for a quarantined delivery; of every other header only the name is kept. */
export const HARMLESS_HEADERS: readonly string[] = ['content-type', 'content-length', 'user-agent'];
const MAX_HEADER_VALUE = 512;
const MAX_HEADER_NAMES = 100;
const MAX_ERROR_LENGTH = 1000;
const DAY_MS = 24 * 60 * 60 * 1000;
/** What a quarantine row costs besides its text columns (ids, times, facts, index entries), for the byte budget. */
const QUARANTINE_ROW_OVERHEAD_BYTES = 512;
/** A write past the budget starts an eviction at most this often (each one reads the table's totals). */
const EVICTION_MIN_INTERVAL_MS = 1000;
const EVICTION_BATCH = 500;

export interface KyselyStoreOptions extends StoreBounds {
  kind: Exclude<StoreKind, 'none'>;
  /** Longest stored body in bytes (BODY_LIMIT); longer scrubbed bodies are cut and marked truncated. */
  bodyLimitBytes: number;
  /** The last guard over every text written: the configured tokens' values, in any encoding, replaced. */
  guard?: SecretGuard;
  /** SQLite: the directory whose free space QUARANTINE_DISK_RESERVE keeps. */
  dataDir?: string;
  /** The accepted-event write of the request path, prepared when the store opened (see event-insert.ts). */
  insertEvent: EventInsert;
}

/** Rows and bytes of the quarantine as last counted, plus what this process wrote since. */
interface QuarantineUsage {
  rows: number;
  bytes: number;
}

/** The store over Kysely: the same queries for SQLite and PostgreSQL. */
export class KyselyStore implements Store {
  readonly kind: Exclude<StoreKind, 'none'>;

  private readonly knownPortals: KnownPortals;
  private readonly evictionListeners: Array<(result: EvictionResult) => void> = [];
  // One object, mutated in place: a view of this store made with Object.create (tests watch writes that way)
  // shares it, so there is still one eviction at a time and one usage count per process.
  private readonly budget: { usage?: QuarantineUsage; eviction?: Promise<EvictionResult>; lastEvictionAt: number } = {
    lastEvictionAt: -Infinity,
  };
  private readonly junkWrites: { take(): boolean };

  constructor(
    private readonly db: Kysely<Database>,
    private readonly options: KyselyStoreOptions,
  ) {
    this.kind = options.kind;
    this.knownPortals = new KnownPortals(db);
    this.junkWrites = createWriteBudget(options.quarantineWritesPerSecond);
  }

  /** Loads what must be in memory before the first request (the known portals). */
  async warmUp(): Promise<void> {
    await this.knownPortals.ready();
  }

  async saveAccepted(event: NewEvent): Promise<string> {
    const id = newId(event.receivedAt.getTime());
    await this.options.insertEvent(this.eventRow(id, event, null));
    // Once per portal per process, after the commit, not awaited: the answer never waits for it.
    if (!this.knownPortals.isKnown(event)) void this.knownPortals.remember(event, event.receivedAt);
    return id;
  }

  isKnownPortal(portal: PortalIdentity): boolean {
    return this.knownPortals.isKnown(portal);
  }

  admitQuarantine(plausible: boolean): QuarantineDropReason | undefined {
    if (this.diskBelowReserve()) return 'disk_reserve';
    // Plausible deliveries are bounded by the real portal's traffic (and the byte budget), not by this.
    if (!plausible && !this.junkWrites.take()) return 'write_budget';
    return undefined;
  }

  private diskBelowReserve(): boolean {
    const dir = this.options.dataDir;
    if (dir === undefined) return false;
    // A statfs per refusal kept: a few microseconds, and exact even when writes come fast.
    try {
      const stats = statfsSync(dir);
      return Number(stats.bavail) * Number(stats.bsize) < this.options.quarantineDiskReserveBytes;
    } catch {
      return false;
    }
  }

  onQuarantineEvicted(listener: (result: EvictionResult) => void): void {
    this.evictionListeners.push(listener);
  }

  async quarantine(delivery: NewQuarantine): Promise<string> {
    const id = newId(delivery.receivedAt.getTime());
    const scrubbed = delivery.rawBody === undefined ? undefined : scrubBody(delivery.rawBody);
    const body =
      scrubbed === undefined
        ? null
        : truncateUtf8(
            storableBody(this.guard(scrubbed.body)),
            Math.min(this.options.bodyLimitBytes, this.options.quarantineMaxBodyBytes),
          );
    // What the raw scan saw, except the body tokens the receiver itself read (those come with the delivery).
    const read = new Set(
      delivery.candidates.filter((candidate) => candidate.source === 'body').map((candidate) => candidate.digest),
    );
    const candidates: TokenCandidate[] = [
      ...(scrubbed?.candidates ?? [])
        .filter((candidate) => !read.has(candidate.digest))
        .map((candidate) => ({ source: 'body' as const, ...candidate })),
      ...delivery.candidates,
    ];
    const { names, harmless } = keptHeaders(delivery.headers, (text) => this.guard(text));
    const texts = {
      header_names: this.guard(JSON.stringify(names)),
      headers: JSON.stringify(harmless),
      candidates: JSON.stringify(candidates),
    };
    const sizeBytes =
      QUARANTINE_ROW_OVERHEAD_BYTES +
      Buffer.byteLength(body?.text ?? '') +
      Buffer.byteLength(texts.header_names) +
      Buffer.byteLength(texts.headers) +
      Buffer.byteLength(texts.candidates);
    await this.db
      .insertInto('quarantine')
      .values({
        id,
        received_at: delivery.receivedAt.getTime(),
        status: delivery.status,
        reason: delivery.reason,
        diagnosis: delivery.diagnosis ?? null,
        trace_id: delivery.traceId ?? null,
        ...this.factColumns(delivery),
        ...texts,
        body: body?.text ?? null,
        body_truncated: body?.truncated ? 1 : 0,
        released_at: null,
        released_event_id: null,
        release_note: null,
        self_test: delivery.selfTest ? 1 : 0,
        size_bytes: sizeBytes,
        plausible: delivery.plausible ? 1 : 0,
      })
      .execute();
    await this.countWrite(sizeBytes);
    return id;
  }

  /** Adds a write to the usage; past a budget, starts an eviction (at most one at a time, one a second). */
  private async countWrite(sizeBytes: number): Promise<void> {
    const budget = this.budget;
    if (budget.usage === undefined) {
      budget.usage = await this.measureQuarantine();
    } else {
      budget.usage.rows += 1;
      budget.usage.bytes += sizeBytes;
    }
    const over =
      budget.usage.rows > this.options.quarantineMaxRows || budget.usage.bytes > this.options.quarantineMaxBytes;
    if (!over || budget.eviction !== undefined || Date.now() - budget.lastEvictionAt < EVICTION_MIN_INTERVAL_MS) return;
    // Not awaited by the write: the refused delivery's answer does not wait for the eviction.
    void this.enforceQuarantineCap().catch(() => undefined);
  }

  private async measureQuarantine(): Promise<QuarantineUsage> {
    const row = await this.db
      .selectFrom('quarantine')
      .select((eb) => [eb.fn.countAll().as('rows'), eb.fn.sum<number | string | null>('size_bytes').as('bytes')])
      .executeTakeFirstOrThrow();
    return { rows: Number(row.rows), bytes: Number(row.bytes ?? 0) };
  }

  async listQuarantine(filter: QuarantineFilter = {}): Promise<QuarantinedDelivery[]> {
    const rows = await page(quarantineWhere(this.db.selectFrom('quarantine').selectAll(), filter), filter).execute();
    return rows.map(toQuarantined);
  }

  async getQuarantined(id: string): Promise<QuarantinedDelivery | undefined> {
    const row = await this.db.selectFrom('quarantine').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toQuarantined(row);
  }

  async listEvents(filter: EventFilter = {}): Promise<StoredEvent[]> {
    let query = this.db.selectFrom('events').selectAll();
    if (filter.status !== undefined) query = query.where('status', '=', filter.status);
    if (filter.webhook !== undefined) query = query.where('webhook', '=', filter.webhook);
    if (filter.portal !== undefined) query = query.where('portal_domain', '=', filter.portal);
    if (filter.event !== undefined) query = query.where('event', '=', filter.event);
    const rows = await page(query, filter).execute();
    return rows.map(toEvent);
  }

  async getEvent(id: string): Promise<StoredEvent | undefined> {
    const row = await this.db.selectFrom('events').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toEvent(row);
  }

  async release(quarantineId: string, event: ReleasedEvent, now: Date = new Date()): Promise<ReleaseResult> {
    const eventId = newId(now.getTime());
    return this.db.transaction().execute(async (trx) => {
      // The write comes first, guarded by released_event_id IS NULL: it decides a race. On PostgreSQL the
      // loser waits for the row lock, then updates nothing. On SQLite it takes the write lock at once (a
      // transaction that read first could not upgrade once another process had committed).
      const claimed = await trx
        .updateTable('quarantine')
        .set({ released_event_id: eventId, released_at: now.getTime(), release_note: event.note ?? null })
        .where('id', '=', quarantineId)
        .where('released_event_id', 'is', null)
        .executeTakeFirst();
      const row = await trx.selectFrom('quarantine').selectAll().where('id', '=', quarantineId).executeTakeFirst();
      if (!row) return { result: 'not_found' } as const;
      if (Number(claimed.numUpdatedRows) !== 1)
        return { result: 'already_released', eventId: row.released_event_id! } as const;
      const accepted: NewEvent = {
        ...event,
        receivedAt: new Date(Number(row.received_at)),
        traceId: row.trace_id ?? undefined,
        rawBody: row.body ?? undefined,
        contentType: (JSON.parse(row.headers) as Record<string, string>)['content-type'],
      };
      await trx
        .insertInto('events')
        .values(this.eventRow(eventId, accepted, quarantineId, now))
        .execute();
      return { result: 'released', eventId } as const;
    });
  }

  async purgeQuarantine(filter: QuarantineFilter = {}): Promise<number> {
    let query = this.db.deleteFrom('quarantine');
    if (filter.reason !== undefined) query = query.where('reason', '=', filter.reason);
    if (filter.diagnosis !== undefined) query = query.where('diagnosis', '=', filter.diagnosis);
    if (filter.portal !== undefined) query = query.where('portal_domain', '=', filter.portal);
    if (filter.released !== undefined)
      query = query.where('released_event_id', filter.released ? 'is not' : 'is', null);
    if (filter.from !== undefined) query = query.where('received_at', '>=', filter.from.getTime());
    if (filter.to !== undefined) query = query.where('received_at', '<', filter.to.getTime());
    if (filter.afterId !== undefined) query = query.where('id', '>', filter.afterId);
    const result = await query.executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async applyRetention(now: Date): Promise<RetentionResult> {
    const quarantine = await this.db
      .deleteFrom('quarantine')
      .where('received_at', '<', now.getTime() - this.options.quarantineRetentionDays * DAY_MS)
      .executeTakeFirst();
    const events = await this.db
      .deleteFrom('events')
      .where('status', '=', 'delivered')
      .where('received_at', '<', now.getTime() - this.options.eventRetentionDays * DAY_MS)
      .executeTakeFirst();
    // Portals other replicas have remembered since.
    await this.knownPortals.refresh().catch(() => undefined);
    const evicted = await this.enforceQuarantineCap();
    return {
      quarantineExpired: Number(quarantine.numDeletedRows),
      eventsExpired: Number(events.numDeletedRows),
      quarantineEvicted: evicted.evicted,
      quarantinePlausibleEvicted: evicted.plausibleEvicted,
    };
  }

  enforceQuarantineCap(): Promise<EvictionResult> {
    const budget = this.budget;
    budget.eviction ??= this.evictBeyondBudget().finally(() => {
      budget.eviction = undefined;
      budget.lastEvictionAt = Date.now();
    });
    return budget.eviction;
  }

  /**
   * Evicts until both budgets hold: rows already released first (they live on as events), then junk, then
   * plausible deliveries; oldest first within each class (ids sort by receive time).
   */
  private async evictBeyondBudget(): Promise<EvictionResult> {
    const usage = await this.measureQuarantine();
    let excessRows = usage.rows - this.options.quarantineMaxRows;
    let excessBytes = usage.bytes - this.options.quarantineMaxBytes;
    const result: EvictionResult = { evicted: 0, plausibleEvicted: 0 };
    const classes = [
      { released: true, plausible: undefined },
      { released: false, plausible: 0 },
      { released: false, plausible: 1 },
    ] as const;
    for (const rank of classes) {
      while (excessRows > 0 || excessBytes > 0) {
        let query = this.db
          .selectFrom('quarantine')
          .select(['id', 'size_bytes'])
          .where('released_event_id', rank.released ? 'is not' : 'is', null);
        if (rank.plausible !== undefined) query = query.where('plausible', '=', rank.plausible);
        const rows = await query.orderBy('id').limit(EVICTION_BATCH).execute();
        if (rows.length === 0) break;
        const ids: string[] = [];
        for (const row of rows) {
          if (excessRows <= 0 && excessBytes <= 0) break;
          ids.push(row.id);
          excessRows -= 1;
          excessBytes -= Number(row.size_bytes);
        }
        const deleted = Number(
          (await this.db.deleteFrom('quarantine').where('id', 'in', ids).executeTakeFirst()).numDeletedRows,
        );
        result.evicted += deleted;
        if (rank.plausible === 1) result.plausibleEvicted += deleted;
      }
    }
    this.budget.usage = await this.measureQuarantine();
    if (result.evicted > 0) for (const listener of this.evictionListeners) listener(result);
    return result;
  }

  async quarantineSize(): Promise<number> {
    const row = await this.db
      .selectFrom('quarantine')
      .select((eb) => eb.fn.countAll().as('count'))
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }

  async quarantinePendingSize(): Promise<number> {
    const row = await this.db
      .selectFrom('quarantine')
      .select((eb) => eb.fn.countAll().as('count'))
      .where('released_event_id', 'is', null)
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }

  async claimDue(owner: string, leaseMs: number, limit: number, now?: Date): Promise<StoredEvent[]> {
    const at = this.clock(now);
    // One statement, so the claim is atomic on its own. On PostgreSQL, replicas skip the rows another one is
    // claiming instead of waiting for them; SQLite has one writer at a time. The attempt is counted here,
    // before the send: a send that ends the process still counts, so a poison event is dead-lettered after
    // FORWARD_MAX_ATTEMPTS instead of being tried for ever.
    const rows = await this.db
      .updateTable('events')
      .set({
        lease_owner: owner,
        lease_until: typeof at === 'number' ? at + leaseMs : sql<number>`${at} + ${leaseMs}`,
        attempts: sql<number>`attempts + 1`,
      })
      .where('id', 'in', (eb) => {
        const due = eb
          .selectFrom('events')
          .select('id')
          .where('status', '=', 'pending')
          .where('next_attempt_at', '<=', at)
          .where((inner) => inner.or([inner('lease_until', 'is', null), inner('lease_until', '<=', at)]))
          .orderBy('next_attempt_at')
          .orderBy('id')
          .limit(limit);
        return this.kind === 'postgres' ? due.forUpdate().skipLocked() : due;
      })
      .returningAll()
      .execute();
    return rows
      .map(toEvent)
      .sort((a, b) => a.nextAttemptAt.getTime() - b.nextAttemptAt.getTime() || compare(a.id, b.id));
  }

  async recordAttempt(id: string, owner: string, outcome: AttemptOutcome, now?: Date): Promise<boolean> {
    const at = this.clock(now);
    const base = { lease_owner: null, lease_until: null };
    // The retry's delay, applied to the same clock as the claims (the database's on PostgreSQL).
    const retryAt = (next: Date) =>
      typeof at === 'number' ? next.getTime() : sql<number>`${at} + ${Math.max(next.getTime() - Date.now(), 0)}`;
    const set =
      outcome.result === 'delivered'
        ? { ...base, status: 'delivered' satisfies EventStatus, delivered_at: at, last_error: null }
        : outcome.result === 'dead'
          ? { ...base, status: 'dead' satisfies EventStatus, last_error: this.errorText(outcome.error) }
          : outcome.result === 'aborted'
            ? // Stopped by the shutdown, not by the application: the claim's count is taken back and the event is due at once.
              { ...base, attempts: sql<number>`attempts - 1` }
            : { ...base, next_attempt_at: retryAt(outcome.nextAttemptAt), last_error: this.errorText(outcome.error) };
    const result = await this.db
      .updateTable('events')
      .set(set)
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .where('lease_owner', '=', owner)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /**
   * Now, in milliseconds: the given time (tests), else the database's clock on PostgreSQL, so that replicas
   * whose clocks disagree still agree on when a lease ends; SQLite is one machine's clock anyway.
   */
  private clock(now: Date | undefined) {
    if (now !== undefined || this.kind !== 'postgres') return (now ?? new Date()).getTime();
    return sql<number>`(extract(epoch from clock_timestamp()) * 1000)::bigint`;
  }

  async forwardStats(): Promise<ForwardStats> {
    const pending = await this.db
      .selectFrom('events')
      .select((eb) => [eb.fn.countAll().as('count'), eb.fn.min('received_at').as('oldest')])
      .where('status', '=', 'pending')
      .executeTakeFirstOrThrow();
    const dead = await this.db
      .selectFrom('events')
      .select((eb) => eb.fn.countAll().as('count'))
      .where('status', '=', 'dead')
      .executeTakeFirstOrThrow();
    return {
      pending: Number(pending.count),
      oldestPendingAt: pending.oldest === null || pending.oldest === undefined ? null : time(pending.oldest),
      dead: Number(dead.count),
    };
  }

  async redeliver(ids: readonly string[] | 'all-dead', now: Date = new Date()): Promise<string[]> {
    if (ids !== 'all-dead' && ids.length === 0) return [];
    let query = this.db
      .updateTable('events')
      .set({
        status: 'pending' satisfies EventStatus,
        attempts: 0,
        next_attempt_at: now.getTime(),
        lease_owner: null,
        lease_until: null,
      })
      .where('status', '=', 'dead');
    if (ids !== 'all-dead') query = query.where('id', 'in', [...ids]);
    const rows = await query.returning('id').execute();
    return rows.map((row) => row.id).sort(compare);
  }

  async countQuarantine(filter: QuarantineFilter = {}): Promise<number> {
    let query = quarantineWhere(
      this.db.selectFrom('quarantine').select((eb) => eb.fn.countAll().as('count')),
      filter,
    );
    if (filter.from !== undefined) query = query.where('received_at', '>=', filter.from.getTime());
    if (filter.to !== undefined) query = query.where('received_at', '<', filter.to.getTime());
    return Number((await query.executeTakeFirstOrThrow()).count);
  }

  async countEvents(filter: EventFilter = {}): Promise<number> {
    let query = this.db.selectFrom('events').select((eb) => eb.fn.countAll().as('count'));
    if (filter.status !== undefined) query = query.where('status', '=', filter.status);
    if (filter.webhook !== undefined) query = query.where('webhook', '=', filter.webhook);
    if (filter.portal !== undefined) query = query.where('portal_domain', '=', filter.portal);
    if (filter.event !== undefined) query = query.where('event', '=', filter.event);
    return Number((await query.executeTakeFirstOrThrow()).count);
  }

  async quarantineGroups(): Promise<Array<{ diagnosis: string | null; reason: string; count: number }>> {
    const rows = await this.db
      .selectFrom('quarantine')
      .select((eb) => ['diagnosis', 'reason', eb.fn.countAll().as('count')])
      .where('released_event_id', 'is', null)
      .groupBy(['diagnosis', 'reason'])
      .execute();
    return rows
      .map((row) => ({ diagnosis: row.diagnosis, reason: row.reason, count: Number(row.count) }))
      .sort(
        (a, b) => b.count - a.count || compare(a.diagnosis ?? '', b.diagnosis ?? '') || compare(a.reason, b.reason),
      );
  }

  async lastAccepted(): Promise<Array<{ webhook: string; portal: string | null; receivedAt: Date }>> {
    const rows = await this.db
      .selectFrom('events')
      .select((eb) => ['webhook', 'portal_domain', eb.fn.max('received_at').as('last')])
      .groupBy(['webhook', 'portal_domain'])
      .limit(500)
      .execute();
    return rows
      .map((row) => ({
        webhook: row.webhook,
        portal: row.portal_domain,
        receivedAt: time(row.last as number | string),
      }))
      .sort((a, b) => compare(a.webhook, b.webhook) || compare(a.portal ?? '', b.portal ?? ''));
  }

  async quarantinedPerBucket(from: Date, bucketMs: number): Promise<Array<{ start: Date; count: number }>> {
    const start = from.getTime();
    // Literals, not parameters: PostgreSQL must see the same expression in SELECT and GROUP BY (both are numbers).
    const bucket = sql<number>`(received_at - ${sql.lit(Math.floor(start))}) / ${sql.lit(Math.max(1, Math.floor(bucketMs)))}`;
    const rows = await this.db
      .selectFrom('quarantine')
      .select((eb) => [bucket.as('bucket'), eb.fn.countAll().as('count')])
      .where('received_at', '>=', start)
      .groupBy(bucket)
      .execute();
    return rows
      .map((row) => ({ start: new Date(start + Math.floor(Number(row.bucket)) * bucketMs), count: Number(row.count) }))
      .sort((a, b) => a.start.getTime() - b.start.getTime());
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  /** Redaction first, then the cut: a cut first could keep the head of a token the guard no longer recognises. */
  private errorText(error: string): string {
    return storableBody(this.guard(error)).slice(0, MAX_ERROR_LENGTH);
  }

  private guard(text: string): string {
    return this.options.guard ? this.options.guard(text) : text;
  }

  private factColumns(facts: EventFacts) {
    const text = (value: string | undefined) => (value === undefined ? null : storableBody(this.guard(value)));
    return {
      event: text(facts.event),
      event_handler_id: text(facts.eventHandlerId),
      ts: text(facts.ts),
      portal_domain: text(facts.domain),
      member_id: text(facts.memberId),
    };
  }

  private eventRow(id: string, event: NewEvent, quarantineId: string | null, due: Date = event.receivedAt): EventRow {
    const body = event.rawBody === undefined ? null : storableBody(this.guard(scrubBody(event.rawBody).body));
    return {
      id,
      received_at: event.receivedAt.getTime(),
      trace_id: event.traceId ?? null,
      webhook: event.webhook,
      ...this.factColumns(event),
      // Scrubbed as a structure while serialised (credential fields left out, no copy of the data): a message
      // text that contains `&access_token=` stays whole.
      data: this.guard(jsonText(event.data ?? null, isSecretKey)),
      body,
      content_type: event.contentType ?? null,
      status: 'pending' satisfies EventStatus,
      attempts: 0,
      next_attempt_at: due.getTime(),
      lease_owner: null,
      lease_until: null,
      last_error: null,
      delivered_at: null,
      quarantine_id: quarantineId,
      self_test: event.selfTest ? 1 : 0,
    };
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function quarantineWhere<O>(query: SelectQueryBuilder<Database, 'quarantine', O>, filter: QuarantineFilter) {
  if (filter.reason !== undefined) query = query.where('reason', '=', filter.reason);
  if (filter.diagnosis !== undefined) query = query.where('diagnosis', '=', filter.diagnosis);
  if (filter.portal !== undefined) query = query.where('portal_domain', '=', filter.portal);
  if (filter.released !== undefined) query = query.where('released_event_id', filter.released ? 'is not' : 'is', null);
  return query;
}

function page<T extends 'events' | 'quarantine', O>(
  query: SelectQueryBuilder<Database, T, O>,
  filter: QuarantineFilter | EventFilter,
) {
  const q = query as unknown as SelectQueryBuilder<Database, 'events', O>;
  let paged = q;
  if (filter.from !== undefined) paged = paged.where('received_at', '>=', filter.from.getTime());
  if (filter.to !== undefined) paged = paged.where('received_at', '<', filter.to.getTime());
  if (filter.afterId !== undefined) paged = paged.where('id', '>', filter.afterId);
  return paged.orderBy('id').limit(Math.min(Math.max(filter.limit ?? 100, 1), 1000));
}

/**
 * A raw NUL byte as `%00`: PostgreSQL's text cannot hold it (the write failed: an accepted event became a 503,
 * a refusal went unkept), and SQLite keeps the same text so both stores agree. In a form body `%00` parses to
 * the same value; a JSON body cannot contain a raw NUL (it would not have parsed).
 */
export function storableBody(text: string): string {
  return text.includes('\u0000') ? text.split('\u0000').join('%00') : text;
}

function keptHeaders(
  headers: NewQuarantine['headers'],
  guard: (text: string) => string,
): { names: string[]; harmless: Record<string, string> } {
  const names: string[] = [];
  const harmless: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || names.length >= MAX_HEADER_NAMES) continue;
    const lower = name.toLowerCase().slice(0, 100);
    names.push(lower);
    if (HARMLESS_HEADERS.includes(lower))
      harmless[lower] = guard(Array.isArray(value) ? value.join(', ') : value).slice(0, MAX_HEADER_VALUE);
  }
  return { names, harmless };
}

/** Cuts a string to at most `limit` UTF-8 bytes without splitting a character. */
function truncateUtf8(text: string, limit: number): { text: string; truncated: boolean } {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= limit) return { text, truncated: false };
  let end = limit;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end -= 1;
  return { text: bytes.subarray(0, end).toString('utf8'), truncated: true };
}

function time(value: number | string): Date {
  return new Date(Number(value));
}

function timeOrNull(value: number | string | null): Date | null {
  return value === null ? null : time(value);
}

function facts(row: Selectable<EventsTable> | Selectable<QuarantineTable>) {
  return {
    event: row.event ?? undefined,
    eventHandlerId: row.event_handler_id ?? undefined,
    ts: row.ts ?? undefined,
    domain: row.portal_domain ?? undefined,
    memberId: row.member_id ?? undefined,
  };
}

/**
 * Deepest nesting of stored event data that is read back: deeper data would overflow the stack of the
 * recursive JSON.stringify that formats it for forwarding (the receiver accepts any depth: jsonText is not
 * recursive). Far beyond any real Bitrix24 event (form bodies nest at most 10 levels).
 */
export const MAX_STORED_DEPTH = 256;

/** The stored data parsed, or why it cannot be: one row never fails the reading of others. */
function readData(text: string): { data: unknown; unreadable?: string } {
  if (nestingDepth(text) > MAX_STORED_DEPTH)
    return { data: null, unreadable: `data nested deeper than ${MAX_STORED_DEPTH} levels` };
  try {
    return { data: JSON.parse(text) as unknown };
  } catch {
    // The parser's message quotes the text; the reason names only the kind of fault.
    return { data: null, unreadable: 'data is not valid JSON' };
  }
}

/** Deepest bracket nesting outside string literals; one pass. */
function nestingDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) deepest = Math.max(deepest, ++depth);
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return deepest;
}

function toEvent(row: Selectable<EventsTable>): StoredEvent {
  const read = readData(row.data);
  return {
    id: row.id,
    receivedAt: time(row.received_at),
    traceId: row.trace_id,
    webhook: row.webhook,
    ...facts(row),
    data: read.data,
    body: row.body,
    contentType: row.content_type,
    ...(Number(row.self_test) === 1 ? { selfTest: true as const } : {}),
    status: row.status as EventStatus,
    attempts: Number(row.attempts),
    nextAttemptAt: time(row.next_attempt_at),
    leaseOwner: row.lease_owner,
    leaseUntil: timeOrNull(row.lease_until),
    lastError: row.last_error,
    deliveredAt: timeOrNull(row.delivered_at),
    quarantineId: row.quarantine_id,
    ...(read.unreadable !== undefined ? { unreadable: read.unreadable } : {}),
  };
}

function toQuarantined(row: Selectable<QuarantineTable>): QuarantinedDelivery {
  return {
    id: row.id,
    receivedAt: time(row.received_at),
    status: Number(row.status),
    reason: row.reason,
    diagnosis: row.diagnosis,
    traceId: row.trace_id,
    ...facts(row),
    headerNames: JSON.parse(row.header_names) as string[],
    headers: JSON.parse(row.headers) as Record<string, string>,
    body: row.body,
    bodyTruncated: Number(row.body_truncated) === 1,
    candidates: JSON.parse(row.candidates) as TokenCandidate[],
    ...(Number(row.self_test) === 1 ? { selfTest: true as const } : {}),
    releasedAt: timeOrNull(row.released_at),
    releasedEventId: row.released_event_id,
    releaseNote: row.release_note,
  };
}
