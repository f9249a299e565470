// The two real stores a test can run against: a SQLite file in a temporary directory, and a database on a
// throwaway PostgreSQL server (test/support/postgres.ts) started on first use. No mocks.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { startPostgres, type TestPostgres } from './postgres';
import { openSqliteFile } from './sqlite-file';

export interface StoreAdapter {
  name: 'sqlite' | 'postgres';
  /** Environment that points the service and the CLI at a fresh, empty store. */
  freshEnv(): Promise<Record<string, string>>;
  /** Every row of every table of the store `env` points at, as the database returns it. */
  dumpTables(env: Record<string, string>): Promise<Record<string, unknown[]>>;
}

let postgres: TestPostgres | undefined;
let databases = 0;
const tempDirs: string[] = [];

export const STORE_ADAPTERS: StoreAdapter[] = [
  {
    name: 'sqlite',
    async freshEnv() {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'store-process-'));
      tempDirs.push(dir);
      return { DATA_DIR: path.join(dir, 'data') };
    },
    async dumpTables(env) {
      const database = openSqliteFile(path.join(env.DATA_DIR!, 'bitrix24-webhook-guard.sqlite'), { readonly: true });
      try {
        const tables = database.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>;
        return Object.fromEntries(tables.map(({ name }) => [name, database.prepare(`SELECT * FROM "${name}"`).all()]));
      } finally {
        database.close();
      }
    },
  },
  {
    name: 'postgres',
    async freshEnv() {
      postgres ??= await startPostgres();
      databases += 1;
      return { DATABASE_URL: await postgres.createDatabase(`process_${process.pid}_${databases}`) };
    },
    async dumpTables(env) {
      const client = new Client({ connectionString: env.DATABASE_URL });
      await client.connect();
      try {
        const tables = await client.query<{ table_name: string }>("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'");
        const dump: Record<string, unknown[]> = {};
        for (const { table_name: name } of tables.rows) dump[name] = (await client.query(`SELECT * FROM "${name}"`)).rows;
        return dump;
      } finally {
        await client.end();
      }
    },
  },
];

/** Stops the PostgreSQL server and deletes the temporary directories (call from a root `after`). */
export async function cleanUpStores(): Promise<void> {
  await postgres?.stop();
  postgres = undefined;
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}
