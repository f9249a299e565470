import { mkdirSync } from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import { Pool } from 'pg';
import type { StoreConfig } from './config';
import { KyselyStore } from './kysely-store';
import { migrate } from './migrations';
import { NullStore } from './null-store';
import type { Database } from './schema';
import type { Store } from './types';

export interface OpenOptions {
  /** BODY_LIMIT in bytes: the longest body a quarantine row keeps. */
  bodyLimitBytes: number;
}

/** Opens (and migrates) the store the configuration names. */
export async function openStore(config: StoreConfig, options: OpenOptions): Promise<Store> {
  if (config.kind === 'none') return new NullStore();
  const bounds = {
    quarantineRetentionDays: config.quarantineRetentionDays,
    eventRetentionDays: config.eventRetentionDays,
    quarantineMaxRows: config.quarantineMaxRows,
    quarantineMaxBytes: config.quarantineMaxBytes,
    quarantineMaxBodyBytes: config.quarantineMaxBodyBytes,
    quarantineWritesPerSecond: config.quarantineWritesPerSecond,
    quarantineDiskReserveBytes: config.quarantineDiskReserveBytes,
    bodyLimitBytes: options.bodyLimitBytes,
  };
  if (config.kind === 'postgres') {
    const pool = new Pool({ connectionString: config.url, max: 10 });
    // An idle client that loses its server must not crash the process; the next query reports the error.
    pool.on('error', () => {});
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return migrated(db, new KyselyStore(db, { kind: 'postgres', ...bounds }));
  }
  mkdirSync(config.dataDir, { recursive: true });
  const database = new BetterSqlite3(config.file);
  // Durability: WAL with synchronous=NORMAL. A committed write survives a crash or kill of the process
  // (it is in the WAL file, which the OS holds); it may not survive a power cut or kernel crash, where the
  // last transactions before the cut can be lost. synchronous=FULL would survive that too, at the cost of
  // an fsync per write on the request path.
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  // The CLI and the service share the file: wait for the other writer instead of failing at once.
  database.pragma('busy_timeout = 5000');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
  return migrated(db, new KyselyStore(db, { kind: 'sqlite', dataDir: config.dataDir, ...bounds }), SQLITE_MIGRATION_ATTEMPTS);
}

// The service and the CLI may open a fresh SQLite file at the same moment; the loser of that race sees the
// other's tables or migration row and succeeds on a later attempt. PostgreSQL has Kysely's migration lock.
const SQLITE_MIGRATION_ATTEMPTS = 10;
const MIGRATION_RETRY_MS = 100;

async function migrated(db: Kysely<Database>, store: KyselyStore, attempts = 1): Promise<Store> {
  for (let attempt = 1; ; attempt++) {
    try {
      await migrate(db);
      await store.warmUp();
      return store;
    } catch (error) {
      if (attempt >= attempts) {
        await db.destroy();
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, MIGRATION_RETRY_MS * attempt));
    }
  }
}
