// Genuine deliveries under a junk flood (issue #16): the real service process on a real SQLite file; quiet and
// flooded rounds alternate in the same run, so the machine's load falls on both. A speed target: it is measured
// here, by `npm run bench`, never by a timed test.
import { CRM_DEAL_ADD, WEBHOOK_TOKEN } from '../../test/support/bitrix-bodies';
import { spawnService } from '../../test/support/spawn-service';
import { Client } from '../../test/robustness/support/client';

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const ROUNDS = 6;
const GENUINE_PER_ROUND = 25;
/** Junk a second during a flooded round, each a 64 KB tokenless body: 6.4 MB/s at the quarantine. */
const JUNK_PER_SECOND = 100;
const JUNK_BODY = `event=ONCRMDEALADD&data%5BFIELDS%5D%5BID%5D=1&pad=${'x'.repeat(64 * 1024)}`;

export interface FloodResult {
  quietMedianMs: number;
  floodedMedianMs: number;
  junkSent: number;
  /** Genuine deliveries not answered 200: each one is a failure whatever the speed. */
  genuineRefused: number;
}

export async function measureJunkFlood(): Promise<FloodResult> {
  const service = await spawnService({ env: { BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN } });
  const genuine = new Client(service.url);
  const junk = new Client(service.url);
  try {
    // Warm up: JIT, the SQLite file, the connection pool.
    for (let i = 0; i < 20; i++) await genuine.send({ headers: FORM, body: CRM_DEAL_ADD });
    const quiet: number[] = [];
    const flooded: number[] = [];
    let junkSent = 0;
    let genuineRefused = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const load = round % 2 === 1 ? flood(junk) : undefined;
      if (load) await new Promise((resolve) => setTimeout(resolve, 500));
      for (let i = 0; i < GENUINE_PER_ROUND; i++) {
        const answer = await genuine.send({ headers: FORM, body: CRM_DEAL_ADD });
        if (answer.status !== 200) genuineRefused++;
        (load ? flooded : quiet).push(answer.ms);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      if (load) junkSent += await load.stop();
    }
    return { quietMedianMs: median(quiet), floodedMedianMs: median(flooded), junkSent, genuineRefused };
  } finally {
    genuine.close();
    junk.close();
    await service.stop();
  }
}

/** Sends junk at a fixed rate over a few keep-alive connections until stopped. */
function flood(client: Client): { stop(): Promise<number> } {
  let running = true;
  let sent = 0;
  const inFlight = new Set<Promise<unknown>>();
  const timer = setInterval(() => {
    for (let i = 0; i < JUNK_PER_SECOND / 20 && running; i++) {
      const request = client.send({ headers: FORM, body: JUNK_BODY }).catch(() => undefined);
      inFlight.add(request);
      void request.finally(() => inFlight.delete(request));
      sent++;
    }
  }, 50);
  return {
    async stop() {
      running = false;
      clearInterval(timer);
      await Promise.all(inFlight);
      return sent;
    },
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
