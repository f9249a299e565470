// Issue #16, items 4 and 7: a replay reads the token only where the receiver reads it (one reader, the
// extractor), and deliveries `doctor --url` sends are marked as self-tests and never released, not even by
// --release-without-token. The real service process, the real CLI, both stores.
import { expect } from 'chai';
import { CRM_DEAL_ADD, WEBHOOK_TOKEN } from '../support/bitrix-bodies';
import { runCli } from '../cli/run-cli';
import { spawnService, type RunningService } from '../support/spawn-service';
import { cleanUpStores, STORE_ADAPTERS } from '../support/store-adapters';
import { ndjson } from '../support/ndjson';

const PATH = '/api/bitrix/webhook';
const DEAL = CRM_DEAL_ADD.replace(/&auth%5Bapplication_token%5D=[^&]*/, '');
const T = WEBHOOK_TOKEN;

/** Bodies holding the token in places the receiver never reads: refused 401 under the old token and under the new. */
const UNREAD_PLACES: Array<{ name: string; type: string; body: string }> = [
  { name: 'dotted form key', type: 'application/x-www-form-urlencoded', body: `${DEAL}&auth.application_token=${T}` },
  {
    name: 'JSON fragment in a form value',
    type: 'application/x-www-form-urlencoded',
    body: `${DEAL}&data%5BX%5D=${encodeURIComponent(JSON.stringify({ auth: { application_token: T } }))}`,
  },
  {
    name: 'JSON dotted key',
    type: 'application/json',
    body: JSON.stringify({ event: 'ONCRMDEALADD', 'auth.application_token': T, auth: { domain: 'a.bitrix24.com' } }),
  },
];

describe('replay reads the token where the receiver reads it; self-tests are never released', function () {
  this.timeout(180_000);
  after(cleanUpStores);

  for (const adapter of STORE_ADAPTERS) {
    describe(adapter.name, () => {
      let env: Record<string, string>;
      let service: RunningService | undefined;
      before(async () => {
        // The service runs with another token: the deliveries below are refused, then replayed with T configured.
        env = await adapter.freshEnv();
        service = await spawnService({
          env: { ...env, BITRIX24_OUTGOING_WEBHOOK_TOKEN: 'oldtoken0000000000000000000000aa' },
        });
      });
      after(async () => {
        await service?.stop();
      });

      it('keeps doctor --url deliveries marked as self-tests', async () => {
        const doctor = await runCli(['doctor', '--url', `${service!.url}${PATH}`, '--json'], {
          BITRIX24_OUTGOING_WEBHOOK_TOKEN: T,
        });
        expect(doctor.stdout).to.include('"delivery": "no_token"');
        const listed = ndjson((await runCli(['quarantine', 'list', '--json'], env)).stdout);
        // The configured-token delivery (T is not the service's token: 403), the tokenless one (401), the wrong one
        // (403).
        expect(listed.map((row) => [row.reason, row.domain, row.selfTest])).to.deep.equal([
          ['token_mismatch', 'doctor.bitrix24.invalid', true],
          ['token_missing', 'doctor.bitrix24.invalid', true],
          ['token_mismatch', 'doctor.bitrix24.invalid', true],
        ]);
      });

      it('releases none of them: not the self-tests (even with --release-without-token), not the unread places', async () => {
        for (const shape of UNREAD_PLACES) {
          const response = await fetch(`${service!.url}${PATH}`, {
            method: 'POST',
            headers: { 'content-type': shape.type },
            body: shape.body,
          });
          expect(response.status, shape.name).to.equal(401);
        }
        const replay = await runCli(['quarantine', 'replay', '--apply', '--json'], {
          ...env,
          BITRIX24_OUTGOING_WEBHOOK_TOKEN: T,
        });
        expect(replay.code, replay.stderr).to.equal(0);
        const lines = ndjson(replay.stdout);
        expect(lines.at(-1)).to.deep.equal({
          summary: {
            apply: true,
            released: 0,
            would_release: 0,
            already_released: 0,
            mismatch: 0,
            portal_mismatch: 0,
            no_token: UNREAD_PLACES.length,
            not_replayable: 3,
          },
        });
        const forced = await runCli(
          ['quarantine', 'replay', '--apply', '--release-without-token', '--reason', 'portal lost its token', '--json'],
          { ...env, BITRIX24_OUTGOING_WEBHOOK_TOKEN: T },
        );
        expect(forced.code, forced.stderr).to.equal(0);
        expect(ndjson(forced.stdout).at(-1)!.summary).to.include({ released: UNREAD_PLACES.length, not_replayable: 3 });
        const events = ndjson((await runCli(['events', 'list', '--json'], env)).stdout);
        expect(events.map((event) => event.domain)).to.not.include('doctor.bitrix24.invalid');
      });

      it('still releases a delivery whose token sits where the receiver reads it', async () => {
        const response = await fetch(`${service!.url}${PATH}`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: `${DEAL}&auth%5Bapplication_token%5D=${T}`,
        });
        expect(response.status).to.equal(403);
        const replay = await runCli(['quarantine', 'replay', '--apply', '--json'], {
          ...env,
          BITRIX24_OUTGOING_WEBHOOK_TOKEN: T,
        });
        expect(ndjson(replay.stdout).at(-1)!.summary).to.include({ released: 1 });
      });
    });
  }
});
