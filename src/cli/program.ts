import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { ENV } from '../vocabulary/env-names';

// Only what the chosen command needs is loaded, and `serve` loads the service with its telemetry first
// (as `node --require ./dist/src/telemetry/preload.js` would), so http and koa are instrumented.

export const BIN = 'bitrix24-webhook-guard';

export function createProgram(): Command {
  const program = new Command(BIN)
    .description('Receives Bitrix24 outgoing-webhook events and verifies their token. Without a command: serve.')
    .version(packageVersion(), '-V, --version')
    .showHelpAfterError('(add --help for usage)')
    .showSuggestionAfterError(true);

  program
    .command('serve', { isDefault: true })
    .description('start the service (configuration from the environment: docs/configuration.md)')
    .addHelpText(
      'after',
      `\nSet ${ENV.token} (or ${ENV.tokens}) first; run \`${BIN} doctor\` to check the configuration.`,
    )
    .action(() => {
      const { telemetry } = require('../telemetry/preload') as typeof import('../telemetry/preload');
      (require('../serve/service') as typeof import('../serve/service')).startService(telemetry);
    });

  program
    .command('doctor')
    .description('check the configuration in this environment, and with --url self-test a running deployment')
    .option('--url <handler-url>', 'send self-test deliveries (ONAPPTEST) to this handler URL and check the answers')
    .option('--json', 'print the result as JSON')
    .option('--timeout <ms>', 'how long to wait for each answer', milliseconds, 3000)
    .addHelpText(
      'after',
      `\nExit code: 0 all checks passed, 1 a check failed, 2 the configuration is refused.\n` +
        `Example: ${BIN} doctor --url https://hooks.example.com/api/bitrix/webhook`,
    )
    .action(async (options: { url?: string; json?: boolean; timeout: number }) => {
      if (options.url !== undefined && !/^https?:\/\/[^/]/i.test(options.url)) {
        program.error(`error: --url must be an http:// or https:// URL, got ${JSON.stringify(options.url)}`, {
          exitCode: 2,
        });
      }
      const { doctor } = require('./doctor/doctor') as typeof import('./doctor/doctor');
      process.exitCode = await doctor(options);
    });

  program
    .command('fingerprint')
    .description(
      'read a token from standard input and print its fingerprint (the first 8 hex characters of its SHA-256)',
    )
    .option('--json', 'print {"fingerprint": "…"}')
    .addHelpText('after', `\nExample: printf %s "$TOKEN" | ${BIN} fingerprint`)
    .action(async (options: { json?: boolean }) => {
      const { fingerprintCommand } = require('./fingerprint-command') as typeof import('./fingerprint-command');
      process.exitCode = await fingerprintCommand(options);
    });

  addStoreCommands(program);
  program
    .command('store')
    .description('the store itself')
    .command('backup <file>')
    .description(
      'copy the SQLite store to <file> while the service runs (VACUUM INTO); restore while it is stopped (docs/store-faults.md)',
    )
    .action((file: string) => {
      process.exitCode = (require('./store/backup') as typeof import('./store/backup')).storeBackup(file);
    });
  return program;
}

type StoreCommands = typeof import('./store/store-commands');
const storeCommands = (): StoreCommands => require('./store/store-commands') as StoreCommands;

function withFilters(command: Command, kind: 'quarantine' | 'events', reasonFlag = '--reason <reason>'): Command {
  if (kind === 'quarantine') {
    command
      .option(reasonFlag, 'only deliveries refused for this reason (token_missing, token_mismatch, not_configured, …)')
      .option('--diagnosis <diagnosis>', 'only deliveries with this diagnosis (docs/runbooks.md)');
  } else {
    command
      .option('--webhook <name>', 'only events whose token had this name')
      .option('--event <code>', 'only this event code, e.g. ONCRMDEALADD')
      .option('--status <status>', 'pending, delivered or dead');
  }
  return command
    .option('--portal <domain>', 'only deliveries from this portal domain')
    .option('--since <time>', 'received at or after: an ISO time, or a duration ago (30m, 12h, 7d)', time)
    .option('--until <time>', 'received before: an ISO time, or a duration ago', time)
    .option('--json', 'print JSON (one object per line)');
}

