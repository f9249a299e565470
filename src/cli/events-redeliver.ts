import { Command } from 'commander';
import { ConfigError } from '../config/errors';

// `events redeliver <id…> | --all-dead`: dead letters back to pending, due now, attempts from zero. The
// running service's worker (this process's or any replica's) sends them again.

const BODY_LIMIT_FOR_CLI = 256 * 1024; // the CLI writes no quarantine row; the bound is unused here

interface Options {
  allDead?: boolean;
  json?: boolean;
}

/** The `redeliver` subcommand, to be added under `events`. */
export function eventsRedeliverCommand(): Command {
  return new Command('redeliver')
    .description('send dead-letter events again: reset them to pending (the running service forwards them)')
    .argument('[ids...]', 'ids of dead events (as `events list --status dead` shows them)')
    .option('--all-dead', 'every dead event')
    .option('--json', 'print {"redelivered": [...], "not_dead": [...]}')
    .addHelpText(
      'after',
      '\nExit code: 0 every named event was reset, 1 some id is not a dead event, 2 a usage or configuration error.',
    )
    .action(async (ids: string[], options: Options) => {
      process.exitCode = await redeliver(ids, options);
    });
}

export async function redeliver(
  ids: string[],
  options: Options,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  if (ids.length > 0 === Boolean(options.allDead)) {
    process.stderr.write('events redeliver: give event ids or --all-dead (one of the two)\n');
    return 2;
  }
  // Loaded only when the command runs: the rest of the command line does not load the database drivers.
  const { openStore, parseStoreConfig } = require('../store') as typeof import('../store');
  let store: Awaited<ReturnType<typeof openStore>>;
  try {
    const config = parseStoreConfig(env);
    if (config.kind === 'none') throw new ConfigError('STORE', 'none keeps no event to redeliver');
    store = await openStore(config, { bodyLimitBytes: BODY_LIMIT_FOR_CLI });
  } catch (error) {
    process.stderr.write(`events redeliver: ${(error as Error).message}\n`);
    return 2;
  }
  try {
    const reset = await store.redeliver(options.allDead ? 'all-dead' : ids);
    const notDead = ids.filter((id) => !reset.includes(id));
    if (options.json) process.stdout.write(`${JSON.stringify({ redelivered: reset, not_dead: notDead })}\n`);
    else {
      process.stdout.write(
        `${reset.length} dead event${reset.length === 1 ? '' : 's'} reset to pending${reset.length ? `: ${reset.join(' ')}` : ''}\n`,
      );
      if (notDead.length) process.stdout.write(`not dead (left alone): ${notDead.join(' ')}\n`);
    }
    return notDead.length > 0 ? 1 : 0;
  } finally {
    await store.close();
  }
}
