import { ENV } from '../vocabulary/env-names';
import { ConfigError } from '../config/errors';
import type { Env, ReadFile } from '../config/env';

export const FORWARD_FORMATS = ['json', 'bitrix24'] as const;
export type ForwardFormat = (typeof FORWARD_FORMATS)[number];

export interface ForwardConfig {
  /** FORWARD_URL: where events of every token name go unless FORWARD_URLS names their own. */
  defaultUrl: string | undefined;
  /** FORWARD_URLS: token name → URL. */
  urls: ReadonlyMap<string, string>;
  /** The decoded bytes of the `whsec_…` secret. */
  secret: Buffer;
  format: ForwardFormat;
  maxAttempts: number;
  maxAgeMs: number;
  /** Per attempt, from the request to the end of the answer's body. */
  timeoutMs: number;
  backoffBaseMs: number;
  /** Also the cap on a `Retry-After`. */
  backoffMaxMs: number;
  /** Sends in flight at once, per process. */
  concurrency: number;
  /** Sends started per second, per process: a backlog drains at this rate, new events share it in due order. */
  ratePerSecond: number;
  /** How often the store is asked for due events when the last claim found none. */
  pollMs: number;
  /** How long a claimed event belongs to this process; past it another replica may send it. */
  leaseMs: number;
}

export const FORWARD_DEFAULTS = {
  format: 'json' as ForwardFormat,
  maxAttempts: 15,
  maxAgeSeconds: 3 * 24 * 60 * 60,
  timeoutSeconds: 10,
  backoffBaseSeconds: 1,
  backoffMaxSeconds: 600,
  concurrency: 4,
  ratePerSecond: 20,
  pollSeconds: 1,
};

/**
 * A lease outlasts its attempt's timeout twice over plus a margin: the answer is recorded well before another
 * replica may take the event; a process killed mid-send delays its events by about this much.
 */
const LEASE_MARGIN_MS = 5_000;
const NAME = /^[a-z0-9_-]{1,32}$/;

/**
 * Reads the forwarding settings (pure). `undefined` when neither FORWARD_URL nor FORWARD_URLS is set: no
 * worker runs and events stay in the store. Throws ConfigError naming the variable at fault.
 */
export function parseForwardConfig(env: Env, readFile: ReadFile): ForwardConfig | undefined {
  const single = nonEmpty(env[ENV.forwardUrl]);
  const list = nonEmpty(env[ENV.forwardUrls]);
  if (single === undefined && list === undefined) return undefined;
  const defaultUrl = single === undefined ? undefined : parseUrl(single, ENV.forwardUrl);
  const urls = list === undefined ? new Map<string, string>() : parseUrlList(list);
  const timeoutMs = seconds(env, ENV.forwardTimeout, FORWARD_DEFAULTS.timeoutSeconds, 0.05, 300);
  const backoffBaseMs = seconds(env, ENV.forwardBackoffBase, FORWARD_DEFAULTS.backoffBaseSeconds, 0.001, 3600);
  const backoffMaxMs = seconds(env, ENV.forwardBackoffMax, FORWARD_DEFAULTS.backoffMaxSeconds, 0.001, 86_400);
  if (backoffMaxMs < backoffBaseMs) {
    throw new ConfigError(ENV.forwardBackoffMax, `must be at least ${ENV.forwardBackoffBase}`);
  }
  return {
    defaultUrl,
    urls,
    secret: parseSecret(env, readFile),
    format: parseFormat(env[ENV.forwardFormat]),
    maxAttempts: count(env, ENV.forwardMaxAttempts, FORWARD_DEFAULTS.maxAttempts, 1, 1000),
    maxAgeMs: seconds(env, ENV.forwardMaxAge, FORWARD_DEFAULTS.maxAgeSeconds, 1, 365 * 86_400),
    timeoutMs,
    backoffBaseMs,
    backoffMaxMs,
    concurrency: count(env, ENV.forwardConcurrency, FORWARD_DEFAULTS.concurrency, 1, 256),
    ratePerSecond: count(env, ENV.forwardRate, FORWARD_DEFAULTS.ratePerSecond, 1, 10_000),
    pollMs: seconds(env, ENV.forwardPoll, FORWARD_DEFAULTS.pollSeconds, 0.01, 60),
    leaseMs: 2 * timeoutMs + LEASE_MARGIN_MS,
  };
}

/** The upstream of a token name: its own from FORWARD_URLS, else FORWARD_URL, else none (the event waits). */
export function upstreamFor(config: ForwardConfig, webhook: string): string | undefined {
  return config.urls.get(webhook) ?? config.defaultUrl;
}

