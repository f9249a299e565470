import { readFileSync } from 'node:fs';
import winston from 'winston';
import { ENV } from '../../vocabulary/env-names';
import { loadConfig, parseByteSize } from '../../config/load';
import { parseStoreConfig } from '../../store/config';
import { jsonText } from '../../store/json-text';
import { openStore } from '../../store/open';
import { describeStore } from '../../store/describe';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { EventFilter, QuarantinedDelivery, QuarantineFilter, Store, StoredEvent } from '../../store/types';
import { createLogger, type Logger } from '../../telemetry/logger';
import { createDigestMatcher } from '../../verify/verify';
import { allQuarantined } from '../../recover/pages';
import { createReleaseRecorder } from '../../recover/release-recorder';
import { emptyTotals, replayOne, type ReplayItem } from '../../recover/replay';
import { terminalSafe } from '../../checklist/terminal-text';
import type { Env } from '../../config/env';

export interface ListOptions {
  reason?: string;
  diagnosis?: string;
  webhook?: string;
  portal?: string;
  since?: Date;
  until?: Date;
  limit?: number;
  json?: boolean;
}

export interface ReplayOptions extends ListOptions {
  apply?: boolean;
  releaseWithoutToken?: boolean;
  reason?: string;
  /** The operator's reason for --release-without-token (the option is --note internally, --reason on the line). */
  note?: string;
}

const PAGE = 1000;

/** Opens the store the environment names (as `serve` would); STORE=none has nothing to show. */
/**
 * Opens the store the service uses, says which on stderr, and never creates one: a wrong DATA_DIR (it defaults
 * to ./data where the command runs) would otherwise show an empty store, or write a replay nobody reads.
 */
async function withStore<T>(env: Env, run: (store: Store) => Promise<T>): Promise<T> {
  const config = parseStoreConfig(env);
  if (config.kind === 'none') throw new Error(`${ENV.store}=none: the service keeps nothing, so there is nothing here`);
  if (config.kind === 'sqlite' && !existsSync(config.file)) {
    throw new Error(
      `no store at ${path.resolve(config.file)}: ${ENV.dataDir} is ${env[ENV.dataDir]?.trim() ? JSON.stringify(config.dataDir) : `unset (default ${config.dataDir}, relative to ${process.cwd()})`}. ` +
        `Set ${ENV.dataDir} to the service's data directory (or ${ENV.databaseUrl} to its database); this command creates no store.`,
    );
  }
  process.stderr.write(`store: ${describeStore(config)}\n`);
  const bodyLimit = env[ENV.bodyLimit]?.trim() || '256kb';
  const store = await openStore(config, { bodyLimitBytes: parseByteSize(bodyLimit) });
  try {
    return await run(store);
  } finally {
    await store.close();
  }
}

function quarantineFilter(options: ListOptions): QuarantineFilter {
  return {
    ...(options.reason !== undefined ? { reason: options.reason } : {}),
    ...(options.diagnosis !== undefined ? { diagnosis: options.diagnosis } : {}),
    ...(options.portal !== undefined ? { portal: options.portal } : {}),
    ...(options.since !== undefined ? { from: options.since } : {}),
    ...(options.until !== undefined ? { to: options.until } : {}),
  };
}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

function quarantineLine(row: QuarantinedDelivery): string {
  const released = row.releasedEventId ? `released→${row.releasedEventId}` : 'quarantined';
  return [
    row.id,
    row.receivedAt.toISOString(),
    String(row.status),
    row.reason,
    row.diagnosis ?? '-',
    row.event ?? '-',
    row.domain ?? '-',
    released,
  ]
    .map(terminalSafe)
    .join('  ');
}

export async function quarantineList(options: ListOptions, env: Env = process.env): Promise<number> {
  return withStore(env, async (store) => {
    let count = 0;
    for await (const row of allQuarantined(store, quarantineFilter(options), options.limit ?? 100)) {
      out(options.json ? jsonText(row) : quarantineLine(row));
      count++;
    }
    if (!options.json) process.stderr.write(`${count} quarantined deliver${count === 1 ? 'y' : 'ies'}\n`);
    return 0;
  });
}

