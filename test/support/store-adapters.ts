// The two real stores a test can run against: a SQLite file in a temporary directory, and a database on a
// throwaway PostgreSQL server (test/support/postgres.ts) started on first use. No mocks.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { startPostgres, type TestPostgres } from './postgres';
import { openSqliteFile } from './sqlite-file';
import { parseStoreConfig, STORE_FILE_NAME, type StoreConfig } from '../../src/store/config';

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
      const dir = mkdtempSync(path.join(os.tmpdir(), 'store-'));
      tempDirs.push(dir);
      return { DATA_DIR: path.join(dir, 'data') };
    },
    dumpTables: async (env) => dumpSqlite(path.join(env.DATA_DIR!, STORE_FILE_NAME)),
  },
  {
    name: 'postgres',
    async freshEnv() {
      postgres ??= await startPostgres();
      databases += 1;
      return { DATABASE_URL: await postgres.createDatabase(`store_${process.pid}_${databases}`) };
    },
    dumpTables: (env) => dumpPostgres(env.DATABASE_URL!),
  },
];

/** The same two stores for tests that open them in-process: a parsed StoreConfig instead of an environment. */
export interface Adapter {
  name: 'sqlite' | 'postgres';
  /** A fresh, empty store configuration (its own file or database), with more of the environment if given. */
  freshConfig(env?: Record<string, string>): Promise<StoreConfig>;
  /** Every row of every table, as the database returns it. */
  dumpTables(config: StoreConfig): Promise<Record<string, unknown[]>>;
}

export const ADAPTERS: Adapter[] = STORE_ADAPTERS.map((adapter) => ({
  name: adapter.name,
  freshConfig: async (env = {}) => parseStoreConfig({ ...(await adapter.freshEnv()), ...env }),
  async dumpTables(config) {
    if (config.kind === 'sqlite') return dumpSqlite(config.file);
    if (config.kind === 'postgres') return dumpPostgres(config.url);
    throw new Error('STORE=none has no tables');
  },
}));

async function dumpSqlite(file: string): Promise<Record<string, unknown[]>> {
  const database = openSqliteFile(file, { readonly: true });
  try {
    const tables = database.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{
      name: string;
    }>;
    return Object.fromEntries(tables.map(({ name }) => [name, database.prepare(`SELECT * FROM "${name}"`).all()]));
  } finally {
    database.close();
  }
}

async function dumpPostgres(url: string): Promise<Record<string, unknown[]>> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const tables = await client.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
    );
    const dump: Record<string, unknown[]> = {};
    for (const { table_name: name } of tables.rows) dump[name] = (await client.query(`SELECT * FROM "${name}"`)).rows;
    return dump;
  } finally {
    await client.end();
  }
}

/** Stops the PostgreSQL server and deletes the temporary directories (call from a root `after`). */
export async function cleanUpStores(): Promise<void> {
  await postgres?.stop();
  postgres = undefined;
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}
