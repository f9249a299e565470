import { ADMIN_ENV } from '../vocabulary/env-names';
import { ConfigError } from '../config/errors';
import type { Env, ReadFile } from '../config/env';

export interface AdminConfig {
  /** ADMIN_TOKEN: undefined leaves the console off (every /admin path answers 404). */
  token: string | undefined;
  /** MANAGEMENT_PORT: /admin, /metrics and the detailed /readyz move to this port. */
  managementPort: number | undefined;
  /** TRUST_PROXY=on: X-Forwarded-Proto and X-Forwarded-For from the proxy in front are believed. */
  trustProxy: boolean;
  sessionMs: number;
}

/** Shorter admin tokens are guessable; the sign-in is rate-limited, but not enough to save a short one. */
export const MIN_ADMIN_TOKEN_LENGTH = 16;
const DEFAULT_SESSION_HOURS = 8;

export function parseAdminConfig(env: Env, readFile: ReadFile): AdminConfig {
  return {
    token: adminToken(env, readFile),
    managementPort: managementPort(env[ADMIN_ENV.managementPort]),
    trustProxy: onOff(env[ADMIN_ENV.trustProxy], ADMIN_ENV.trustProxy, false),
    sessionMs: sessionHours(env[ADMIN_ENV.adminSessionHours]) * 3_600_000,
  };
}

function adminToken(env: Env, readFile: ReadFile): string | undefined {
  const direct = env[ADMIN_ENV.adminToken];
  const file = env[ADMIN_ENV.adminTokenFile]?.trim();
  if (direct !== undefined && file)
    throw new ConfigError(
      ADMIN_ENV.adminToken,
      `both ${ADMIN_ENV.adminToken} and ${ADMIN_ENV.adminTokenFile} are set; set only one`,
    );
  let raw = direct;
  if (file) {
    try {
      raw = readFile(file).replace(/\r?\n$/, '');
    } catch (error) {
      throw new ConfigError(
        ADMIN_ENV.adminTokenFile,
        `cannot read the file ${JSON.stringify(file)} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
  }
  if (raw === undefined) return undefined;
  const token = raw.trim();
  const from = file ? ADMIN_ENV.adminTokenFile : ADMIN_ENV.adminToken;
  if (token.length < MIN_ADMIN_TOKEN_LENGTH)
    throw new ConfigError(
      from,
      `must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters (it is ${token.length}); generate one with: openssl rand -hex 24`,
    );
  if (/\s/.test(token)) throw new ConfigError(from, 'must not contain whitespace');
  return token;
}

function managementPort(value: string | undefined): number | undefined {
  const raw = value?.trim();
  if (!raw) return undefined;
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port > 65535)
    throw new ConfigError(
      ADMIN_ENV.managementPort,
      `${JSON.stringify(raw.slice(0, 20))} is not a port number (0-65535)`,
    );
  return port;
}

function onOff(value: string | undefined, variable: string, fallback: boolean): boolean {
  const raw = value?.trim().toLowerCase();
  if (!raw) return fallback;
  if (['on', 'true', '1'].includes(raw)) return true;
  if (['off', 'false', '0'].includes(raw)) return false;
  throw new ConfigError(variable, `${JSON.stringify(raw.slice(0, 20))} is neither on nor off`);
}

function sessionHours(value: string | undefined): number {
  const raw = value?.trim();
  if (!raw) return DEFAULT_SESSION_HOURS;
  const hours = Number(raw);
  if (!/^\d+(?:\.\d+)?$/.test(raw) || hours < 0.01 || hours > 168)
    throw new ConfigError(
      ADMIN_ENV.adminSessionHours,
      `${JSON.stringify(raw.slice(0, 20))} is not a number of hours from 0.01 to 168`,
    );
  return hours;
}