export async function quarantineShow(id: string, options: { json?: boolean }, env: Env = process.env): Promise<number> {
  return withStore(env, async (store) => {
    const row = await store.getQuarantined(id);
    if (!row) {
      process.stderr.write(`no quarantined delivery ${JSON.stringify(id.slice(0, 40))}\n`);
      return 1;
    }
    if (options.json) {
      out(jsonText(row));
      return 0;
    }
    // Every value may come from the client: each printed line is escaped for the terminal (shown()).
    const shown = (line: string) => out(terminalSafe(line));
    shown(`id:           ${row.id}`);
    shown(`received:     ${row.receivedAt.toISOString()}`);
    shown(`answered:     ${row.status} ${row.reason}`);
    shown(`diagnosis:    ${row.diagnosis ?? '-'}  (docs/runbooks.md#diagnosis-${row.diagnosis ?? 'unknown'})`);
    shown(`trace id:     ${row.traceId ?? '-'}`);
    shown(`event:        ${row.event ?? '-'}  portal ${row.domain ?? '-'}  member ${row.memberId ?? '-'}`);
    shown(`headers:      ${row.headerNames.join(', ')}`);
    for (const [name, value] of Object.entries(row.headers)) shown(`  ${name}: ${value}`);
    shown(
      `tokens seen:  ${row.candidates.map((candidate) => `${candidate.location} (sha256 ${candidate.digest.slice(0, 8)}…)`).join(', ') || 'none'}`,
    );
    shown(
      `released:     ${row.releasedEventId ? `${row.releasedAt!.toISOString()} as event ${row.releasedEventId}${row.releaseNote ? ` (${row.releaseNote})` : ''}` : 'no'}`,
    );
    shown(`body${row.bodyTruncated ? ' (cut at BODY_LIMIT)' : ''}:`);
    shown(row.body ?? '(none)');
    return 0;
  });
}

function eventLine(event: StoredEvent): string {
  return [
    event.id,
    event.receivedAt.toISOString(),
    event.webhook,
    event.event ?? '-',
    event.domain ?? '-',
    event.status,
    `attempts=${event.attempts}`,
    event.quarantineId ? `from ${event.quarantineId}` : '',
    event.unreadable ? `unreadable: ${event.unreadable}` : '',
  ]
    .map(terminalSafe)
    .join('  ')
    .trimEnd();
}

export async function eventsList(
  options: ListOptions & { status?: string; event?: string },
  env: Env = process.env,
): Promise<number> {
  return withStore(env, async (store) => {
    const filter: EventFilter = {
      ...(options.webhook !== undefined ? { webhook: options.webhook } : {}),
      ...(options.portal !== undefined ? { portal: options.portal } : {}),
      ...(options.event !== undefined ? { event: options.event } : {}),
      ...(options.status !== undefined ? { status: options.status as EventFilter['status'] } : {}),
      ...(options.since !== undefined ? { from: options.since } : {}),
      ...(options.until !== undefined ? { to: options.until } : {}),
    };
    const max = options.limit ?? 100;
    let afterId: string | undefined;
    let count = 0;
    while (count < max) {
      const page = await store.listEvents({
        ...filter,
        limit: Math.min(PAGE, max - count),
        ...(afterId !== undefined ? { afterId } : {}),
      });
      for (const event of page) out(options.json ? jsonText(event) : eventLine(event));
      count += page.length;
      if (page.length === 0 || page.length < Math.min(PAGE, max - count + page.length)) break;
      afterId = page[page.length - 1]!.id;
    }
    if (!options.json) process.stderr.write(`${count} event${count === 1 ? '' : 's'}\n`);
    return 0;
  });
}

/** Operator actions go to standard error as the service's JSON log lines (stdout is the command's output). */
function cliLogger(): Logger {
  return createLogger('info', [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] })]);
}