function addStoreCommands(program: Command): void {
  const store = `\nThe store is the service's: ${ENV.dataDir} (SQLite, default ./data) or ${ENV.databaseUrl}, from the environment.`;
  const quarantine = program
    .command('quarantine')
    .description('refused deliveries kept for inspection and replay')
    .addHelpText('after', store);
  withFilters(quarantine.command('list').description('list quarantined deliveries, oldest first'), 'quarantine')
    .option('--limit <n>', 'at most this many', count, 100)
    .action(async (options) => {
      process.exitCode = await storeCommands().quarantineList(options);
    });
  quarantine
    .command('show <id>')
    .description('show one quarantined delivery: answer, diagnosis, trace id, headers, scrubbed body')
    .option('--json', 'print JSON')
    .action(async (id: string, options: { json?: boolean }) => {
      process.exitCode = await storeCommands().quarantineShow(id, options);
    });
  withFilters(
    quarantine
      .command('replay')
      .description(
        're-verify quarantined deliveries against the current configuration; those that now match become accepted events',
      )
      .option('--apply', 'release them (without it: a dry run that only says what would happen)')
      .option('--release-without-token', 'also release deliveries that carried no token at all (needs --reason)')
      .option('--reason <text>', 'why deliveries without a token are genuine (logged with each release)'),
    'quarantine',
    '--refusal <reason>',
  )
    .addHelpText(
      'after',
      `\nExample, after an outage without a token: set ${ENV.token}, restart the service, then\n  ${BIN} quarantine replay --apply${store}`,
    )
    .action(async (options: { refusal?: string; reason?: string } & Record<string, unknown>) => {
      const { refusal, reason, ...rest } = options;
      process.exitCode = await storeCommands().quarantineReplay({
        ...rest,
        ...(refusal !== undefined ? { reason: refusal } : {}),
        ...(reason !== undefined ? { note: reason } : {}),
      });
    });
  withFilters(
    quarantine.command('purge').description('delete quarantined deliveries (dry run unless --apply)'),
    'quarantine',
  )
    .option('--apply', 'delete them')
    .option('--released', 'only those already released')
    .action(async (options) => {
      process.exitCode = await storeCommands().quarantinePurge(options);
    });

  const events = program.command('events').description('accepted events in the store').addHelpText('after', store);
  withFilters(events.command('list').description('list stored events, oldest first'), 'events')
    .option('--limit <n>', 'at most this many', count, 100)
    .action(async (options) => {
      process.exitCode = await storeCommands().eventsList(options);
    });
  events.addCommand((require('./events-redeliver') as typeof import('./events-redeliver')).eventsRedeliverCommand());
}

function count(value: string): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || parsed < 1 || parsed > 1_000_000)
    throw new InvalidArgumentError('a whole number, 1 to 1000000');
  return parsed;
}

const DURATION_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/** An ISO time, or a duration ago (`30m`, `12h`, `7d`). */
function time(value: string): Date {
  const duration = /^(\d{1,6})([mhd])$/.exec(value);
  if (duration) return new Date(Date.now() - Number(duration[1]) * DURATION_MS[duration[2]!]!);
  const parsed = Date.parse(value);
  if (value.length > 40 || Number.isNaN(parsed))
    throw new InvalidArgumentError('an ISO time (2026-01-10T12:00:00Z) or a duration ago (30m, 12h, 7d)');
  return new Date(parsed);
}

export async function runCli(argv: string[]): Promise<void> {
  const program = createProgram();
  // serve is the default, so commander would take an unknown command for an argument to serve.
  const first = argv[2];
  if (
    first !== undefined &&
    !first.startsWith('-') &&
    first !== 'help' &&
    !program.commands.some((command) => command.name() === first)
  ) {
    const names = program.commands.map((command) => command.name()).join(', ');
    program.error(`error: unknown command '${first}' (commands: ${names}, help)`);
  }
  try {
    await program.parseAsync(argv);
  } catch (error) {
    process.stderr.write(`${BIN}: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}

function milliseconds(value: string): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || parsed < 1 || parsed > 600_000)
    throw new InvalidArgumentError('a number of milliseconds, 1 to 600000');
  return parsed;
}

function packageVersion(): string {
  try {
    const manifest = JSON.parse(readFileSync(path.resolve(__dirname, '../../../package.json'), 'utf8')) as {
      version?: string;
    };
    return manifest.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
