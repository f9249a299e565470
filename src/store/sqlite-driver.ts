// The one place that knows which SQLite library runs: the built-in `node:sqlite` where Node has it in
// full, better-sqlite3 (an optional, native dependency) on older Node. better-sqlite3 12 aborts in garbage
// collection on Node 24, so on a Node with `node:sqlite` the native addon is never loaded.
import type { SqliteDatabase, SqliteStatement } from 'kysely';

export interface SqliteFileOptions {
  /** Open the file read-only (it must exist). */
  readonly?: boolean;
}

/** What Kysely's SqliteDialect needs, plus the calls the store and the tests make directly. */
export interface SqliteFile extends SqliteDatabase {
  prepare(sql: string): SqliteFileStatement;
  exec(sql: string): void;
  close(): void;
  /** True while a transaction is open on this connection (true also when the library cannot tell). */
  inTransaction(): boolean;
}

/** Kysely's statement (parameters as one array) plus the driver-neutral spread forms the tests use. */
export interface SqliteFileStatement extends SqliteStatement {
  get(...parameters: unknown[]): unknown;
}

export type SqliteLibrary = 'node:sqlite' | 'better-sqlite3';

/**
 * `node:sqlite` is unflagged from Node 22.13 and 23.4, but `StatementSync#columns()` (which tells a
 * reading statement from a writing one, as Kysely needs) arrives in 22.16 and 23.11.
 */
export function sqliteLibraryFor(nodeVersion: string): SqliteLibrary {
  const [major = 0, minor = 0] = nodeVersion.replace(/^v/, '').split('.').map(Number);
  const hasNodeSqlite = major >= 24 || (major === 23 && minor >= 11) || (major === 22 && minor >= 16);
  return hasNodeSqlite ? 'node:sqlite' : 'better-sqlite3';
}

/** The library this process uses. */
export const SQLITE_LIBRARY: SqliteLibrary = sqliteLibraryFor(process.versions.node);

/** Opens a SQLite file with the library this Node supports; the caller sets pragmas with `exec`. */
export function openSqliteDatabase(file: string, options: SqliteFileOptions = {}): SqliteFile {
  return SQLITE_LIBRARY === 'node:sqlite' ? openWithNodeSqlite(file, options) : openWithBetterSqlite3(file, options);
}

// Minimal shapes of the two libraries (@types/node 20 has no `node:sqlite`; better-sqlite3 may be absent).
interface NodeSqliteStatement {
  columns(): unknown[];
  all(...parameters: unknown[]): unknown[];
  get(...parameters: unknown[]): unknown;
  run(...parameters: unknown[]): { changes: number | bigint; lastInsertRowid: number | bigint };
  iterate(...parameters: unknown[]): IterableIterator<unknown>;
}
interface NodeSqliteDatabase {
  /** Node 22.16, 24.0 and later. */
  readonly isTransaction?: boolean;
  prepare(sql: string): NodeSqliteStatement;
  exec(sql: string): void;
  close(): void;
}
type NodeSqliteModule = { DatabaseSync: new (file: string, options?: { readOnly?: boolean }) => NodeSqliteDatabase };

interface BetterSqlite3Statement extends SqliteStatement {
  get(...parameters: unknown[]): unknown;
}
interface BetterSqlite3Database {
  readonly inTransaction: boolean;
  prepare(sql: string): BetterSqlite3Statement;
  exec(sql: string): void;
  close(): void;
}
type BetterSqlite3Constructor = new (file: string, options?: { readonly?: boolean }) => BetterSqlite3Database;

const BETTER_SQLITE3_DEFAULT_BUSY_TIMEOUT_MS = 5000;

function openWithNodeSqlite(file: string, options: SqliteFileOptions): SqliteFile {
  const { DatabaseSync } = require('node:sqlite') as NodeSqliteModule;
  const database = new DatabaseSync(file, { readOnly: options.readonly === true });
  // better-sqlite3 opens with a 5 s busy timeout, node:sqlite with none: without this, the first statement
  // (e.g. `PRAGMA journal_mode = WAL`) fails at once with "database is locked" while another process writes.
  database.exec(`PRAGMA busy_timeout = ${BETTER_SQLITE3_DEFAULT_BUSY_TIMEOUT_MS}`);
  return {
    prepare(sql) {
      const statement = database.prepare(sql);
      return {
        reader: statement.columns().length > 0,
        all: (parameters) => statement.all(...parameters).map(plainRow),
        get: (...parameters) => plainRowOrUndefined(statement.get(...parameters)),
        run: (parameters) => {
          const { changes, lastInsertRowid } = statement.run(...parameters);
          return { changes, lastInsertRowid };
        },
        iterate: (parameters) => mapIterator(statement.iterate(...parameters), plainRow),
      };
    },
    exec: (sql) => database.exec(sql),
    close: () => database.close(),
    inTransaction: () => database.isTransaction ?? true,
  };
}

function openWithBetterSqlite3(file: string, options: SqliteFileOptions): SqliteFile {
  // Loaded here, on demand, so that a Node with `node:sqlite` never loads the native addon.
  const BetterSqlite3 = require('better-sqlite3') as BetterSqlite3Constructor;
  const database = new BetterSqlite3(file, { readonly: options.readonly === true });
  return {
    prepare: (sql) => database.prepare(sql),
    exec: (sql) => database.exec(sql),
    close: () => database.close(),
    inTransaction: () => database.inTransaction,
  };
}

// node:sqlite returns rows with a null prototype; the rest of the code (and deep equality in tests)
// expects the plain objects better-sqlite3 returns.
function plainRow(row: unknown): unknown {
  return Object.assign({}, row);
}

function plainRowOrUndefined(row: unknown): unknown {
  return row === undefined ? undefined : plainRow(row);
}

function* mapIterator(rows: IterableIterator<unknown>, map: (row: unknown) => unknown): IterableIterator<unknown> {
  for (const row of rows) yield map(row);
}
