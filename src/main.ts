// The service's entry point. The telemetry comes first, so that http and koa are instrumented when first
// required (`npm start` also preloads it with --require; loading it twice starts it once).
import { telemetry } from './telemetry/preload';

if (require.main === module) {
  // `npm start` passes no argument. Anything else (`--help`, a command, a typo) goes to the command line,
  // which explains itself instead of starting a server by mistake.
  if (process.argv.length > 2) void (require('./cli/program') as typeof import('./cli/program')).runCli(process.argv);
  else (require('./serve/service') as typeof import('./serve/service')).startService(telemetry);
}
