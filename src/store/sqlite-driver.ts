import BetterSqlite3 from 'better-sqlite3';

/**
 * Opens a SQLite file with the driver of this runtime. Callers use only what every driver has: exec,
 * prepare(sql).all/get/run, close.
 */
export function openSqliteDatabase(file: string): BetterSqlite3.Database {
  return new BetterSqlite3(file);
}
