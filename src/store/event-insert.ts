// The one write on the request path, an accepted event, as a statement prepared once when the store opens:
// compiling it through Kysely and preparing it again for every delivery cost more than the write itself.
// Everything else (migrations, the CLI, the forwarder, release) stays on Kysely.
import type { Kysely } from 'kysely';
import type { Pool } from 'pg';
import { classifySqliteError } from './failure-cause';
import type { Database, EventsTable } from './schema';
import type { SqliteFile } from './sqlite-driver';

/** A complete `events` row as written (every column given, none left to a default). */
export type EventRow = Omit<EventsTable, 'self_test'> & { self_test: number };

const EVENT_COLUMNS = [
  'id',
  'received_at',
  'trace_id',
  'webhook',
  'event',
  'event_handler_id',
  'ts',
  'portal_domain',
  'member_id',
  'data',
  'body',
  'content_type',
  'status',
  'attempts',
  'next_attempt_at',
  'lease_owner',
  'lease_until',
  'last_error',
  'delivered_at',
  'quarantine_id',
  'self_test',
] as const satisfies ReadonlyArray<keyof EventsTable>;

/** Writes one row, committed when the promise resolves. */
export type EventInsert = (row: EventRow) => Promise<void>;

/** The name of the PostgreSQL prepared statement; pg parses it once per pooled connection, then only binds. */
export const EVENT_INSERT_STATEMENT = 'bitrix24_webhook_guard_insert_event';

function insertSql(placeholder: (index: number) => string): string {
  return `INSERT INTO events (${EVENT_COLUMNS.join(', ')}) VALUES (${EVENT_COLUMNS.map((_, i) => placeholder(i + 1)).join(', ')})`;
}

function valuesOf(row: EventRow): unknown[] {
  return EVENT_COLUMNS.map((column) => row[column]);
}

/**
 * SQLite: the statement prepared now. Group commit: the events of the deliveries that reach the store in the
 * same turn of the event loop are written in one transaction at the end of it (one WAL commit instead of one
 * each), and every promise resolves only after that commit. Kysely shares the connection: while one of its
 * transactions is open (release holds one across awaits), a write run now would become part of it, and be lost
 * if it rolled back; so the batch then waits for Kysely's connection instead.
 */
export function sqliteEventInsert(database: SqliteFile, db: Kysely<Database>): EventInsert {
  const statement = database.prepare(insertSql(() => '?'));
  const run = (row: EventRow) => void statement.run(valuesOf(row));
  let batch: Array<{ row: EventRow; resolve: () => void; reject: (error: unknown) => void }> | undefined;

  const commit = (rows: readonly EventRow[]) => {
    if (rows.length === 1) return run(rows[0]!);
    database.exec('BEGIN IMMEDIATE');
    try {
      for (const row of rows) run(row);
      database.exec('COMMIT');
    } catch (error) {
      // The transaction is ours (BEGIN succeeded); SQLite may have ended it already on some errors.
      try {
        database.exec('ROLLBACK');
      } catch {
        // nothing left to roll back
      }
      throw error;
    }
  };
  const write = async (rows: readonly EventRow[]) => {
    if (!database.inTransaction()) return commit(rows);
    await db.connection().execute(async () => commit(rows));
  };
  const flush = async () => {
    const writes = batch!;
    batch = undefined;
    try {
      await write(writes.map((entry) => entry.row));
      for (const entry of writes) entry.resolve();
    } catch (error) {
      if (writes.length === 1 || classifySqliteError(error) === 'busy') {
        for (const entry of writes) entry.reject(error);
        return;
      }
      // A row the database refused must not take its neighbours with it: each on its own, each answered alone.
      for (const entry of writes) await write([entry.row]).then(entry.resolve, entry.reject);
    }
  };
  return (row) =>
    new Promise<void>((resolve, reject) => {
      if (batch === undefined) {
        batch = [];
        setImmediate(() => void flush());
      }
      batch.push({ row, resolve, reject });
    });
}

/** PostgreSQL: a named statement on the store's pool. */
export function postgresEventInsert(pool: Pool): EventInsert {
  const text = insertSql((index) => `$${index}`);
  return async (row) => {
    await pool.query({ name: EVENT_INSERT_STATEMENT, text, values: valuesOf(row) });
  };
}
