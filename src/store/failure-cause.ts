import type { StoreFailureCause } from './health';

interface DriverError {
  code?: unknown;
  errcode?: unknown;
  message?: unknown;
}

// PostgreSQL SQLSTATE classes and Node socket codes that mean "the server is not there right now".
const PG_CONNECTION_STATES = /^(08|57P0[1-3]|53300)/;
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** What a pg error means for the service: a timeout, a lost connection, or another error. */
export function classifyPostgresError(error: unknown): StoreFailureCause {
  const { code, message } = (error ?? {}) as DriverError;
  const text = typeof message === 'string' ? message : '';
  // 57014: statement_timeout; the others are pg's own query_timeout and the pool's connect / wait timeout.
  if (
    code === '57014' ||
    /Query read timeout|timeout exceeded when trying to connect|Connection terminated due to connection timeout/.test(
      text,
    )
  )
    return 'timeout';
  if (
    (typeof code === 'string' && (PG_CONNECTION_STATES.test(code) || SOCKET_CODES.has(code))) ||
    /Connection terminated|Client has encountered a connection error|not queryable/.test(text)
  ) {
    return 'connection';
  }
  return 'error';
}

/** What a SQLite error (better-sqlite3 or node:sqlite) means: another writer's lock, or another error. */
export function classifySqliteError(error: unknown): StoreFailureCause {
  const { code, errcode, message } = (error ?? {}) as DriverError;
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_BUSY_SNAPSHOT' || errcode === 5 || errcode === 517) return 'busy';
  if (typeof message === 'string' && /database is locked/.test(message)) return 'busy';
  return 'error';
}
