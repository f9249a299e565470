// Issue 19, automatic replay (QUARANTINE_AUTO_REPLAY, default on), through real processes on both stores: the
// seed's incident (no token → deliveries quarantined → restart with the token) costs nothing but the restart:
// every delivery whose stored token digest matches is released with its receive time and trace id and forwarded
// exactly once; one without a token, one with a wrong token and one whose only matching token is a chat-bot's
// inner token stay. A second restart releases nothing more; two replicas starting together on PostgreSQL
// release each delivery once between them. `off` releases nothing.
import { expect } from 'chai';
import {
  chatBotMessage,
  CRM_DEAL_ADD,
  everyShape,
  WEBHOOK_TOKEN,
  APP_TOKEN,
  withoutToken,
} from '../support/bitrix-bodies';
import { runCli } from '../cli/run-cli';
import { SIGNING_SECRET, Upstream } from '../forward/support/upstream';
import { spawnService, type RunningService } from '../support/spawn-service';
import { cleanUpStores, STORE_ADAPTERS } from '../support/store-adapters';
import { traceReceiver } from '../support/trace-receiver';
import { ndjson, type JsonRecord } from '../support/ndjson';

const PATH = '/api/bitrix/webhook';
const TOKENS = `default=${WEBHOOK_TOKEN},app=${APP_TOKEN}`;
const WRONG_TOKEN = 'wr0ngt0ken0000000000000000000zzz';
const DONE = 'automatic replay of the quarantine done';
const RELEASED = 'quarantined delivery replayed: now an accepted event';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function post(service: RunningService, body: string): Promise<number> {
  const response = await fetch(`${service.url}${PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
  await response.arrayBuffer();
  return response.status;
}

async function releasesCounted(service: RunningService): Promise<Record<string, number>> {
  const text = await (await fetch(`${service.url}/metrics`)).text();
  const counts: Record<string, number> = {};
  for (const match of text.matchAll(/^bitrix_webhook_quarantine_releases_total\{how="(\w+)"\} (\d+)$/gm))
    counts[match[1]!] = Number(match[2]);
  return counts;
}

after(cleanUpStores);

for (const adapter of STORE_ADAPTERS) {
  describe(`automatic replay at start-up (${adapter.name})`, function () {
    this.timeout(180_000);
    const services: RunningService[] = [];
    let upstream: Upstream;
    const shapes = everyShape();
    const stays = [
      { name: 'no token at all', body: withoutToken(CRM_DEAL_ADD), outcome: 'no_token' },
      { name: 'a wrong token', body: CRM_DEAL_ADD.replace(WEBHOOK_TOKEN, WRONG_TOKEN), outcome: 'mismatch' },
      {
        name: "a wrong outer token, the configured one only as the chat-bot's inner token",
        body: chatBotMessage(WRONG_TOKEN, WEBHOOK_TOKEN),
        outcome: 'mismatch',
      },
    ];

    async function start(env: Record<string, string>): Promise<RunningService> {
      const service = await spawnService({ env });
      services.push(service);
      return service;
    }
    async function outage(env: Record<string, string>): Promise<Array<JsonRecord>> {
      const service = await start(env);
      for (const { body } of [...shapes, ...stays]) expect(await post(service, body)).to.equal(503);
      expect(await service.stop()).to.equal(0);
      const rows = ndjson((await runCli(['quarantine', 'list', '--json'], env)).stdout);
      expect(rows).to.have.length(shapes.length + stays.length);
      return rows;
    }

    beforeEach(async () => {
      upstream = new Upstream();
      await upstream.start();
    });
    afterEach(async () => {
      await Promise.all(services.splice(0).map((service) => service.stop()));
      await upstream.stop();
    });

    function forwarding(env: Record<string, string>): Record<string, string> {
      return {
        ...env,
        FORWARD_URL: upstream.url,
        FORWARD_SIGNING_SECRET: SIGNING_SECRET,
        FORWARD_POLL_SECONDS: '0.05',
        SHUTDOWN_DRAIN_SECONDS: '0',
      };
    }

    it('releases every delivery whose token now matches, with its receive time and trace, forwards each once, and keeps the rest', async () => {
      const env = forwarding(await adapter.freshEnv());
      const quarantined = await outage(env);

      const traces = await traceReceiver();
      after(() => traces.receiver.stop());
      const service = await start({ ...env, BITRIX24_WEBHOOK_TOKENS: TOKENS, ...traces.env });
      expect(service.logs.find((line) => line.message === 'bitrix24-webhook-guard starting')).to.deep.include({
        quarantine_auto_replay: 'on',
      });
      const done = await service.waitForLog((line) => line.message === DONE, 30_000);
      expect(done).to.deep.include({
        level: 'info',
        how: 'auto',
        released: shapes.length,
        would_release: 0,
        already_released: 0,
        mismatch: 2,
        portal_mismatch: 0,
        no_token: 1,
        not_replayable: 0,
      });
      const logged = service.logs.filter((line) => line.message === RELEASED);
      expect(logged.map((line) => line.how)).to.deep.equal(shapes.map(() => 'auto'));
      expect(await releasesCounted(service)).to.deep.equal({ auto: shapes.length, cli: 0, console: 0 });

      await upstream.waitFor(() => upstream.deliveredIds().length >= shapes.length, 30_000, 'every released event');
      await sleep(800);
      expect(upstream.received.every((r) => r.verified)).to.equal(true);
      const events = ndjson((await runCli(['events', 'list', '--json'], env)).stdout);
      expect(upstream.deliveredIds().sort()).to.deep.equal(events.map((event) => event.id).sort());
      const rowById = new Map(quarantined.map((row) => [row.id, row]));
      expect(events.map((event) => [event.event, event.receivedAt, event.traceId, event.status])).to.deep.equal(
        events.map((event) => {
          const row = rowById.get(event.quarantineId)!;
          return [row.event, row.receivedAt, row.traceId, 'delivered'];
        }),
      );
      expect(events.map((event) => event.event).sort()).to.deep.equal(shapes.map((shape) => shape.event).sort());
      expect(logged.map((line) => line.quarantine_id).sort()).to.deep.equal(
        events.map((event) => event.quarantineId).sort(),
      );
      const left = ndjson((await runCli(['quarantine', 'list', '--json'], env)).stdout).filter(
        (row) => row.releasedEventId === null,
      );
      expect(left.map((row) => row.id)).to.deep.equal(quarantined.slice(shapes.length).map((row) => row.id));

      // A second restart: nothing more is released or sent.
      expect(await service.stop()).to.equal(0);
      // Each release traced (exported at the stop's flush at the latest), with how and both ids.
      const releaseSpans = traces.receiver.spans.filter((span) => span.name === 'bitrix.quarantine.release');
      expect(
        releaseSpans
          .map((span) => [span.attributes['bitrix.quarantine.how'], span.attributes['bitrix.event.id']])
          .sort(),
      ).to.deep.equal(logged.map((line) => ['auto', line.event_id]).sort());
      const again = await start({ ...env, BITRIX24_WEBHOOK_TOKENS: TOKENS });
      expect(await again.waitForLog((line) => line.message === DONE, 30_000)).to.deep.include({
        released: 0,
        mismatch: 2,
        portal_mismatch: 0,
        no_token: 1,
      });
      await sleep(800);
      expect(upstream.deliveredIds()).to.have.length(shapes.length);
      expect(await releasesCounted(again)).to.deep.equal({ auto: 0, cli: 0, console: 0 });
    });

    it('QUARANTINE_AUTO_REPLAY=off releases nothing', async () => {
      const env = forwarding(await adapter.freshEnv());
      await outage(env);
      const service = await start({ ...env, BITRIX24_WEBHOOK_TOKENS: TOKENS, QUARANTINE_AUTO_REPLAY: 'off' });
      await sleep(1_500);
      expect(service.logs.find((line) => line.message === 'bitrix24-webhook-guard starting')).to.deep.include({
        quarantine_auto_replay: 'off',
        admin_console: 'off',
      });
      expect(service.logs.filter((line) => line.message === DONE || line.message === RELEASED)).to.deep.equal([]);
      expect(ndjson((await runCli(['events', 'list', '--json'], env)).stdout)).to.deep.equal([]);
      expect(upstream.received).to.deep.equal([]);
    });

    if (adapter.name === 'postgres') {
      it('two replicas starting together release each delivery exactly once between them, and it is forwarded once', async () => {
        const env = forwarding(await adapter.freshEnv());
        await outage(env);
        const replicas = await Promise.all([
          start({ ...env, BITRIX24_WEBHOOK_TOKENS: TOKENS }),
          start({ ...env, BITRIX24_WEBHOOK_TOKENS: TOKENS }),
        ]);
        const summaries = await Promise.all(
          replicas.map((replica) => replica.waitForLog((line) => line.message === DONE, 30_000)),
        );
        expect(summaries.reduce((sum, line) => sum + Number(line.released), 0)).to.equal(shapes.length);
        expect(
          summaries.reduce((sum, line) => sum + Number(line.released) + Number(line.already_released), 0),
        ).to.be.at.least(shapes.length);
        const releasedLines = replicas.flatMap((replica) => replica.logs.filter((line) => line.message === RELEASED));
        expect(new Set(releasedLines.map((line) => line.quarantine_id)).size).to.equal(shapes.length);
        expect(releasedLines).to.have.length(shapes.length);
        await upstream.waitFor(() => upstream.deliveredIds().length >= shapes.length, 30_000, 'every released event');
        await sleep(1_000);
        const delivered = upstream.deliveredIds();
        expect(new Set(delivered).size).to.equal(shapes.length);
        expect(delivered).to.have.length(shapes.length);
      });
    }
  });
}
