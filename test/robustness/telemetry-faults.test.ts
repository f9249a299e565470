// Issue #5: the webhook keeps working when its telemetry backend does not. The OTLP endpoint refuses
// connections, accepts them and never answers, or answers 503: every delivery is still answered correctly
// and without stalls, memory stays bounded, and the export problem is logged once, not once per request.

import { expect } from 'chai';
import { spawnService, type RunningService } from '../support/spawn-service';
import { OtlpReceiver } from '../support/otlp-receiver';
import { makeToken } from '../../scripts/bench/deliveries';
import { Client, pool, rssBytes } from './support/client';
import { freePort } from '../support/loopback-http';
import { scrape, sumOf } from './support/prometheus-text';

const TOKEN = makeToken(401);
const WRONG = makeToken(402);
/**
 * A delivery waiting on an export would wait OTLP_TIMEOUT_MS; a slower answer than STALL_MS, well under it, is a
 * stall. The margin below it absorbs what a loaded CI machine adds (a GC pause or a descheduled process hold the
 * four deliveries in flight together for a second or more), which is not what this test is about.
 */
const OTLP_TIMEOUT_MS = 4000;
const STALL_MS = 2500;
/** The service's V8 old-space cap in these tests: about twice its working heap. */
const HEAP_CAP_MIB = 128;

/** Log lines (stdout JSON) about the export problem: warn/error level, mentioning export/exporter/OTLP/telemetry. */
function exportWarnings(service: RunningService): Array<Record<string, unknown>> {
  return service.logs.filter((line) => {
    const level = String(line.level ?? '').toLowerCase();
    if (level !== 'warn' && level !== 'warning' && level !== 'error') return false;
    return /export|otlp|collector|telemetry/i.test(JSON.stringify(line));
  });
}

interface Phase {
  answered: number;
  wrong: string[];
  slowest: number;
}

/** Sends `count` deliveries (90% valid, 5% without token, 5% wrong token), 4 at a time, spread over ≥ spreadMs. */
async function deliver(client: Client, count: number, spreadMs: number): Promise<Phase> {
  const plan = Array.from({ length: count }, (_, i) => (i % 20 === 9 ? 'missing' : i % 20 === 19 ? 'wrong' : 'valid'));
  const expected = { valid: 200, missing: 401, wrong: 403 } as const;
  const wrong: string[] = [];
  let slowest = 0;
  let answered = 0;
  const gap = Math.max(0, (spreadMs * 4) / count);
  await pool(plan, 4, async (kind, i) => {
    const token = kind === 'valid' ? TOKEN : kind === 'wrong' ? WRONG : undefined;
    try {
      const answer = await client.deliver(token, i, { timeoutMs: 5000 });
      answered++;
      slowest = Math.max(slowest, answer.ms);
      if (answer.status !== expected[kind]) wrong.push(`#${i} ${kind}: ${answer.status} ${answer.body.slice(0, 100)}`);
      if (answer.ms > STALL_MS) wrong.push(`#${i} ${kind}: answered after ${answer.ms.toFixed(0)} ms`);
    } catch (err) {
      wrong.push(`#${i} ${kind}: ${(err as Error).message}`);
    }
    if (gap) await new Promise((resolve) => setTimeout(resolve, gap));
  });
  return { answered, wrong, slowest };
}

const FAULTS: Array<{
  name: string;
  setup: () => Promise<{ endpoint: string; stop: () => Promise<void>; requests?: () => number }>;
}> = [
  {
    name: 'refuses connections (nothing listens)',
    setup: async () => ({ endpoint: `http://127.0.0.1:${await freePort()}`, stop: async () => undefined }),
  },
  {
    name: 'accepts connections and never answers',
    setup: async () => {
      const receiver = await new OtlpReceiver().start();
      receiver.mode = 'hang';
      return { endpoint: receiver.url, stop: () => receiver.stop(), requests: () => receiver.requests.length };
    },
  },
  {
    name: 'answers 503 to every export',
    setup: async () => {
      const receiver = await new OtlpReceiver().start();
      receiver.mode = 'fail';
      return { endpoint: receiver.url, stop: () => receiver.stop(), requests: () => receiver.requests.length };
    },
  },
];

