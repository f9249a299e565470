// A second process on the same store, for the tests: `save` writes one accepted event, prints its id and
// kills itself with SIGKILL at once (no close, no flush); `release` opens the store, says `ready`, waits for
// `go` on stdin, releases one quarantined delivery and prints the result; `open` waits for `go`, opens
// (migrates) the store and prints its events.
import readline from 'node:readline';
import type { StoreConfig } from '../../../src/store/config';
import { openStore } from '../../../src/store/open';

async function main(): Promise<void> {
  const [action, configJson, argument] = process.argv.slice(2);
  const config = JSON.parse(configJson!) as StoreConfig;
  if (action === 'open') {
    // Opens (and so migrates) a fresh store at the same moment as other processes.
    process.stdout.write('ready\n');
    await waitForGo();
    const opened = await openStore(config, { bodyLimitBytes: 256 * 1024 });
    process.stdout.write(`${JSON.stringify(await opened.listEvents())}\n`);
    await opened.close();
    process.exit(0);
  }
  const store = await openStore(config, { bodyLimitBytes: 256 * 1024 });
  if (action === 'save') {
    const id = await store.saveAccepted({
      receivedAt: new Date(Number(argument)),
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      webhook: 'default',
      event: 'ONCRMDEALADD',
      eventHandlerId: '975',
      ts: '1766047124',
      domain: 'some-domain.bitrix24.com',
      memberId: 'd897063e1ce7c5eb9f04b9751eef5915',
      data: { FIELDS: { ID: '7405' } },
      rawBody: 'event=ONCRMDEALADD&auth%5Bapplication_token%5D=jvh9y1ulvt2m6k5or90v9mg8nn32ozas',
      contentType: 'application/x-www-form-urlencoded',
    });
    process.stdout.write(`${id}\n`);
    process.kill(process.pid, 'SIGKILL');
    return;
  }
  if (action === 'release') {
    process.stdout.write('ready\n');
    await waitForGo();
    const result = await store.release(argument!, {
      webhook: 'default',
      event: 'ONCRMDEALADD',
      eventHandlerId: '975',
      ts: '1766047124',
      domain: 'some-domain.bitrix24.com',
      memberId: 'm',
      data: { FIELDS: { ID: '7405' } },
    });
    process.stdout.write(`${JSON.stringify(result)}\n`);
    await store.close();
    process.exit(0); // stdin is still open: the process would otherwise wait for it
  }
  throw new Error(`unknown action ${action}`);
}

async function waitForGo(): Promise<void> {
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) if (line === 'go') return;
}

main().catch((error) => {
  process.stderr.write(`${(error as Error).stack}\n`);
  process.exit(1);
});
