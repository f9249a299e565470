// A SQLite file opened directly by a test (to read, or to hold its write lock), with the driver the tests run on.
import BetterSqlite3 from 'better-sqlite3';

export interface SqliteFile {
  exec(sql: string): void;
  prepare(sql: string): { all(...params: unknown[]): unknown[]; get(...params: unknown[]): unknown; run(...params: unknown[]): unknown };
  close(): void;
}

export function openSqliteFile(file: string, options: { readonly?: boolean } = {}): SqliteFile {
  return new BetterSqlite3(file, { readonly: options.readonly ?? false });
}
