// Issue 19, the operator console and its JSON API through the real service process, on both stores: 404
// without ADMIN_TOKEN; sign-in (constant-time, rate-limited, logged) with a HttpOnly SameSite=Strict cookie;
// 401 without credentials, 403 without the CSRF token; a hostile quarantined body escaped in the page and exact
// in the API; dry run then apply; dead letters redelivered; MANAGEMENT_PORT; no answer holds a secret.
import net from 'node:net';
import { expect } from 'chai';
import { CRM_DEAL_ADD, WEBHOOK_TOKEN, withoutToken } from '../support/bitrix-bodies';
import { AdminClient, ADMIN_TOKEN, type Answer } from '../support/admin-client';
import type { JsonRecord } from '../support/ndjson';
import { SIGNING_SECRET, Upstream } from '../forward/support/upstream';
import { spawnService, type RunningService } from '../support/spawn-service';
import { cleanUpStores, STORE_ADAPTERS } from '../support/store-adapters';

const PATH = '/api/bitrix/webhook';
const WRONG_TOKEN = 'wr0ngt0ken0000000000000000000zzz';
const HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>\u0001\u0007\u001b[31m\u2028"\'&';
const SECRETS = [WEBHOOK_TOKEN, WRONG_TOKEN, ADMIN_TOKEN, SIGNING_SECRET, SIGNING_SECRET.slice(6)];

/** Every answer of a test goes through here: none may hold a token, the admin token or a secret. */
function clean(answer: Answer): Answer {
  const whole = `${[...answer.headers.entries()].map(([k, v]) => `${k}: ${v}`).join('\n')}\n${answer.text}`;
  for (const secret of SECRETS)
    expect(whole.includes(secret), `an answer holds ${secret.slice(0, 5)}…`).to.equal(false);
  return answer;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function post(
  service: RunningService,
  body: string,
  type = 'application/x-www-form-urlencoded',
): Promise<number> {
  const response = await fetch(`${service.url}${PATH}`, { method: 'POST', headers: { 'content-type': type }, body });
  await response.arrayBuffer();
  return response.status;
}

after(cleanUpStores);

describe('operator console: off without ADMIN_TOKEN', function () {
  this.timeout(60_000);
  it('answers 404 on every /admin path, GET and POST', async () => {
    const service = await spawnService({ env: { BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN } });
    try {
      const client = new AdminClient(service.url);
      for (const [method, path] of [
        ['GET', '/admin'],
        ['POST', '/admin/session'],
        ['GET', '/admin/api/status'],
        ['GET', '/admin/api/quarantine'],
        ['POST', '/admin/api/quarantine/replay'],
        ['GET', '/admin/api/events'],
        ['POST', '/admin/api/events/redeliver'],
      ] as const) {
        const answer = clean(
          await client.request(path, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }),
        );
        expect([method, path, answer.status], answer.text).to.deep.equal([method, path, 404]);
      }
    } finally {
      await service.stop();
    }
  });
});

for (const adapter of STORE_ADAPTERS) {
  describe(`operator console and its API (${adapter.name})`, function () {
    this.timeout(180_000);
    let service: RunningService;
    let upstream: Upstream;
    let client: AdminClient;
    let env: Record<string, string>;

    before(async () => {
      upstream = new Upstream();
      await upstream.start();
      // The application refuses the first event for good: one dead letter to redeliver.
      upstream.reply = (_request, nth) =>
        nth === 1 && upstream.received.length === 1 ? { status: 410 } : { status: 200 };
      env = {
        ...(await adapter.freshEnv()),
        ADMIN_TOKEN,
        FORWARD_URL: upstream.url,
        FORWARD_SIGNING_SECRET: SIGNING_SECRET,
        FORWARD_POLL_SECONDS: '0.05',
        SHUTDOWN_DRAIN_SECONDS: '0',
        BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
      };
      service = await spawnService({ env });
      client = new AdminClient(service.url);
      // One accepted (then dead), one hostile JSON body with a wrong token, one without a token.
      expect(await post(service, CRM_DEAL_ADD)).to.equal(200);
      const hostile = JSON.stringify({
        event: 'ONCRMDEALADD',
        data: { FIELDS: { TITLE: HOSTILE } },
        auth: { application_token: WRONG_TOKEN, domain: 'evil.example' },
      });
      expect(await post(service, hostile, 'application/json')).to.equal(403);
      expect(await post(service, withoutToken(CRM_DEAL_ADD))).to.equal(401);
      await upstream.waitFor(() => upstream.received.length >= 1, 20_000, 'the first event');
    });
    after(async () => {
      await service.stop();
      await upstream.stop();
    });

    it('shows the sign-in form without a session, with a strict CSP and no script', async () => {
      const page = clean(await client.request('/admin'));
      expect(page.status).to.equal(200);
      expect(page.headers.get('content-type')).to.equal('text/html; charset=utf-8');
      expect(page.text).to.include('<form method="post" action="/admin/session">').and.include('type="password"');
      const csp = page.headers.get('content-security-policy')!;
      expect(csp).to.match(
        /^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/=]+'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'$/,
      );
      expect(page.text).to.not.match(/<script|style="|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
      expect(page.headers.get('x-content-type-options')).to.equal('nosniff');
      expect(page.headers.get('cache-control')).to.equal('no-store');
    });

    it('refuses the API without credentials (401) and with a wrong Bearer token (401)', async () => {
      for (const headers of [
        {},
        { authorization: 'Bearer wrong-admin-token-000000000' },
        { authorization: 'Basic abc' },
      ] as Array<Record<string, string>>) {
        const answer = clean(await client.request('/admin/api/status', { headers }));
        expect([answer.status, answer.json]).to.deep.equal([401, { status: 'rejected', reason: 'unauthorized' }]);
      }
    });

    it('signs in with a HttpOnly SameSite=Strict cookie with an expiry (not Secure over plain HTTP); a wrong token is 401 and logged', async () => {
      const wrong = clean(await new AdminClient(service.url).signIn('not-the-admin-token-00000'));
      expect(wrong.status).to.equal(401);
      expect(wrong.headers.get('set-cookie')).to.equal(null);
      const failed = await service.waitForLog((line) => line.message === 'admin sign-in failed');
      expect(failed).to.deep.include({ level: 'warn', client: '127.0.0.1' });
      // Without TRUST_PROXY a client's X-Forwarded-Proto is not believed: no Secure flag over plain HTTP.
      const signed = clean(await client.signIn(ADMIN_TOKEN, { 'x-forwarded-proto': 'https' }));
      expect(signed.status).to.equal(303);
      expect(signed.headers.get('location')).to.equal('/admin');
      const cookie = signed.headers.get('set-cookie')!;
      expect(cookie).to.match(
        /^b24g_admin=[A-Za-z0-9_-]{24}\.\d{13}\.[A-Za-z0-9_-]{43}; path=\/admin; expires=[^;]+; samesite=strict; httponly$/,
      );
      expect(await service.waitForLog((line) => line.message === 'admin action: signed in')).to.deep.include({
        action: 'sign_in',
      });
    });

    it('rate-limits failed sign-ins per client: the sixth attempt within a minute is 429 even with the right token', async () => {
      const other = new AdminClient(service.url);
      const statuses: number[] = [];
      // The earlier test failed once already from this address.
      for (let attempt = 0; attempt < 4; attempt++)
        statuses.push(clean(await other.signIn(`wrong-${attempt}-admin-token-0000`)).status);
      const limited = clean(await other.signIn());
      expect([...statuses, limited.status]).to.deep.equal([401, 401, 401, 401, 429]);
      expect(Number(limited.headers.get('retry-after'))).to.be.within(1, 60);
      expect(
        await service.waitForLog((line) => line.message === 'admin sign-in refused: too many failed attempts'),
      ).to.deep.include({ level: 'warn' });
    });

    it('lists the quarantine; the hostile body is exact in the API and escaped in the page', async () => {
      const list = clean(await client.request('/admin/api/quarantine'));
      expect(list.status).to.equal(200);
      expect(list.json!.total).to.equal(2);
      expect(
        list.json!.items.map((item: JsonRecord) => [
          item.status,
          item.reason,
          item.diagnosis,
          item.event,
          item.portal_domain,
          item.released,
        ]),
      ).to.deep.equal([
        [403, 'token_mismatch', 'mismatch_bitrix24_shaped', 'ONCRMDEALADD', 'evil.example', false],
        [401, 'token_missing', 'auth_without_token', 'ONCRMDEALADD', 'some-domain.bitrix24.com', false],
      ]);
      const filtered = clean(await client.request('/admin/api/quarantine?reason=token_missing&limit=5'));
      expect(filtered.json!.total).to.equal(1);
      const hostileId = list.json!.items.find((item: JsonRecord) => item.reason === 'token_mismatch').id;
      const detail = clean(await client.request(`/admin/api/quarantine/${hostileId}`));
      expect(detail.status).to.equal(200);
      expect(JSON.parse(detail.json!.body).data.FIELDS.TITLE).to.equal(HOSTILE);
      expect(JSON.parse(detail.json!.body).auth.application_token).to.equal('REDACTED');
      expect(clean(await client.request('/admin/api/quarantine/NOPE0000')).status).to.equal(404);

      const page = clean(await client.request(`/admin/quarantine/${hostileId}`));
      expect(page.status).to.equal(200);
      expect(page.text).to.not.include('<script>alert').and.not.include('<img src=x');
      expect(page.text).to.include(
        '&lt;script&gt;alert(\\&quot;x\\&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;\\u0001\\u0007\\u001b[31m\\u2028',
      );
      expect(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u2028]/.test(page.text)).to.equal(false);
      const overview = clean(await client.request('/admin'));
      expect(overview.text)
        .to.include('mismatch_bitrix24_shaped')
        .and.include('What to do:')
        .and.include('<svg role="img"');
    });

    it('refuses a change with the session cookie but without the CSRF token (403); a dry run then apply releases nothing without a matching token', async () => {
      const noCsrf = clean(
        await client.request('/admin/api/quarantine/replay', { method: 'POST', jsonBody: { apply: true } }),
      );
      expect([noCsrf.status, noCsrf.json]).to.deep.equal([403, { status: 'rejected', reason: 'csrf' }]);
      const csrf = await client.csrf();
      const dry = clean(
        await client.request('/admin/api/quarantine/replay', {
          method: 'POST',
          jsonBody: { apply: false },
          headers: { 'x-csrf-token': csrf },
        }),
      );
      expect(dry.status).to.equal(200);
      expect(dry.json!.summary).to.deep.equal({
        released: 0,
        would_release: 0,
        already_released: 0,
        mismatch: 1,
        portal_mismatch: 0,
        no_token: 1,
        not_replayable: 0,
      });
      expect(dry.json!.skipped.map((item: JsonRecord) => [item.outcome, item.why]).sort()).to.deep.equal([
        ['mismatch', 'stays: its token matches no configured token'],
        ['no_token', 'stays: it carried no token (only an operator can release it, with a reason)'],
      ]);
      const bad = clean(
        await client.request('/admin/api/quarantine/replay', {
          method: 'POST',
          jsonBody: { apply: 'yes' },
          headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        }),
      );
      expect(bad.status).to.equal(400);
      const malformed = clean(
        await client.request('/admin/api/quarantine/replay', {
          method: 'POST',
          body: '{',
          headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        }),
      );
      expect(malformed.status).to.equal(400);
    });

    it('lists the dead letter with its last error and redelivers it (Bearer); the application gets it again', async () => {
      const bearer = { authorization: `Bearer ${ADMIN_TOKEN}` };
      const deadline = Date.now() + 20_000;
      let dead: Answer;
      for (;;) {
        dead = clean(await client.request('/admin/api/events?status=dead', { headers: bearer }));
        if (dead.json!.total !== 0 || Date.now() >= deadline) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(dead.json!.total).to.equal(1);
      expect(dead.json!.items[0]).to.deep.include({ status: 'dead', webhook: 'default', event: 'ONCRMDEALADD' });
      expect(dead.json!.items[0].last_error).to.match(/410/);
      const reset = clean(
        await client.request('/admin/api/events/redeliver', {
          method: 'POST',
          headers: bearer,
          jsonBody: { ids: [dead.json!.items[0].id] },
        }),
      );
      expect([reset.status, reset.json]).to.deep.equal([200, { reset: 1 }]);
      await upstream.waitFor(
        () => upstream.deliveredIds().includes(dead.json!.items[0].id),
        20_000,
        'the redelivered event',
      );
      expect(
        await service.waitForLog((line) => line.message === 'admin action: dead letters redelivered'),
      ).to.deep.include({ action: 'redeliver', reset: [dead.json!.items[0].id] });
      expect(
        clean(
          await client.request('/admin/api/events/redeliver', {
            method: 'POST',
            headers: bearer,
            jsonBody: { all_dead: true },
          }),
        ).json,
      ).to.deep.equal({ reset: 0 });
      const status = clean(await client.request('/admin/api/status', { headers: bearer }));
      expect(status.json!.tokens).to.deep.equal([{ name: 'default', fingerprint: status.json!.tokens[0].fingerprint }]);
      expect(status.json!.last_accepted).to.have.length(1);
      expect(status.json!.last_accepted[0]).to.deep.include({ webhook: 'default', portal: 'some-domain.bitrix24.com' });
      expect(status.json!.forwarding.upstreams['*']).to.match(/\?key=REDACTED$/);
      const metrics = clean(await client.request('/metrics')).text;
      expect(metrics.split('\n').filter((line) => line.startsWith('bitrix_webhook_admin_'))).to.deep.equal([
        // One wrong token, four more, then the rate-limited attempt.
        'bitrix_webhook_admin_sign_in_failures_total 6',
        'bitrix_webhook_admin_actions_total{action="sign_in"} 1',
        'bitrix_webhook_admin_actions_total{action="sign_out"} 0',
        'bitrix_webhook_admin_actions_total{action="replay"} 0',
        'bitrix_webhook_admin_actions_total{action="redeliver"} 2',
      ]);
    });
  });
}

describe('MANAGEMENT_PORT', function () {
  this.timeout(60_000);
  it('serves /admin, /metrics and the detailed /readyz on its own port; the public port has none of them', async () => {
    const managementPort = await freePort();
    const service = await spawnService({
      env: {
        BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
        ADMIN_TOKEN,
        MANAGEMENT_PORT: String(managementPort),
        TRUST_PROXY: 'on',
      },
    });
    try {
      await service.waitForLog((line) => line.message === 'management listening');
      expect(service.logs.find((line) => line.message === 'bitrix24-webhook-guard starting')).to.deep.include({
        admin_console: `on, port ${managementPort}`,
      });
      const management = `http://127.0.0.1:${managementPort}`;
      const pub = new AdminClient(service.url);
      expect(clean(await pub.request('/admin')).status).to.equal(404);
      expect(clean(await pub.request('/metrics')).status).to.equal(404);
      expect(clean(await pub.request('/readyz')).json).to.deep.equal({ status: 'ready' });
      const mgmt = new AdminClient(management);
      expect(clean(await mgmt.request('/admin')).status).to.equal(200);
      // Behind a trusted proxy that terminated HTTPS, the session cookie is Secure.
      const secure = clean(await mgmt.signIn(ADMIN_TOKEN, { 'x-forwarded-proto': 'https' }));
      expect(secure.headers.get('set-cookie')).to.match(/; samesite=strict; secure; httponly$/);
      expect(clean(await mgmt.request('/metrics')).text).to.include(
        'bitrix_webhook_quarantine_releases_total{how="console"} 0',
      );
      expect(clean(await mgmt.request('/readyz')).json).to.deep.include({ status: 'ready', tokens_configured: 1 });
      expect(
        clean(await mgmt.request('/admin/api/status', { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status,
      ).to.equal(200);
    } finally {
      await service.stop();
    }
  });
});
