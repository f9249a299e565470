// Issue #11, the incident end to end, extended to the application: the service runs without a token but with
// forwarding configured, and receives real Bitrix24 deliveries (503, quarantined, nothing forwarded); the token
// is set and the service restarted; `quarantine replay --apply` releases every delivery, and the application
// (a loopback upstream checking each Standard Webhooks signature with the `standardwebhooks` package) receives
// every event of the outage exactly once, with its name and data. A second replay sends nothing more.
import { expect } from 'chai';
import qs from 'qs';
import { APP_TOKEN, CRM_DEAL_ADD, everyShape, WEBHOOK_TOKEN } from '../support/bitrix-bodies';
import { runCli } from '../cli/run-cli';
import { SIGNING_SECRET, Upstream } from '../forward/support/upstream';
import { spawnService, type RunningService } from '../support/spawn-service';
import { cleanUpStores, STORE_ADAPTERS } from '../support/store-adapters';
import { ndjson } from '../support/ndjson';

const PATH = '/api/bitrix/webhook';
const TOKENS = `default=${WEBHOOK_TOKEN},app=${APP_TOKEN}`;
/** The credential keys that never leave the request path, wherever they sit in data (as on the direct path). */
const SECRET_KEYS = new Set(['application_token', 'access_token', 'refresh_token']);

/** The event's data as the application should see it: parsed from the wire body, every credential key left out. */
function expectedData(body: string): unknown {
  const redact = (value: unknown): unknown => {
    if (value === null || typeof value !== 'object') return value;
    return Object.fromEntries(
      Object.entries(value)
        .filter(([key]) => !SECRET_KEYS.has(key))
        .map(([key, v]) => [key, redact(v)]),
    );
  };
  return redact((qs.parse(body, { depth: 20 }) as Record<string, unknown>).data);
}

function field(body: string, key: string): string | null {
  return new URLSearchParams(body).get(key);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

after(cleanUpStores);

for (const adapter of STORE_ADAPTERS) {
  describe(`the incident, end to end to the application (${adapter.name}): outage, token fixed, replay, every event forwarded once`, function () {
    this.timeout(120_000);
    let service: RunningService | undefined;
    let upstream: Upstream;

    beforeEach(async () => {
      upstream = new Upstream();
      await upstream.start();
    });
    afterEach(async () => {
      await service?.stop();
      service = undefined;
      await upstream.stop();
    });

    it('quarantines every delivery of the outage, then forwards each, signed, exactly once after one replay; a second replay sends nothing', async () => {
      const env = await adapter.freshEnv();
      const forwarding = {
        ...env,
        FORWARD_URL: upstream.url,
        FORWARD_SIGNING_SECRET: SIGNING_SECRET,
        FORWARD_POLL_SECONDS: '0.05',
        FORWARD_BACKOFF_BASE_SECONDS: '0.05',
        FORWARD_BACKOFF_MAX_SECONDS: '0.1',
        SHUTDOWN_DRAIN_SECONDS: '0',
      };
      // Every real shape, and four more deals: ten distinct events of the outage.
      const deliveries = [
        ...everyShape(),
        ...[1, 2, 3, 4].map((n) => ({
          name: `deal ${n}`,
          body: CRM_DEAL_ADD.replace('=7405&', `=${n}&`),
          token: WEBHOOK_TOKEN,
          event: 'ONCRMDEALADD',
        })),
      ];

      // The outage: no token configured, forwarding configured.
      service = await spawnService({ env: forwarding });
      for (const delivery of deliveries) {
        const response = await fetch(`${service.url}${PATH}`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: delivery.body,
        });
        expect({ status: response.status, body: await response.json() }, delivery.name).to.deep.equal({
          status: 503,
          body: { status: 'rejected', reason: 'not_configured' },
        });
      }
      const quarantined = ndjson((await runCli(['quarantine', 'list', '--json'], env)).stdout);
      expect(quarantined.map((row) => [row.reason, row.event, row.releasedEventId])).to.deep.equal(
        deliveries.map((d) => ['not_configured', d.event, null]),
      );
      expect(upstream.received).to.deep.equal([]);
      expect(await service.stop()).to.equal(0);
      service = undefined;

      // The token fixed; the service restarted (its forwarder polling), then one replay.
      service = await spawnService({
        env: { ...forwarding, BITRIX24_WEBHOOK_TOKENS: TOKENS, QUARANTINE_AUTO_REPLAY: 'off' },
      });
      await service.waitForLog((line) => line.message === 'forwarding accepted events');
      expect(upstream.received).to.deep.equal([]);
      const replay = await runCli(['quarantine', 'replay', '--apply', '--json'], {
        ...env,
        BITRIX24_WEBHOOK_TOKENS: TOKENS,
      });
      expect(replay.code, replay.stderr).to.equal(0);
      const lines = ndjson(replay.stdout);
      expect(lines.at(-1)).to.deep.equal({
        summary: {
          apply: true,
          released: deliveries.length,
          would_release: 0,
          already_released: 0,
          mismatch: 0,
          portal_mismatch: 0,
          no_token: 0,
          not_replayable: 0,
        },
      });
      const eventIdOf = new Map(
        lines.filter((line) => line.outcome === 'released').map((line) => [line.id, line.event_id as string]),
      );
      expect([...eventIdOf.keys()].sort()).to.deep.equal(quarantined.map((row) => row.id).sort());

      await upstream.waitFor(() => upstream.received.length >= deliveries.length, 30_000, 'every event of the outage');
      // Nothing more comes in a while (a duplicate would come within a few polls).
      await sleep(1_000);
      const expected = quarantined.map((row, index) => {
        const delivery = deliveries[index]!;
        const id = eventIdOf.get(row.id)!;
        return {
          id,
          status: 200,
          verified: true,
          contentType: 'application/json',
          body: {
            id,
            webhook: delivery.token === WEBHOOK_TOKEN ? 'default' : 'app',
            event: delivery.event,
            event_handler_id: field(delivery.body, 'event_handler_id'),
            ts: field(delivery.body, 'ts'),
            portal: {
              domain: field(delivery.body, 'auth[domain]'),
              member_id: field(delivery.body, 'auth[member_id]'),
              verified: false,
            },
            data: expectedData(delivery.body),
            received_at: row.receivedAt,
          },
        };
      });
      const got = upstream.received.map((r) => ({
        id: r.id,
        status: r.status,
        verified: r.verified,
        contentType: r.contentType,
        body: JSON.parse(r.body) as unknown,
      }));
      const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id);
      expect(got.sort(byId)).to.deep.equal(expected.sort(byId));
      for (const r of upstream.received) {
        for (const secret of [WEBHOOK_TOKEN, APP_TOKEN])
          expect(r.body.includes(secret), `${secret.slice(0, 4)}… forwarded`).to.equal(false);
      }
      const stored = ndjson((await runCli(['events', 'list', '--json'], env)).stdout);
      expect(stored.map((event) => [event.id, event.status]).sort()).to.deep.equal(
        expected.map((e) => [e.id, 'delivered']).sort(),
      );

      // A second replay: nothing to release, nothing more sent.
      const again = await runCli(['quarantine', 'replay', '--apply', '--json'], {
        ...env,
        BITRIX24_WEBHOOK_TOKENS: TOKENS,
      });
      expect(again.code, again.stderr).to.equal(0);
      expect(ndjson(again.stdout).at(-1)).to.deep.equal({
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
      });
      await sleep(1_000);
      expect(upstream.received).to.have.length(deliveries.length);
      expect(ndjson((await runCli(['events', 'list', '--json'], env)).stdout)).to.have.length(deliveries.length);
    });
  });
}
