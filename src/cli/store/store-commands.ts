import { readFileSync } from 'node:fs';
import winston from 'winston';
import { ENV } from '../../config/env-names';
import { loadConfig, parseByteSize } from '../../config/load';
import { parseStoreConfig } from '../../store/config';
import { jsonText } from '../../store/json-text';
import { openStore } from '../../store/open';
import { describeStore } from '../../store/describe';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { EventFilter, QuarantinedDelivery, QuarantineFilter, Store, StoredEvent } from '../../store/types';
import { createLogger, type Logger } from '../../telemetry/logger';
import { UNKNOWN_WEBHOOK } from '../../telemetry/names';
import { createDigestMatcher } from '../../verify/verify';
import { decideReplay, releasedEvent, type ReplayDecision } from './replay-decision';

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
type Env = Record<string, string | undefined>;

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

/** Every row the filter selects, page by page (ids sort by receive time). */
async function* allQuarantined(store: Store, filter: QuarantineFilter, max = Infinity): AsyncGenerator<QuarantinedDelivery> {
  let afterId: string | undefined;
  let seen = 0;
  for (;;) {
    const page = await store.listQuarantine({ ...filter, limit: Math.min(PAGE, max - seen), ...(afterId !== undefined ? { afterId } : {}) });
    for (const row of page) yield row;
    seen += page.length;
    if (page.length < PAGE || seen >= max) return;
    afterId = page[page.length - 1]!.id;
  }
}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

function quarantineLine(row: QuarantinedDelivery): string {
  const released = row.releasedEventId ? `released→${row.releasedEventId}` : 'quarantined';
  return [row.id, row.receivedAt.toISOString(), String(row.status), row.reason, row.diagnosis ?? '-', row.event ?? '-', row.domain ?? '-', released].join('  ');
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
    out(`id:           ${row.id}`);
    out(`received:     ${row.receivedAt.toISOString()}`);
    out(`answered:     ${row.status} ${row.reason}`);
    out(`diagnosis:    ${row.diagnosis ?? '-'}  (docs/runbooks.md#diagnosis-${row.diagnosis ?? 'unknown'})`);
    out(`trace id:     ${row.traceId ?? '-'}`);
    out(`event:        ${row.event ?? '-'}  portal ${row.domain ?? '-'}  member ${row.memberId ?? '-'}`);
    out(`headers:      ${row.headerNames.join(', ')}`);
    for (const [name, value] of Object.entries(row.headers)) out(`  ${name}: ${value}`);
    out(`tokens seen:  ${row.candidates.map((candidate) => `${candidate.location} (sha256 ${candidate.digest.slice(0, 8)}…)`).join(', ') || 'none'}`);
    out(`released:     ${row.releasedEventId ? `${row.releasedAt!.toISOString()} as event ${row.releasedEventId}${row.releaseNote ? ` (${row.releaseNote})` : ''}` : 'no'}`);
    out(`body${row.bodyTruncated ? ' (cut at BODY_LIMIT)' : ''}:`);
    out(row.body ?? '(none)');
    return 0;
  });
}

function eventLine(event: StoredEvent): string {
  return [event.id, event.receivedAt.toISOString(), event.webhook, event.event ?? '-', event.domain ?? '-', event.status, `attempts=${event.attempts}`, event.quarantineId ? `from ${event.quarantineId}` : ''].join('  ').trimEnd();
}

