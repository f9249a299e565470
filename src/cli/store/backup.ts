import { existsSync } from 'node:fs';
import path from 'node:path';
import { ENV } from '../../vocabulary/env-names';
import { parseStoreConfig } from '../../store/config';
import { openSqliteDatabase } from '../../store/sqlite-driver';
import type { Env } from '../../config/env';

/**
 * `store backup <file>`: a consistent copy of the SQLite store, taken while the service runs (VACUUM INTO
 * reads one snapshot; writers go on). PostgreSQL has its own tools: the command says which.
 */
export function storeBackup(target: string, env: Env = process.env): number {
  const config = parseStoreConfig(env);
  if (config.kind === 'none') {
    process.stderr.write(`${ENV.store}=none: the service keeps nothing, so there is nothing to back up\n`);
    return 1;
  }
  if (config.kind === 'postgres') {
    process.stderr.write(
      `the store is PostgreSQL (${ENV.databaseUrl}): back it up with its own tools, e.g. pg_dump --format=custom --file=${target} "$${ENV.databaseUrl}" ` +
        `(restore with pg_restore --clean --dbname "$${ENV.databaseUrl}" ${target} while the service is stopped)\n`,
    );
    return 1;
  }
  if (!existsSync(config.file)) {
    process.stderr.write(`no store at ${config.file} (${ENV.dataDir}=${config.dataDir}): nothing to back up\n`);
    return 1;
  }
  const destination = path.resolve(target);
  if (existsSync(destination)) {
    process.stderr.write(`${destination} exists already: choose a new file name (a backup never overwrites)\n`);
    return 1;
  }
  const database = openSqliteDatabase(config.file);
  try {
    database.exec('PRAGMA busy_timeout = 5000');
    database.prepare('VACUUM INTO ?').run([destination]);
  } finally {
    database.close();
  }
  const check = openSqliteDatabase(destination);
  try {
    const events = (check.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
    const quarantined = (check.prepare('SELECT count(*) AS n FROM quarantine').get() as { n: number }).n;
    process.stderr.write(
      `backed up ${config.file} to ${destination}: ${events} events, ${quarantined} quarantined deliveries\n`,
    );
    process.stdout.write(`${destination}\n`);
  } finally {
    check.close();
  }
  return 0;
}