function parseUrlList(text: string): Map<string, string> {
  const urls = new Map<string, string>();
  text.split(/[,\n\r]+/).forEach((raw, index) => {
    const entry = raw.trim();
    if (entry === '' || entry.startsWith('#')) return;
    const where = `${ENV.forwardUrls} entry ${index + 1}`;
    const separator = entry.indexOf('=');
    if (separator < 0) throw new ConfigError(where, 'expected name=url');
    const name = entry.slice(0, separator).trim();
    if (!NAME.test(name))
      throw new ConfigError(where, `the name ${JSON.stringify(name.slice(0, 40))} must match [a-z0-9_-]{1,32}`);
    if (urls.has(name)) throw new ConfigError(where, `the name ${name} appears twice`);
    urls.set(name, parseUrl(entry.slice(separator + 1).trim(), `${where} (${name})`));
  });
  if (urls.size === 0) throw new ConfigError(ENV.forwardUrls, 'has no name=url entry');
  return urls;
}

/** An http(s) URL. The message never repeats it: its query or user part may hold a credential. */
function parseUrl(raw: string, where: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(
      where,
      'is not a URL (expected https://app.example.com/hooks/bitrix; the value is not shown)',
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(where, `the scheme ${JSON.stringify(url.protocol.slice(0, 20))} is not http: or https:`);
  }
  // Refused rather than moved into a header: fetch refuses such URLs (every event would end dead), and a
  // password in a URL ends up in logs. The value is not shown.
  if (url.username !== '' || url.password !== '') {
    throw new ConfigError(
      where,
      'holds a user name or password (user:password@), which is never sent; pass the credential as a query parameter or path segment instead (both redacted in logs); the value is not shown',
    );
  }
  return url.href;
}

function parseSecret(env: Env, readFile: ReadFile): Buffer {
  let raw = nonEmpty(env[ENV.forwardSigningSecret]);
  let where: string = ENV.forwardSigningSecret;
  const file = nonEmpty(env[ENV.forwardSigningSecretFile]);
  if (raw !== undefined && file !== undefined) {
    throw new ConfigError(ENV.forwardSigningSecretFile, `contradicts ${ENV.forwardSigningSecret}; set only one`);
  }
  if (file !== undefined) {
    where = ENV.forwardSigningSecretFile;
    try {
      raw = readFile(file).trim();
    } catch (error) {
      throw new ConfigError(where, `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
  }
  if (raw === undefined || raw === '') {
    throw new ConfigError(
      ENV.forwardSigningSecret,
      `is required when forwarding (${ENV.forwardUrl}/${ENV.forwardUrls}): a whsec_… secret shared with the application, e.g. whsec_$(openssl rand -base64 32)`,
    );
  }
  if (!raw.startsWith('whsec_'))
    throw new ConfigError(where, 'must start with whsec_ followed by base64 (the value is not shown)');
  const encoded = raw.slice('whsec_'.length);
  // Checked character by character: no regex over the secret.
  const valid =
    encoded.length > 0 &&
    encoded.length % 4 === 0 &&
    [...encoded].every((c, i) => isBase64Char(c) || (c === '=' && i >= encoded.length - 2));
  const secret = Buffer.from(encoded, 'base64');
  if (!valid || secret.length < 16) {
    throw new ConfigError(
      where,
      'after whsec_ must come standard base64 of at least 16 bytes (the value is not shown)',
    );
  }
  return secret;
}

function isBase64Char(c: string): boolean {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c === '+' || c === '/';
}

function parseFormat(value: string | undefined): ForwardFormat {
  const format = nonEmpty(value)?.toLowerCase();
  if (format === undefined) return FORWARD_DEFAULTS.format;
  if ((FORWARD_FORMATS as readonly string[]).includes(format)) return format as ForwardFormat;
  throw new ConfigError(
    ENV.forwardFormat,
    `${JSON.stringify(format.slice(0, 40))} is not one of ${FORWARD_FORMATS.join(', ')}`,
  );
}

function count(env: Env, variable: string, fallback: number, min: number, max: number): number {
  const raw = nonEmpty(env[variable]);
  if (raw === undefined) return fallback;
  if (!/^\d{1,10}$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new ConfigError(variable, `${JSON.stringify(raw.slice(0, 40))} must be a whole number from ${min} to ${max}`);
  }
  return Number(raw);
}

/** Seconds (decimals allowed), returned in milliseconds. */
function seconds(env: Env, variable: string, fallback: number, min: number, max: number): number {
  const raw = nonEmpty(env[variable]);
  if (raw === undefined) return fallback * 1000;
  const value = Number(raw);
  if (!/^\d{1,9}(\.\d{1,6})?$/.test(raw) || value < min || value > max) {
    throw new ConfigError(
      variable,
      `${JSON.stringify(raw.slice(0, 40))} must be a number of seconds from ${min} to ${max}`,
    );
  }
  return Math.round(value * 1000);
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}
