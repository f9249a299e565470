import { TOKEN_SOURCES, type TokenSource } from '../vocabulary/names';
import { ENV } from '../vocabulary/env-names';
import { ConfigError } from './errors';
import { unknownVariableWarnings } from './hygiene';
import { cleanToken, DEFAULT_TOKEN_NAME, parseTokenList, type NamedToken, type TokenFault } from './tokens';
import type { Env, ReadFile } from './env';

export const LOG_LEVELS = ['error', 'warn', 'info', 'http', 'verbose', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Config {
  tokens: NamedToken[];
  sources: TokenSource[];
  port: number;
  host: string;
  webhookPath: string;
  /** Largest accepted body, as koa-bodyparser/raw-body understand it (e.g. `256kb`). */
  bodyLimit: string;
  bodyLimitBytes: number;
  logLevel: LogLevel;
  /** Open connections past which new ones are closed at once. */
  maxConnections: number;
  /**
   * Bytes that request bodies being read or handled may hold at once, counted as they arrive (after
   * decompression), never reserved from a declaration; compressed or chunked bodies together may hold at
   * most half of it, so a flood of them leaves room for plain deliveries.
   */
  bodyMemoryLimitBytes: number;
  /** How long a body may take to arrive once the headers are in. */
  bodyTimeoutMs: number;
  /** Slowest average rate a body may arrive at (after a short grace) before it is cut. */
  bodyMinBytesPerSecond: number;
  /** After SIGTERM: how long /readyz says shutting_down while requests are still served. */
  shutdownDrainMs: number;
  /** Hygiene findings to report at start-up, on /readyz and by doctor (never containing a token). */
  warnings: string[];
  /** Configured tokens unlike a Bitrix24 token: named in the diagnosis of every refused delivery. */
  tokenFaults: TokenFault[];
}

export const DEFAULTS = {
  sources: [...TOKEN_SOURCES] as TokenSource[],
  port: 3000,
  host: '0.0.0.0',
  webhookPath: '/api/bitrix/webhook',
  bodyLimit: '256kb',
  logLevel: 'info' as LogLevel,
  maxConnections: 2048,
  bodyMemoryLimit: '64mb',
  bodyTimeoutSeconds: 10,
  // A Bitrix24 delivery (a few KB from a data centre) arrives in milliseconds; 1 KB/s cuts only tricklers.
  bodyMinBytesPerSecond: 1024,
  shutdownDrainSeconds: 5,
};

/** Reads the whole configuration from the environment; throws ConfigError naming the variable at fault. */
export function loadConfig(env: Env, readFile: ReadFile): Config {
  const warnings = unknownVariableWarnings(Object.keys(env).filter((name) => env[name] !== undefined));
  const tokenFaults: TokenFault[] = [];
  const tokens = [
    ...singleToken(env, ENV.token, ENV.tokenFile, readFile, warnings, tokenFaults),
    ...tokenList(env, ENV.tokens, ENV.tokensFile, readFile, warnings, tokenFaults),
  ];
  warnings.push(...rotationWarnings(tokens));
  checkBindings(tokens);
  const bodyLimit = nonEmpty(env[ENV.bodyLimit]) ?? DEFAULTS.bodyLimit;
  const bodyLimitBytes = parseByteSize(bodyLimit);
  const bodyMemoryLimitBytes = parseByteSize(
    nonEmpty(env[ENV.bodyMemoryLimit]) ?? DEFAULTS.bodyMemoryLimit,
    ENV.bodyMemoryLimit,
    16 * 1024,
  );
  if (bodyMemoryLimitBytes < 2 * bodyLimitBytes) {
    throw new ConfigError(
      ENV.bodyMemoryLimit,
      `must be at least twice ${ENV.bodyLimit} (${bodyLimit}), or no compressed body fits`,
    );
  }
  return {
    tokens,
    sources: parseSources(env[ENV.tokenSources]),
    port: parsePort(env[ENV.port]),
    host: nonEmpty(env[ENV.host]) ?? DEFAULTS.host,
    webhookPath: parseWebhookPath(env[ENV.webhookPath]),
    bodyLimit,
    bodyLimitBytes,
    logLevel: parseLogLevel(env[ENV.logLevel]),
    maxConnections: parseCount(env[ENV.maxConnections], ENV.maxConnections, DEFAULTS.maxConnections, 1, 1_000_000),
    bodyMemoryLimitBytes,
    bodyTimeoutMs: parseSeconds(env[ENV.bodyTimeout], ENV.bodyTimeout, DEFAULTS.bodyTimeoutSeconds, 0.1, 300) * 1000,
    bodyMinBytesPerSecond: parseCount(
      env[ENV.bodyMinRate],
      ENV.bodyMinRate,
      DEFAULTS.bodyMinBytesPerSecond,
      0,
      1024 ** 3,
    ),
    shutdownDrainMs:
      parseSeconds(env[ENV.shutdownDrain], ENV.shutdownDrain, DEFAULTS.shutdownDrainSeconds, 0, 300) * 1000,
    warnings,
    tokenFaults,
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}

/** The value of VAR, or the contents of the file named by VAR_FILE; both set is ambiguous, so an error. */
function valueOrFile(
  env: Env,
  variable: string,
  fileVariable: string,
  readFile: ReadFile,
): { value: string; from: string } | undefined {
  const direct = env[variable];
  const file = nonEmpty(env[fileVariable]);
  if (direct !== undefined && file !== undefined) {
    throw new ConfigError(variable, `both ${variable} and ${fileVariable} are set; set only one`);
  }
  if (file !== undefined) {
    try {
      return { value: readFile(file), from: `${fileVariable} (${file})` };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      throw new ConfigError(fileVariable, `cannot read the file ${JSON.stringify(file)} (${code})`);
    }
  }
  return direct === undefined ? undefined : { value: direct, from: variable };
}

function singleToken(
  env: Env,
  variable: string,
  fileVariable: string,
  readFile: ReadFile,
  warnings: string[],
  faults: TokenFault[],
): NamedToken[] {
  const found = valueOrFile(env, variable, fileVariable, readFile);
  if (!found) return [];
  // A secrets file conventionally ends with a newline; that is not a copy-paste mistake worth a warning.
  // A Windows line ending is: the file was written by an editor that will add it again after the next edit.
  const fromFile = found.from !== variable;
  if (fromFile && found.value.endsWith('\r\n')) warnings.push(windowsLineEndings(found.from));
  const raw = fromFile ? found.value.replace(/\r?\n$/, '') : found.value;
  const cleaned = cleanToken(raw, found.from);
  warnings.push(...cleaned.warnings);
  if (cleaned.shapeProblem) faults.push({ name: DEFAULT_TOKEN_NAME, where: found.from, problem: cleaned.shapeProblem });
  return [{ name: DEFAULT_TOKEN_NAME, token: cleaned.token }];
}

function tokenList(
  env: Env,
  variable: string,
  fileVariable: string,
  readFile: ReadFile,
  warnings: string[],
  faults: TokenFault[],
): NamedToken[] {
  const found = valueOrFile(env, variable, fileVariable, readFile);
  if (!found) return [];
  const parsed = parseTokenList(found.value, found.from);
  if (parsed.tokens.length === 0) throw new ConfigError(found.from, 'is set but holds no name=token entry');
  if (found.from !== variable && found.value.includes('\r\n')) warnings.push(windowsLineEndings(found.from));
  warnings.push(...parsed.warnings);
  faults.push(...parsed.faults);
  return parsed.tokens;
}

function windowsLineEndings(from: string): string {
  return `${from}: the file has Windows line endings (\\r\\n); the \\r was removed (save it with Unix line endings)`;
}

/** Tokens of one name (a rotation) are bound to one portal, or none is: a name stands for one webhook. */
function checkBindings(tokens: NamedToken[]): void {
  const perName = new Map<string, string>();
  for (const { name, portal } of tokens) {
    const key = JSON.stringify(portal ?? null);
    const seen = perName.get(name);
    if (seen !== undefined && seen !== key)
      throw new ConfigError(
        ENV.tokens,
        `the tokens named ${name} are bound to different portals; bind every token of a name alike`,
      );
    perName.set(name, key);
  }
}

function rotationWarnings(tokens: NamedToken[]): string[] {
  const warnings: string[] = [];
  const perName = new Map<string, string[]>();
  for (const { name, token } of tokens) perName.set(name, [...(perName.get(name) ?? []), token]);
  for (const [name, values] of perName) {
    if (new Set(values).size < values.length) warnings.push(`token name ${name}: the same token is configured twice`);
    if (values.length > 2)
      warnings.push(`token name ${name}: ${values.length} tokens configured; a rotation needs two`);
  }
  return warnings;
}

function parseSources(value: string | undefined): TokenSource[] {
  const raw = nonEmpty(value);
  if (raw === undefined) return [...DEFAULTS.sources];
  const sources = raw
    .split(',')
    .map((item) => item.trim().toLowerCase())
    .filter(Boolean);
  for (const source of sources) {
    if (!(TOKEN_SOURCES as readonly string[]).includes(source)) {
      throw new ConfigError(
        ENV.tokenSources,
        `unknown source ${JSON.stringify(source)}; use any of ${TOKEN_SOURCES.join(',')}`,
      );
    }
  }
  if (new Set(sources).size !== sources.length) throw new ConfigError(ENV.tokenSources, 'a source is listed twice');
  if (sources.length === 0) throw new ConfigError(ENV.tokenSources, 'names no source');
  return sources as TokenSource[];
}

function parsePort(value: string | undefined): number {
  const raw = nonEmpty(value);
  if (raw === undefined) return DEFAULTS.port;
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port > 65535)
    throw new ConfigError(ENV.port, `${JSON.stringify(raw)} is not a port number (0-65535)`);
  return port;
}

function parseWebhookPath(value: string | undefined): string {
  const raw = nonEmpty(value);
  if (raw === undefined) return DEFAULTS.webhookPath;
  if (!/^\/[A-Za-z0-9._~/-]*$/.test(raw)) {
    throw new ConfigError(ENV.webhookPath, `${JSON.stringify(raw)} must be a plain path starting with /`);
  }
  return raw;
}

function parseLogLevel(value: string | undefined): LogLevel {
  const raw = nonEmpty(value)?.toLowerCase();
  if (raw === undefined) return DEFAULTS.logLevel;
  if (!(LOG_LEVELS as readonly string[]).includes(raw)) {
    throw new ConfigError(ENV.logLevel, `${JSON.stringify(raw)} is not one of ${LOG_LEVELS.join(', ')}`);
  }
  return raw as LogLevel;
}

function parseCount(value: string | undefined, variable: string, fallback: number, min: number, max: number): number {
  const raw = nonEmpty(value);
  if (raw === undefined) return fallback;
  const count = Number(raw);
  if (!/^\d+$/.test(raw) || count < min || count > max) {
    throw new ConfigError(variable, `${JSON.stringify(raw)} is not a whole number from ${min} to ${max}`);
  }
  return count;
}

function parseSeconds(value: string | undefined, variable: string, fallback: number, min: number, max: number): number {
  const raw = nonEmpty(value);
  if (raw === undefined) return fallback;
  const seconds = Number(raw);
  if (!/^\d+(?:\.\d+)?$/.test(raw) || seconds < min || seconds > max) {
    throw new ConfigError(variable, `${JSON.stringify(raw)} is not a number of seconds from ${min} to ${max}`);
  }
  return seconds;
}

const UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** `256kb`, `1mb`, `4096` → bytes. Bounded (100mb for a body): anything larger is a mistake for a webhook. */
export function parseByteSize(value: string, variable: string = ENV.bodyLimit, maxMb = 100): number {
  const match = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?$/i.exec(value.trim());
  if (!match) throw new ConfigError(variable, `${JSON.stringify(value)} is not a size like 256kb or 1mb`);
  const bytes = Math.floor(Number(match[1]) * UNITS[(match[2] ?? 'b').toLowerCase()]!);
  if (bytes < 1 || bytes > maxMb * 1024 ** 2)
    throw new ConfigError(variable, `${value} must be between 1b and ${maxMb}mb`);
  return bytes;
}