/**
 * Re-verifies quarantined token refusals against the current configuration, from their stored digests.
 * Dry run unless `apply`; with it, each one that now matches becomes an accepted event (once, whatever runs
 * at the same time: the store decides), and the rest stay.
 */
export async function quarantineReplay(options: ReplayOptions, env: Env = process.env): Promise<number> {
  if (options.releaseWithoutToken && !options.note?.trim()) {
    process.stderr.write(
      'quarantine replay: --release-without-token needs --reason "<why these deliveries are genuine>"\n',
    );
    return 2;
  }
  const config = loadConfig(env, (file) => readFileSync(file, 'utf8'));
  if (config.tokens.length === 0) {
    process.stderr.write(
      `quarantine replay: no token is configured here, so nothing can be verified; set ${ENV.token} (or ${ENV.tokens}) as the service has it\n`,
    );
    return 1;
  }
  const match = createDigestMatcher(config.tokens);
  const logger = cliLogger();
  // Counted in the service's metric only where a registry is scraped; the CLI logs and traces its releases.
  const record = createReleaseRecorder(logger);
  const totals: Record<string, number> = emptyTotals();
  const withoutToken = options.releaseWithoutToken ? { reason: options.note!.trim() } : undefined;
  try {
    await withStore(env, async (store) => {
      for await (const row of allQuarantined(store, { ...quarantineFilter(options), released: false })) {
        const item = await replayOne(store, row, {
          sources: config.sources,
          match,
          apply: options.apply === true,
          how: 'cli',
          record,
          tokens: config.tokens,
          ...(withoutToken ? { withoutToken } : {}),
        });
        totals[item.outcome] = (totals[item.outcome] ?? 0) + 1;
        report(item, options.json);
      }
    });
  } finally {
    await new Promise<void>((resolve) => {
      logger.on('finish', () => resolve());
      logger.end();
    });
  }
  const summary = { apply: options.apply === true, ...totals };
  if (options.json) out(JSON.stringify({ summary }));
  else
    process.stderr.write(
      `${options.apply ? '' : 'dry run (add --apply to release): '}${Object.entries(totals)
        .map(([key, value]) => `${key}=${value}`)
        .join(' ')}\n`,
    );
  return 0;
}

function report(item: ReplayItem, json?: boolean): void {
  if (json) {
    out(
      JSON.stringify({
        id: item.id,
        outcome: item.outcome,
        ...(item.webhook !== undefined ? { webhook: item.webhook } : {}),
        ...(item.event_id !== undefined ? { event_id: item.event_id } : {}),
        reason: item.reason,
      }),
    );
    return;
  }
  const target = item.event_id ? ` ${item.event_id}` : item.webhook ? ` (webhook ${item.webhook})` : '';
  out(
    terminalSafe(
      `${item.id}  ${item.reason}  ${item.why}${target}${item.outcome === 'mismatch' && item.source ? ` (${item.source})` : ''}`,
    ),
  );
}

export async function quarantinePurge(
  options: ListOptions & { apply?: boolean; released?: boolean },
  env: Env = process.env,
): Promise<number> {
  return withStore(env, async (store) => {
    const filter: QuarantineFilter = {
      ...quarantineFilter(options),
      ...(options.released !== undefined ? { released: options.released } : {}),
    };
    if (!options.apply) {
      let count = 0;
      for await (const _row of allQuarantined(store, filter)) count++;
      if (options.json) out(JSON.stringify({ apply: false, purged: 0, matching: count }));
      else
        process.stderr.write(
          `dry run (add --apply to delete): ${count} quarantined deliver${count === 1 ? 'y' : 'ies'} match\n`,
        );
      return 0;
    }
    const purged = await store.purgeQuarantine(filter);
    if (options.json) out(JSON.stringify({ apply: true, purged }));
    else process.stderr.write(`${purged} quarantined deliver${purged === 1 ? 'y' : 'ies'} deleted\n`);
    return 0;
  });
}