export async function eventsList(options: ListOptions & { status?: string; event?: string }, env: Env = process.env): Promise<number> {
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
      const page = await store.listEvents({ ...filter, limit: Math.min(PAGE, max - count), ...(afterId !== undefined ? { afterId } : {}) });
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
    process.stderr.write('quarantine replay: --release-without-token needs --reason "<why these deliveries are genuine>"\n');
    return 2;
  }
  const config = loadConfig(env, (file) => readFileSync(file, 'utf8'));
  if (config.tokens.length === 0) {
    process.stderr.write(`quarantine replay: no token is configured here, so nothing can be verified; set ${ENV.token} (or ${ENV.tokens}) as the service has it\n`);
    return 1;
  }
  const match = createDigestMatcher(config.tokens);
  const logger = cliLogger();
  const totals: Record<string, number> = { released: 0, would_release: 0, already_released: 0, mismatch: 0, no_token: 0, not_replayable: 0 };
  try {
    await withStore(env, async (store) => {
      for await (const row of allQuarantined(store, { ...quarantineFilter(options), released: false })) {
        const decision = decideReplay(row, config.sources, match, config.tokens);
        const webhook = decision.action === 'release' ? decision.webhook : decision.action === 'no_token' && options.releaseWithoutToken ? UNKNOWN_WEBHOOK : undefined;
        let outcome: string = decision.action;
        let eventId: string | undefined;
        if (webhook !== undefined) {
          const note = decision.action === 'no_token' ? `released without a token: ${options.note!.trim().slice(0, 500)}` : undefined;
          if (!options.apply) outcome = 'would_release';
          else {
            const result = await store.release(row.id, releasedEvent(row, webhook, note));
            outcome = result.result === 'not_found' ? 'not_replayable' : result.result;
            if (result.result !== 'not_found') eventId = result.eventId;
            if (result.result === 'released') {
              const fields = { quarantine_id: row.id, event_id: result.eventId, webhook, reason: row.reason, diagnosis: row.diagnosis, trace_id: row.traceId ?? undefined };
              if (note) logger.warn('quarantined delivery released WITHOUT a token by the operator', { ...fields, operator_reason: options.note!.trim().slice(0, 500) });
              else logger.info('quarantined delivery replayed: now an accepted event', fields);
            }
          }
        }
        totals[outcome] = (totals[outcome] ?? 0) + 1;
        report(row, decision, outcome, eventId, webhook, options.json);
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
  else process.stderr.write(`${options.apply ? '' : 'dry run (add --apply to release): '}${Object.entries(totals).map(([key, value]) => `${key}=${value}`).join(' ')}\n`);
  return 0;
}

const EXPLAIN: Record<string, string> = {
  released: 'released as event',
  would_release: 'would be released',
  already_released: 'already released as event',
  mismatch: 'stays: its token matches no configured token',
  portal_mismatch: 'stays: its token is bound to another portal than it names',
  no_token: 'stays: it carried no token (release only with --release-without-token --reason "…")',
  not_replayable: 'stays: refused for its body, not its token',
};

function report(row: QuarantinedDelivery, decision: ReplayDecision, outcome: string, eventId: string | undefined, webhook: string | undefined, json?: boolean): void {
  if (json) {
    out(JSON.stringify({ id: row.id, outcome, ...(webhook !== undefined ? { webhook } : {}), ...(eventId !== undefined ? { event_id: eventId } : {}), reason: row.reason }));
    return;
  }
  const target = eventId ? ` ${eventId}` : webhook ? ` (webhook ${webhook})` : '';
  out(`${row.id}  ${row.reason}  ${EXPLAIN[outcome] ?? outcome}${target}${decision.action === 'mismatch' ? ` (${decision.source})` : ''}`);
}

export async function quarantinePurge(options: ListOptions & { apply?: boolean; released?: boolean }, env: Env = process.env): Promise<number> {
  return withStore(env, async (store) => {
    const filter: QuarantineFilter = { ...quarantineFilter(options), ...(options.released !== undefined ? { released: options.released } : {}) };
    if (!options.apply) {
      let count = 0;
      for await (const _row of allQuarantined(store, filter)) count++;
      if (options.json) out(JSON.stringify({ apply: false, purged: 0, matching: count }));
      else process.stderr.write(`dry run (add --apply to delete): ${count} quarantined deliver${count === 1 ? 'y' : 'ies'} match\n`);
      return 0;
    }
    const purged = await store.purgeQuarantine(filter);
    if (options.json) out(JSON.stringify({ apply: true, purged }));
    else process.stderr.write(`${purged} quarantined deliver${purged === 1 ? 'y' : 'ies'} deleted\n`);
    return 0;
  });
}
