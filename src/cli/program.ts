import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { ENV } from '../config/env-names';

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
    .description('start the service (configuration from the environment, as in the README)')
    .addHelpText('after', `\nSet ${ENV.token} (or ${ENV.tokens}) first; run \`${BIN} doctor\` to check the configuration.`)
    .action(() => {
      (require('../main') as typeof import('../main')).main();
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
        program.error(`error: --url must be an http:// or https:// URL, got ${JSON.stringify(options.url)}`, { exitCode: 2 });
      }
      const { doctor } = require('./doctor/doctor') as typeof import('./doctor/doctor');
      process.exitCode = await doctor(options);
    });

  program
    .command('fingerprint')
    .description("read a token from standard input and print its fingerprint (the first 8 hex characters of its SHA-256)")
    .option('--json', 'print {"fingerprint": "…"}')
    .addHelpText('after', `\nExample: printf %s "$TOKEN" | ${BIN} fingerprint`)
    .action(async (options: { json?: boolean }) => {
      const { fingerprintCommand } = require('./fingerprint-command') as typeof import('./fingerprint-command');
      process.exitCode = await fingerprintCommand(options);
    });

  program.command('events').description('stored accepted events').addCommand((require('./events-redeliver') as typeof import('./events-redeliver')).eventsRedeliverCommand());

  return program;
}

export async function runCli(argv: string[]): Promise<void> {
  const program = createProgram();
  // serve is the default, so commander would take an unknown command for an argument to serve.
  const first = argv[2];
  if (first !== undefined && !first.startsWith('-') && first !== 'help' && !program.commands.some((command) => command.name() === first)) {
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
  if (!/^\d+$/.test(value) || parsed < 1 || parsed > 600_000) throw new InvalidArgumentError('a number of milliseconds, 1 to 600000');
  return parsed;
}

function packageVersion(): string {
  try {
    const manifest = JSON.parse(readFileSync(path.resolve(__dirname, '../../../package.json'), 'utf8')) as { version?: string };
    return manifest.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
