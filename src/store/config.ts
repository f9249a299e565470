import path from 'node:path';
import { ENV } from '../vocabulary/env-names';
import { ConfigError } from '../config/errors';
import { parseByteSize } from '../config/load';
import type { Env } from '../config/env';

export interface StoreBounds {
  /** Quarantined deliveries older than this are deleted. */
  quarantineRetentionDays: number;
  /** Delivered events older than this are deleted (pending and dead ones are kept). */
  eventRetentionDays: number;
  /** Most quarantine rows kept; beyond it rows are evicted, junk (not plausible) first, oldest first. */
  quarantineMaxRows: number;
  /** Most bytes the quarantine keeps (QUARANTINE_MAX_BYTES), evicted in the same order. */
  quarantineMaxBytes: number;
  /** Longest body one quarantine row keeps (QUARANTINE_MAX_BODY_BYTES). */
  quarantineMaxBodyBytes: number;
  /** Quarantine writes per second for deliveries that are not plausible; beyond it they are counted and logged only. */
  quarantineWritesPerSecond: number;
  /** SQLite: free bytes under DATA_DIR below which the quarantine stops writing (QUARANTINE_DISK_RESERVE). */
  quarantineDiskReserveBytes: number;
}

export type StoreConfig =
  | { kind: 'none' }
  | ({ kind: 'sqlite'; file: string; dataDir: string } & StoreBounds)
  | ({ kind: 'postgres'; url: string } & StoreBounds);

export const STORE_FILE_NAME = 'bitrix24-webhook-guard.sqlite';

export const STORE_DEFAULTS = {
  dataDir: './data',
  quarantineRetentionDays: 30,
  eventRetentionDays: 7,
  quarantineMaxRows: 100_000,
  timeoutSeconds: 5,
  startupTimeoutSeconds: 60,
  // A small volume (1 GB on a PaaS) keeps three quarters for accepted events and the database's own overhead.
  quarantineMaxBytes: 256 * 1024 ** 2,
  // Real Bitrix24 events are a few KB (a chat message with attachments' metadata tens of KB): 64 KB keeps
  // every one whole while a flood of 256 KB junk bodies costs a quarter per row.
  quarantineMaxBodyBytes: 64 * 1024,
  quarantineWritesPerSecond: 20,
  quarantineDiskReserveBytes: 64 * 1024 ** 2,
} as const;

/** How long the store may take: each operation, and the whole wait for the database at start-up. */
export interface StoreTimeouts {
  /** STORE_TIMEOUT_SECONDS: connect, pool wait and statement (PostgreSQL), lock wait (SQLite), per operation. */
  timeoutMs: number;
  /** STORE_STARTUP_TIMEOUT_SECONDS: how long start-up keeps retrying an unreachable database before exiting. */
  startupTimeoutMs: number;
}

/** Reads STORE_TIMEOUT_SECONDS and STORE_STARTUP_TIMEOUT_SECONDS (pure); throws ConfigError naming the variable. */
export function parseStoreTimeouts(env: Env): StoreTimeouts {
  return {
    timeoutMs: positiveInteger(env, ENV.storeTimeout, STORE_DEFAULTS.timeoutSeconds, 300) * 1000,
    startupTimeoutMs: positiveInteger(env, ENV.storeStartupTimeout, STORE_DEFAULTS.startupTimeoutSeconds, 3600) * 1000,
  };
}

/** Reads the store settings from the environment (pure); throws ConfigError naming the variable at fault. */
export function parseStoreConfig(env: Env): StoreConfig {
  const store = nonEmpty(env[ENV.store])?.toLowerCase();
  if (store !== undefined && store !== 'none') {
    throw new ConfigError(
      ENV.store,
      `${JSON.stringify(store.slice(0, 40))} is not a known value; use none (or leave it unset for the embedded store)`,
    );
  }
  const bounds: StoreBounds = {
    quarantineRetentionDays: positiveInteger(
      env,
      ENV.quarantineRetentionDays,
      STORE_DEFAULTS.quarantineRetentionDays,
      36_500,
    ),
    eventRetentionDays: positiveInteger(env, ENV.eventRetentionDays, STORE_DEFAULTS.eventRetentionDays, 36_500),
    quarantineMaxRows: positiveInteger(env, ENV.quarantineMaxRows, STORE_DEFAULTS.quarantineMaxRows, 100_000_000),
    quarantineMaxBytes: byteSize(env, ENV.quarantineMaxBytes, STORE_DEFAULTS.quarantineMaxBytes, 1024 * 1024),
    quarantineMaxBodyBytes: byteSize(env, ENV.quarantineMaxBodyBytes, STORE_DEFAULTS.quarantineMaxBodyBytes, 100),
    quarantineWritesPerSecond: positiveInteger(
      env,
      ENV.quarantineWritesPerSecond,
      STORE_DEFAULTS.quarantineWritesPerSecond,
      1_000_000,
    ),
    quarantineDiskReserveBytes: byteSize(
      env,
      ENV.quarantineDiskReserve,
      STORE_DEFAULTS.quarantineDiskReserveBytes,
      1024 * 1024,
    ),
  };
  const url = nonEmpty(env[ENV.databaseUrl]);
  if (store === 'none') {
    if (url !== undefined) throw new ConfigError(ENV.store, `none contradicts ${ENV.databaseUrl}; set only one`);
    return { kind: 'none' };
  }
  if (url !== undefined) return { kind: 'postgres', url: parseDatabaseUrl(url), ...bounds };
  const dataDir = nonEmpty(env[ENV.dataDir]) ?? STORE_DEFAULTS.dataDir;
  return { kind: 'sqlite', dataDir, file: path.join(dataDir, STORE_FILE_NAME), ...bounds };
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}

function byteSize(env: Env, variable: string, fallback: number, maxMb: number): number {
  const raw = nonEmpty(env[variable]);
  return raw === undefined ? fallback : parseByteSize(raw, variable, maxMb);
}

function positiveInteger(env: Env, variable: string, fallback: number, max: number): number {
  const raw = nonEmpty(env[variable]);
  if (raw === undefined) return fallback;
  if (!/^\d{1,10}$/.test(raw) || Number(raw) < 1 || Number(raw) > max) {
    throw new ConfigError(variable, `${JSON.stringify(raw.slice(0, 40))} must be a whole number from 1 to ${max}`);
  }
  return Number(raw);
}

/** A postgres:// or postgresql:// URL; the message never repeats the URL (it may hold a password). */
function parseDatabaseUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(
      ENV.databaseUrl,
      'is not a URL (expected postgres://user:password@host:5432/database; the value is not shown)',
    );
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConfigError(
      ENV.databaseUrl,
      `the scheme ${JSON.stringify(url.protocol.slice(0, 20))} is not postgres: or postgresql:`,
    );
  }
  return raw;
}
