// Issue #10, the incident end to end on both stores, with the real service process and the real command line:
// the service runs without a token and receives real Bitrix24 deliveries (503, quarantined); the token is set
// and the service restarted; `quarantine replay --apply` (twice at once, then again) turns every one into an
// accepted event exactly once. Then no table holds a token, after a mixed run through the real HTTP stack.
import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { APP_TOKEN, CRM_DEAL_ADD, everyShape, WEBHOOK_TOKEN, withoutToken } from '../support/bitrix-bodies';
import { runCli } from '../cli/run-cli';
import { spawnService, type RunningService } from '../support/spawn-service';
import { traceReceiver } from '../support/trace-receiver';
import { cleanUpStores, STORE_ADAPTERS } from '../support/store-adapters';
import { jsonLines } from '../support/ndjson';

const PATH = '/api/bitrix/webhook';
const FORM = 'application/x-www-form-urlencoded';
const BOT_TOKEN = 'b0770ken0000000000000000000000aa';
const WRONG_TOKEN = 'wr0ngt0ken0000000000000000000zzz';
const TOKENS = `default=${WEBHOOK_TOKEN},app=${APP_TOKEN}`;

async function post(service: RunningService, body: string, type = FORM): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${service.url}${PATH}`, { method: 'POST', headers: { 'content-type': type }, body });
  return { status: response.status, body: await response.json() };
}

/** JSON lines; stderr also holds the CLI's plain `store: …` line, which is not one. */
after(cleanUpStores);

for (const adapter of STORE_ADAPTERS) {
  describe(`the incident, end to end (${adapter.name}): no token, then the token set, then one command`, function () {
    this.timeout(120_000);
    let env: Record<string, string>;
    let service: RunningService | undefined;
    const shapes = everyShape();

    before(async () => {
      env = await adapter.freshEnv();
    });
    afterEach(async () => {
      await service?.stop();
      service = undefined;
    });

    it('refuses every delivery with 503 not_configured and quarantines each, diagnosed, with its trace id', async () => {
      // Trace ids are logged for exported traces only: the service exports them, as deployed.
      const traces = await traceReceiver();
      after(() => traces.receiver.stop());
      service = await spawnService({ env: { ...env, ...traces.env } });
      for (const shape of shapes) {
        expect(await post(service, shape.body)).to.deep.equal({
          status: 503,
          body: { status: 'rejected', reason: 'not_configured' },
        });
      }
      const listed = await runCli(['quarantine', 'list', '--json'], env);
      expect(listed.code, listed.stderr).to.equal(0);
      const rows = jsonLines(listed.stdout);
      expect(rows.map((row) => [row.status, row.reason, row.diagnosis, row.event, row.releasedEventId])).to.deep.equal(
        shapes.map((shape) => [503, 'not_configured', 'not_configured', shape.event, null]),
      );
      const refusedLines = service.logs.filter((line) => line.message === 'webhook delivery refused');
      expect(rows.map((row) => row.traceId)).to.deep.equal(refusedLines.map((line) => line.trace_id));
      for (const row of rows) expect(row.traceId).to.match(/^[0-9a-f]{32}$/);
    });

    it('after the restart with the token, a dry run changes nothing; two replays at once release each exactly once; a third changes nothing', async () => {
      service = await spawnService({ env: { ...env, BITRIX24_WEBHOOK_TOKENS: TOKENS, QUARANTINE_AUTO_REPLAY: 'off' } });
      const quarantined = jsonLines((await runCli(['quarantine', 'list', '--json'], env)).stdout);
      expect(quarantined).to.have.length(shapes.length);

      const dry = await runCli(['quarantine', 'replay', '--json'], { ...env, BITRIX24_WEBHOOK_TOKENS: TOKENS });
      expect(dry.code, dry.stderr).to.equal(0);
      expect(jsonLines(dry.stdout).at(-1)).to.deep.equal({
        summary: {
          apply: false,
          released: 0,
          would_release: shapes.length,
          already_released: 0,
          mismatch: 0,
          portal_mismatch: 0,
          no_token: 0,
          not_replayable: 0,
        },
      });
      expect(jsonLines((await runCli(['events', 'list', '--json'], env)).stdout)).to.deep.equal([]);

      // Two operators (or a retry) at the same moment, while the service serves the same store.
      const [first, second] = await Promise.all([
        runCli(['quarantine', 'replay', '--apply', '--json'], { ...env, BITRIX24_WEBHOOK_TOKENS: TOKENS }),
        runCli(['quarantine', 'replay', '--apply', '--json'], { ...env, BITRIX24_WEBHOOK_TOKENS: TOKENS }),
      ]);
      expect(first.code, first.stderr).to.equal(0);
      expect(second.code, second.stderr).to.equal(0);
      const released = [...jsonLines(first.stdout), ...jsonLines(second.stdout)].filter(
        (line) => line.outcome === 'released',
      );
      expect(released.map((line) => line.id).sort()).to.deep.equal(quarantined.map((row) => row.id).sort());

      const events = jsonLines((await runCli(['events', 'list', '--json'], env)).stdout);
      expect(events).to.have.length(shapes.length);
      const byQuarantine = new Map(events.map((event) => [event.quarantineId, event]));
      for (const [index, row] of quarantined.entries()) {
        const event = byQuarantine.get(row.id)!;
        const shape = shapes[index]!;
        expect(
          {
            webhook: event.webhook,
            event: event.event,
            receivedAt: event.receivedAt,
            traceId: event.traceId,
            status: event.status,
            domain: event.domain,
          },
          shape.name,
        ).to.deep.equal({
          webhook: shape.token === WEBHOOK_TOKEN ? 'default' : 'app',
          event: shape.event,
          receivedAt: row.receivedAt,
          traceId: row.traceId,
          status: 'pending',
          domain: 'some-domain.bitrix24.com',
        });
      }
      // The data read back from the scrubbed body is the event's data, without any credential.
      const deal = byQuarantine.get(quarantined[0]!.id)!;
      expect(deal.data).to.deep.equal({ FIELDS: { ID: '7405' } });
      const replayLog = jsonLines(first.stderr + second.stderr).filter(
        (line) => line.message === 'quarantined delivery replayed: now an accepted event',
      );
      expect(replayLog).to.have.length(shapes.length);

      const third = await runCli(['quarantine', 'replay', '--apply', '--json'], {
        ...env,
        BITRIX24_WEBHOOK_TOKENS: TOKENS,
      });
      expect(jsonLines(third.stdout)).to.deep.equal([
        {
          summary: {
            apply: true,
            released: 0,
            would_release: 0,
            already_released: 0,
            mismatch: 0,
            portal_mismatch: 0,
            no_token: 0,
            not_replayable: 0,
          },
        },
      ]);
      expect(jsonLines((await runCli(['events', 'list', '--json'], env)).stdout)).to.have.length(shapes.length);
    });

    it('keeps a delivery without a token until the operator releases it with a reason (logged); a wrong token stays', async () => {
      service = await spawnService({ env: { ...env, BITRIX24_WEBHOOK_TOKENS: TOKENS, QUARANTINE_AUTO_REPLAY: 'off' } });
      expect(await post(service, withoutToken(CRM_DEAL_ADD))).to.deep.equal({
        status: 401,
        body: { status: 'rejected', reason: 'token_missing' },
      });
      expect(await post(service, CRM_DEAL_ADD.replace(WEBHOOK_TOKEN, WRONG_TOKEN))).to.deep.equal({
        status: 403,
        body: { status: 'rejected', reason: 'token_mismatch' },
      });
      const withTokens = { ...env, BITRIX24_WEBHOOK_TOKENS: TOKENS };
      const plain = await runCli(['quarantine', 'replay', '--apply', '--json'], withTokens);
      expect(jsonLines(plain.stdout).map((line) => line.outcome ?? line.summary)).to.deep.equal([
        'no_token',
        'mismatch',
        {
          apply: true,
          released: 0,
          would_release: 0,
          already_released: 0,
          mismatch: 1,
          portal_mismatch: 0,
          no_token: 1,
          not_replayable: 0,
        },
      ]);
      const noReason = await runCli(['quarantine', 'replay', '--apply', '--release-without-token'], withTokens);
      expect(noReason.code).to.equal(2);
      const byHand = await runCli(
        [
          'quarantine',
          'replay',
          '--apply',
          '--release-without-token',
          '--reason',
          'portal admin confirmed deal 7405',
          '--json',
        ],
        withTokens,
      );
      expect(jsonLines(byHand.stdout).map((line) => line.outcome ?? line.summary.released)).to.deep.equal([
        'released',
        'mismatch',
        1,
      ]);
      const logged = jsonLines(byHand.stderr).find(
        (line) => line.message === 'quarantined delivery released WITHOUT a token by the operator',
      )!;
      expect(logged).to.deep.include({
        level: 'warn',
        webhook: 'unknown',
        reason: 'token_missing',
        operator_reason: 'portal admin confirmed deal 7405',
      });
      const shown = JSON.parse(
        (await runCli(['quarantine', 'show', String(logged.quarantine_id), '--json'], env)).stdout,
      ) as Record<string, unknown>;
      expect(shown.releaseNote).to.equal('released without a token: portal admin confirmed deal 7405');
      expect(shown.releasedEventId).to.equal(logged.event_id);
    });

    it('holds no token in any table after a mixed run through the real HTTP stack', async () => {
      service = await spawnService({ env: { ...env, BITRIX24_WEBHOOK_TOKENS: TOKENS, QUARANTINE_AUTO_REPLAY: 'off' } });
      for (const shape of shapes) expect((await post(service, shape.body)).status).to.equal(200);
      expect((await post(service, CRM_DEAL_ADD.replace(WEBHOOK_TOKEN, WRONG_TOKEN))).status).to.equal(403);
      const query = await fetch(`${service.url}${PATH}?token=${WRONG_TOKEN}`, {
        method: 'POST',
        headers: {
          'content-type': FORM,
          'x-bitrix24-token': APP_TOKEN,
          authorization: `Bearer ${WEBHOOK_TOKEN}`,
          cookie: `s=${BOT_TOKEN}`,
        },
        body: withoutToken(CRM_DEAL_ADD),
      });
      expect(query.status).to.equal(403);
      expect(
        (await post(service, `{"auth":{"application_token":"${WEBHOOK_TOKEN}"},`, 'application/json')).status,
      ).to.equal(400);
      const dump = JSON.stringify(await adapter.dumpTables(env));
      // The rows are there (a token would be visible) ...
      expect(dump).to.include('ONIMBOTMESSAGEADD').and.include(createHash('sha256').update(WRONG_TOKEN).digest('hex'));
      // ... and no token is.
      for (const secret of [WEBHOOK_TOKEN, APP_TOKEN, BOT_TOKEN, WRONG_TOKEN])
        expect(dump.includes(secret), `${secret.slice(0, 4)}… in the store`).to.equal(false);
    });
  });
}
