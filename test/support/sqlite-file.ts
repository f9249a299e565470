// Tests that open a store's SQLite file directly go through the service's own driver, so that they run on
// every supported Node (node:sqlite on Node 24, better-sqlite3 on Node 20) and stay driver-neutral:
// `.prepare(sql)` then `.all(...params)` / `.get(...params)` / `.run(...params)`, `.exec(sql)`, `.close()`.
import { openSqliteDatabase, type SqliteFileOptions } from '../../src/store/sqlite-driver';

export interface SqliteFileHandle {
  prepare(sql: string): {
    all(...parameters: unknown[]): unknown[];
    get(...parameters: unknown[]): unknown;
    run(...parameters: unknown[]): { changes: number | bigint; lastInsertRowid: number | bigint };
  };
  exec(sql: string): void;
  close(): void;
}

export function openSqliteFile(file: string, options: SqliteFileOptions = {}): SqliteFileHandle {
  const database = openSqliteDatabase(file, options);
  return {
    prepare(sql) {
      const statement = database.prepare(sql);
      return {
        all: (...parameters) => statement.all(parameters),
        get: (...parameters) => statement.get(...parameters),
        run: (...parameters) => statement.run(parameters),
      };
    },
    exec: (sql) => database.exec(sql),
    close: () => database.close(),
  };
}
