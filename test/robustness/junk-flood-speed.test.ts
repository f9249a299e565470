// Issue 16, item 5: genuine deliveries keep their speed under a junk flood. The real service process on a
// real SQLite file; quiet and flooded rounds alternate in the same run, so the machine's load hits both.
import { expect } from 'chai';
import { spawnService, type RunningService } from '../support/spawn-service';
import { CRM_DEAL_ADD, WEBHOOK_TOKEN } from '../support/bitrix-bodies';
import { Client } from './support/client';

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const ROUNDS = 6;
const GENUINE_PER_ROUND = 25;
/** Junk a second during a flooded round, each a 64 KB tokenless body: 6.4 MB/s at the quarantine. */
const JUNK_PER_SECOND = 100;
const JUNK_BODY = `event=ONCRMDEALADD&data%5BFIELDS%5D%5BID%5D=1&pad=${'x'.repeat(64 * 1024)}`;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
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

describe('genuine deliveries under a junk flood (real process, SQLite)', function () {
  this.timeout(240_000);
  let service: RunningService;
  let genuine: Client;
  let junk: Client;

  before(async () => {
    service = await spawnService({ env: { BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN } });
    genuine = new Client(service.url);
    junk = new Client(service.url);
    // Warm up: JIT, the SQLite file, the connection pool.
    for (let i = 0; i < 20; i++) await genuine.send({ headers: FORM, body: CRM_DEAL_ADD });
  });

  after(async () => {
    genuine?.close();
    junk?.close();
    await service?.stop();
  });

  it('keeps the median of genuine deliveries within 2x of the quiet median, measured in alternating rounds', async () => {
    const quiet: number[] = [];
    const flooded: number[] = [];
    let junkSent = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const underFlood = round % 2 === 1;
      const load = underFlood ? flood(junk) : undefined;
      if (load) await new Promise((resolve) => setTimeout(resolve, 500));
      for (let i = 0; i < GENUINE_PER_ROUND; i++) {
        const answer = await genuine.send({ headers: FORM, body: CRM_DEAL_ADD });
        expect(answer.status).to.equal(200);
        (underFlood ? flooded : quiet).push(answer.ms);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      if (load) junkSent += await load.stop();
    }
    const quietMedian = median(quiet);
    const floodMedian = median(flooded);
    // The figures for docs/performance.md.
    console.log(`      quiet median ${quietMedian.toFixed(2)} ms, flooded median ${floodMedian.toFixed(2)} ms (${(floodMedian / quietMedian).toFixed(2)}x), ${junkSent} junk deliveries sent`);
    expect(junkSent).to.be.greaterThan(ROUNDS / 2 * JUNK_PER_SECOND);
    expect(floodMedian).to.be.at.most(2 * quietMedian);
  });
});