describe('robustness: telemetry backend faults', function () {
  this.timeout(240_000);

  for (const fault of FAULTS) {
    describe(`when the OTLP endpoint ${fault.name}`, () => {
      let service: RunningService;
      let client: Client;
      let backend: Awaited<ReturnType<typeof fault.setup>>;

      before(async () => {
        backend = await fault.setup();
        service = await spawnService({
          env: {
            BITRIX24_OUTGOING_WEBHOOK_TOKEN: TOKEN,
            LOG_LEVEL: 'info',
            OTEL_EXPORTER_OTLP_ENDPOINT: backend.endpoint,
            OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
            OTEL_TRACES_EXPORTER: 'otlp',
            OTEL_LOGS_EXPORTER: 'otlp',
            OTEL_TRACES_SAMPLER: 'always_on',
            OTEL_BSP_SCHEDULE_DELAY: '200',
            OTEL_BLRP_SCHEDULE_DELAY: '200',
            OTEL_EXPORTER_OTLP_TIMEOUT: String(OTLP_TIMEOUT_MS),
            NODE_OPTIONS: `--max-old-space-size=${HEAP_CAP_MIB}`,
          },
        });
        client = new Client(service.url);
      });
      after(async () => {
        client?.close();
        if (service) await service.stop();
        await backend?.stop();
      });

      it('answers 20 300 deliveries correctly and without stalls, logs the export problem once, and keeps memory bounded', async () => {
        const first = await deliver(client, 300, 4000);
        expect(first.wrong, `wrong or stalled answers (slowest ${first.slowest.toFixed(0)} ms)`).to.deep.equal([]);
        expect(first.answered).to.equal(300);
        await new Promise((resolve) => setTimeout(resolve, 2500)); // several export attempts fail meanwhile

        // memory: 20 000 more deliveries against the broken backend, with the heap capped at HEAP_CAP_MIB. RSS
        // alone cannot tell a leak from a heap still growing to its working size (that size differs between
        // Node versions) or from failed export batches held for a retry; under a cap, V8 collects harder, and
        // anything that keeps growing ends the process with an out-of-memory crash, failing the deliveries.
        const samples: number[] = [];
        let slowest = first.slowest;
        for (let chunk = 0; chunk < 4; chunk++) {
          const run = await deliver(client, 5_000, 0);
          expect(
            run.wrong.slice(0, 10),
            `wrong or stalled answers in the longer run (slowest ${run.slowest.toFixed(0)} ms)`,
          ).to.deep.equal([]);
          slowest = Math.max(slowest, run.slowest);
          samples.push(rssBytes(service.process.pid!));
        }
        const heapUsed = sumOf(await scrape(service.url), 'nodejs_heap_size_used_bytes');

        const warnings = exportWarnings(service);
        const stderrExport = service
          .stderr()
          .split('\n')
          .filter((line) => /export|otlp/i.test(line));
        const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
        console.log(
          `      slowest answer ${slowest.toFixed(1)} ms; RSS every 5 000 deliveries ${samples.map(mib).join(', ')} MiB, ` +
            `heap used at the end ${mib(heapUsed)} MiB (cap ${HEAP_CAP_MIB}); ${warnings.length} export warning line(s) on stdout, ${stderrExport.length} on stderr` +
            `${backend.requests ? `; ${backend.requests()} export attempts reached the backend` : ''}`,
        );
        if (warnings[0]) console.log(`      e.g. ${JSON.stringify(warnings[0]).slice(0, 300)}`);

        expect(service.process.exitCode, 'the service is still running').to.equal(null);
        expect(heapUsed / 2 ** 20).to.be.below(HEAP_CAP_MIB);
        expect(
          warnings.length,
          `stdout log lines about the export failure:\n${warnings.map((w) => JSON.stringify(w).slice(0, 300)).join('\n')}`,
        ).to.be.within(1, 3);
        expect(stderrExport.length, `stderr lines about export:\n${stderrExport.slice(0, 5).join('\n')}`).to.be.at.most(
          3,
        );
        expect((await fetch(`${service.url}/healthz`)).status).to.equal(200);
      });
    });
  }
});
