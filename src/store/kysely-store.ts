import { type Kysely, type SelectQueryBuilder, type Selectable, sql } from 'kysely';
import { newId } from './ids';
import type { Database, EventsTable, QuarantineTable } from './schema';
import { jsonText } from './json-text';
import { scrubBody } from './scrub';
import type {
  AttemptOutcome,
  EventFilter,
  EventStatus,
  ForwardStats,
  NewEvent,
  NewQuarantine,
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

export interface KyselyStoreOptions extends StoreBounds {
  kind: Exclude<StoreKind, 'none'>;
  /** Longest stored body in bytes (BODY_LIMIT); longer scrubbed bodies are cut and marked truncated. */
  bodyLimitBytes: number;
}

/** The store over Kysely: the same queries for SQLite and PostgreSQL. */
export class KyselyStore implements Store {
  readonly kind: Exclude<StoreKind, 'none'>;

  constructor(private readonly db: Kysely<Database>, private readonly options: KyselyStoreOptions) {
    this.kind = options.kind;
  }

  async saveAccepted(event: NewEvent): Promise<string> {
    const id = newId(event.receivedAt.getTime());
    await this.db.insertInto('events').values(this.eventRow(id, event, null)).execute();
    return id;
  }

  async quarantine(delivery: NewQuarantine): Promise<string> {
    const id = newId(delivery.receivedAt.getTime());
    const scrubbed = delivery.rawBody === undefined ? undefined : scrubBody(delivery.rawBody);
    const body = scrubbed === undefined ? null : truncateUtf8(scrubbed.body, this.options.bodyLimitBytes);
    const candidates: TokenCandidate[] = [
      ...(scrubbed?.candidates ?? []).map((candidate) => ({ source: 'body' as const, ...candidate })),
      ...delivery.candidates,
    ];
    const { names, harmless } = keptHeaders(delivery.headers);
    await this.db
      .insertInto('quarantine')
      .values({
        id,
        received_at: delivery.receivedAt.getTime(),
        status: delivery.status,
        reason: delivery.reason,
        diagnosis: delivery.diagnosis ?? null,
        trace_id: delivery.traceId ?? null,
        event: delivery.event ?? null,
        event_handler_id: delivery.eventHandlerId ?? null,
        ts: delivery.ts ?? null,
        portal_domain: delivery.domain ?? null,
        member_id: delivery.memberId ?? null,
        header_names: JSON.stringify(names),
        headers: JSON.stringify(harmless),
        body: body?.text ?? null,
        body_truncated: body?.truncated ? 1 : 0,
        candidates: JSON.stringify(candidates),
        released_at: null,
        released_event_id: null,
        release_note: null,
      })
      .execute();
    return id;
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
      if (Number(claimed.numUpdatedRows) !== 1) return { result: 'already_released', eventId: row.released_event_id! } as const;
      const accepted: NewEvent = {
        ...event,
        receivedAt: new Date(Number(row.received_at)),
        traceId: row.trace_id ?? undefined,
        rawBody: row.body ?? undefined,
        contentType: (JSON.parse(row.headers) as Record<string, string>)['content-type'],
      };
      await trx.insertInto('events').values(this.eventRow(eventId, accepted, quarantineId, now)).execute();
      return { result: 'released', eventId } as const;
    });
  }

  async purgeQuarantine(filter: QuarantineFilter = {}): Promise<number> {
    let query = this.db.deleteFrom('quarantine');
    if (filter.reason !== undefined) query = query.where('reason', '=', filter.reason);
    if (filter.diagnosis !== undefined) query = query.where('diagnosis', '=', filter.diagnosis);
    if (filter.portal !== undefined) query = query.where('portal_domain', '=', filter.portal);
    if (filter.released !== undefined) query = query.where('released_event_id', filter.released ? 'is not' : 'is', null);
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
    return {
      quarantineExpired: Number(quarantine.numDeletedRows),
      eventsExpired: Number(events.numDeletedRows),
      quarantineEvicted: await this.enforceQuarantineCap(),
    };
  }

  async enforceQuarantineCap(): Promise<number> {
    // The newest row beyond the cap; it and everything older goes. Ids sort by receive time.
    const boundary = await this.db
      .selectFrom('quarantine')
      .select('id')
      .orderBy('id', 'desc')
      .offset(this.options.quarantineMaxRows)
      .limit(1)
      .executeTakeFirst();
    if (!boundary) return 0;
    const result = await this.db.deleteFrom('quarantine').where('id', '<=', boundary.id).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async quarantineSize(): Promise<number> {
    const row = await this.db.selectFrom('quarantine').select((eb) => eb.fn.countAll().as('count')).executeTakeFirstOrThrow();
    return Number(row.count);
  }

  async quarantinePendingSize(): Promise<number> {
    const row = await this.db.selectFrom('quarantine').select((eb) => eb.fn.countAll().as('count')).where('released_event_id', 'is', null).executeTakeFirstOrThrow();
    return Number(row.count);
  }

  async claimDue(owner: string, leaseMs: number, limit: number, now: Date = new Date()): Promise<StoredEvent[]> {
    const at = now.getTime();
    // One statement, so the claim is atomic on its own. On PostgreSQL, replicas skip the rows another one is
    // claiming instead of waiting for them; SQLite has one writer at a time.
    const rows = await this.db
      .updateTable('events')
      .set({ lease_owner: owner, lease_until: at + leaseMs })
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
    return rows.map(toEvent).sort((a, b) => a.nextAttemptAt.getTime() - b.nextAttemptAt.getTime() || compare(a.id, b.id));
  }

  async recordAttempt(id: string, owner: string, outcome: AttemptOutcome, now: Date = new Date()): Promise<boolean> {
    const at = now.getTime();
    const base = { attempts: sql<number>`attempts + 1`, lease_owner: null, lease_until: null };
    const set =
      outcome.result === 'delivered'
        ? { ...base, status: 'delivered' satisfies EventStatus, delivered_at: at, last_error: null }
        : outcome.result === 'dead'
          ? { ...base, status: 'dead' satisfies EventStatus, last_error: outcome.error.slice(0, MAX_ERROR_LENGTH) }
          : { ...base, next_attempt_at: outcome.nextAttemptAt.getTime(), last_error: outcome.error.slice(0, MAX_ERROR_LENGTH) };
    const result = await this.db
      .updateTable('events')
      .set(set)
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .where('lease_owner', '=', owner)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
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
      .set({ status: 'pending' satisfies EventStatus, attempts: 0, next_attempt_at: now.getTime(), lease_owner: null, lease_until: null })
      .where('status', '=', 'dead');
    if (ids !== 'all-dead') query = query.where('id', 'in', [...ids]);
    const rows = await query.returning('id').execute();
    return rows.map((row) => row.id).sort(compare);
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  private eventRow(id: string, event: NewEvent, quarantineId: string | null, due: Date = event.receivedAt) {
    const body = event.rawBody === undefined ? null : scrubBody(event.rawBody).body;
    return {
      id,
      received_at: event.receivedAt.getTime(),
      trace_id: event.traceId ?? null,
      webhook: event.webhook,
      event: event.event ?? null,
      event_handler_id: event.eventHandlerId ?? null,
      ts: event.ts ?? null,
      portal_domain: event.domain ?? null,
      member_id: event.memberId ?? null,
      // Serialised, then scrubbed as JSON text: the chat-bot token inside data[BOT] goes too.
      data: scrubBody(jsonText(event.data ?? null)).body,
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

function page<T extends 'events' | 'quarantine', O>(query: SelectQueryBuilder<Database, T, O>, filter: QuarantineFilter | EventFilter) {
  const q = query as unknown as SelectQueryBuilder<Database, 'events', O>;
  let paged = q;
  if (filter.from !== undefined) paged = paged.where('received_at', '>=', filter.from.getTime());
  if (filter.to !== undefined) paged = paged.where('received_at', '<', filter.to.getTime());
  if (filter.afterId !== undefined) paged = paged.where('id', '>', filter.afterId);
  return paged.orderBy('id').limit(Math.min(Math.max(filter.limit ?? 100, 1), 1000));
}

function keptHeaders(headers: NewQuarantine['headers']): { names: string[]; harmless: Record<string, string> } {
  const names: string[] = [];
  const harmless: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || names.length >= MAX_HEADER_NAMES) continue;
    const lower = name.toLowerCase().slice(0, 100);
    names.push(lower);
    if (HARMLESS_HEADERS.includes(lower)) harmless[lower] = (Array.isArray(value) ? value.join(', ') : value).slice(0, MAX_HEADER_VALUE);
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

function toEvent(row: Selectable<EventsTable>): StoredEvent {
  return {
    id: row.id,
    receivedAt: time(row.received_at),
    traceId: row.trace_id,
    webhook: row.webhook,
    ...facts(row),
    data: JSON.parse(row.data),
    body: row.body,
    contentType: row.content_type,
    status: row.status as EventStatus,
    attempts: Number(row.attempts),
    nextAttemptAt: time(row.next_attempt_at),
    leaseOwner: row.lease_owner,
    leaseUntil: timeOrNull(row.lease_until),
    lastError: row.last_error,
    deliveredAt: timeOrNull(row.delivered_at),
    quarantineId: row.quarantine_id,
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
    releasedAt: timeOrNull(row.released_at),
    releasedEventId: row.released_event_id,
    releaseNote: row.release_note,
  };
}
