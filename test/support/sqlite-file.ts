// Opens a store's SQLite file directly, for tests that read or damage it. The runtime's driver-neutral
// version replaces this one; only methods both drivers have are used by callers.
import BetterSqlite3 from 'better-sqlite3';

export interface SqliteFile {
  prepare(sql: string): { all(...params: unknown[]): unknown[]; get(...params: unknown[]): unknown; run(...params: unknown[]): unknown };
  exec(sql: string): void;
  close(): void;
}

export function openSqliteFile(file: string, options: { readonly?: boolean } = {}): SqliteFile {
  return new BetterSqlite3(file, { readonly: options.readonly === true }) as unknown as SqliteFile;
}
