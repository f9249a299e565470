import { mkdirSync } from 'node:fs';
import { Kysely, PostgresDialect, sql, SqliteDialect } from 'kysely';
import { Pool, type PoolClient } from 'pg';
import { STORE_DEFAULTS, type StoreConfig } from './config';
import { classifyPostgresError, classifySqliteError } from './failure-cause';
import { guardStore } from './guarded-store';
import { StoreHealth } from './health';
import { postgresEventInsert, sqliteEventInsert } from './event-insert';
import { KyselyStore } from './kysely-store';
import { migrate } from './migrations';
import { createSecretGuard } from '../secrets/secret-guard';
import { NullStore } from './null-store';
import type { Database } from './schema';
import { openSqliteDatabase, type SqliteFile } from './sqlite-driver';
import { fileIdentity, sameFileCheck, StoreCorruptError } from './sqlite-file';
import type { Store } from './types';

export interface OpenOptions {
  /** BODY_LIMIT in bytes: the longest body a quarantine row keeps. */
  bodyLimitBytes: number;
  /** STORE_TIMEOUT_SECONDS in ms (default 5 s): connect, pool wait and statement, or the SQLite lock wait. */
  timeoutMs?: number;
  /** Where failures and recoveries are reported (the service's /readyz, log and metrics); a quiet one if absent. */
  health?: StoreHealth;
  /** After a commit that makes an event due: the forwarder's wake-up. */
  onCommit?: () => void;
  /** The configured tokens' values: the last guard replaces them in every text the store writes. */
  secrets?: readonly string[];
  /** What the store opens its database through (tests watch the statements it prepares); the real drivers if absent. */
  driver?: StoreDriverHooks;
}

export interface StoreDriverHooks {
  /** Opens the SQLite file (default: openSqliteDatabase). */
  openSqlite?: (file: string) => SqliteFile;
  /** Called with each new PostgreSQL connection of the pool. */
  onPostgresConnection?: (client: PoolClient) => void;
}

/**
 * SQLite waits this long for another writer's lock on the calling thread; the guard retries in steps up to
 * STORE_TIMEOUT_SECONDS, so the event loop is never held longer than this at a time.
 */
export const SQLITE_BUSY_TIMEOUT_MS = 50;

/** Opens (and migrates) the store the configuration names; every operation is bounded and watched. */
export async function openStore(config: StoreConfig, options: OpenOptions): Promise<Store> {
  if (config.kind === 'none') return new NullStore();
  const timeoutMs = options.timeoutMs ?? STORE_DEFAULTS.timeoutSeconds * 1000;
  const health = options.health ?? new StoreHealth();
  const bounds = {
    quarantineRetentionDays: config.quarantineRetentionDays,
    eventRetentionDays: config.eventRetentionDays,
    quarantineMaxRows: config.quarantineMaxRows,
    quarantineMaxBytes: config.quarantineMaxBytes,
    quarantineMaxBodyBytes: config.quarantineMaxBodyBytes,
    quarantineWritesPerSecond: config.quarantineWritesPerSecond,
    quarantineDiskReserveBytes: config.quarantineDiskReserveBytes,
    bodyLimitBytes: options.bodyLimitBytes,
    guard: createSecretGuard(options.secrets ?? []),
  };
  if (config.kind === 'postgres') {
    const pool = new Pool({
      connectionString: config.url,
      max: 10,
      // Bounds the connect and the wait for a free client of the pool alike.
      connectionTimeoutMillis: timeoutMs,
      // Client side (a server that stops answering) and server side (a statement or a lock wait).
      query_timeout: timeoutMs,
      statement_timeout: timeoutMs,
      keepAlive: true,
    });
    // A client's connection can fail while idle in the pool or while checked out by a query (a restart,
    // pg_terminate_backend, a failover). pg emits 'error' on the client; unheard, that ends the process.
    // The query in flight rejects on its own (503 for its delivery) and the pool replaces the client.
    const onClientError = (error: Error) =>
      health.recordFailure(
        classifyPostgresError(error) === 'timeout' ? 'timeout' : 'connection',
        error.message.slice(0, 300),
        'connection',
      );
    pool.on('error', onClientError);
    pool.on('connect', (client) => {
      client.on('error', onClientError);
      options.driver?.onPostgresConnection?.(client);
    });
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    await prepared(db, () => migrate(db));
    const store = new KyselyStore(db, { kind: 'postgres', insertEvent: postgresEventInsert(pool), ...bounds });
    await store.warmUp();
    return guardStore(store, {
      timeoutMs,
      health,
      classify: classifyPostgresError,
      probe: async () => void (await sql`select 1`.execute(db)),
      onCommit: options.onCommit,
    });
  }
  mkdirSync(config.dataDir, { recursive: true });
  const database = (options.driver?.openSqlite ?? openSqliteDatabase)(config.file);
  const opened = fileIdentity(config.file);
  database.exec(`PRAGMA busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
  await prepared(
    db,
    async () => {
      // Inside the retry: switching a fresh file to WAL takes a lock that another process opening the same
      // file at this moment may hold.
      // Durability: WAL with synchronous=NORMAL. A committed write survives a crash or kill of the process
      // (it is in the WAL file, which the OS holds); it may not survive a power cut or kernel crash, where the
      // last transactions before the cut can be lost. synchronous=FULL would survive that too, at the cost of
      // an fsync per write on the request path.
      database.exec('PRAGMA journal_mode = WAL');
      database.exec('PRAGMA synchronous = NORMAL');
      const problems = (database.prepare('PRAGMA quick_check').all([]) as Array<Record<string, unknown>>).map((row) =>
        String(Object.values(row)[0]),
      );
      if (problems.length !== 1 || problems[0] !== 'ok') throw new StoreCorruptError(config.file, problems);
      await migrate(db);
    },
    SQLITE_OPEN_ATTEMPTS,
  );
  const store = new KyselyStore(db, {
    kind: 'sqlite',
    dataDir: config.dataDir,
    insertEvent: sqliteEventInsert(database, db),
    ...bounds,
  });
  await store.warmUp();
  return guardStore(store, {
    timeoutMs,
    health,
    classify: classifySqliteError,
    check: sameFileCheck(config.file, opened),
    // The write lock, taken and given back: what a delivery's commit needs.
    probe: async () => {
      database.exec('BEGIN IMMEDIATE');
      database.exec('ROLLBACK');
    },
    onCommit: options.onCommit,
  });
}

// The service and the CLI may open a fresh SQLite file at the same moment; the loser of that race sees the
// other's lock, tables or migration row and succeeds on a later attempt. PostgreSQL has Kysely's migration lock.
const SQLITE_OPEN_ATTEMPTS = 20;
const OPEN_RETRY_MS = 50;

async function prepared(db: Kysely<Database>, prepare: () => Promise<void>, attempts = 1): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await prepare();
      return;
    } catch (error) {
      if (
        attempt >= attempts ||
        error instanceof StoreCorruptError ||
        /malformed|not a database/.test(String((error as Error)?.message))
      ) {
        await db.destroy().catch(() => {});
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, OPEN_RETRY_MS * attempt));
    }
  }
}
