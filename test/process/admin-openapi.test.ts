// Issue 19: docs/admin-api.openapi.json describes the console's API as the running service answers it. Every
// path, method and documented status is exercised against a real process, each JSON answer validated against
// its schema, each answer's status and content type found in the document; the validator itself is shown to
// refuse a wrong answer.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { CRM_DEAL_ADD, WEBHOOK_TOKEN, withoutToken } from '../support/bitrix-bodies';
import { AdminClient, ADMIN_TOKEN, type Answer } from '../support/admin-client';
import type { JsonRecord } from '../support/ndjson';
import { validate } from '../support/openapi-validate';
import { SIGNING_SECRET, Upstream } from '../forward/support/upstream';
import { spawnService, type RunningService } from '../support/spawn-service';

const DOCUMENT = JSON.parse(
  readFileSync(path.resolve(__dirname, '../../../docs/admin-api.openapi.json'), 'utf8'),
) as JsonRecord;
const BEARER = { authorization: `Bearer ${ADMIN_TOKEN}` };

describe('docs/admin-api.openapi.json against the running service', function () {
  this.timeout(120_000);
  let service: RunningService;
  let upstream: Upstream;
  let client: AdminClient;
  const exercised = new Set<string>();

  /** Checks one answer against the document (path template, method, status, content type, schema). */
  function conforms(template: string, method: string, answer: Answer): Answer {
    const whole = `${[...answer.headers.entries()].map(([k, v]) => `${k}: ${v}`).join('\n')}\n${answer.text}`;
    for (const secret of [WEBHOOK_TOKEN, ADMIN_TOKEN, SIGNING_SECRET])
      expect(whole.includes(secret), `${method} ${template} holds a secret`).to.equal(false);
    const operation = DOCUMENT.paths[template]?.[method];
    expect(operation, `${method} ${template} is not in the document`).to.exist;
    const response = operation.responses[String(answer.status)];
    expect(response, `${method} ${template} answered ${answer.status}, not documented: ${answer.text.slice(0, 200)}`).to
      .exist;
    exercised.add(`${method} ${template} ${answer.status}`);
    if (!response.content) return answer;
    const [type, { schema }] = Object.entries(response.content as Record<string, JsonRecord>)[0]!;
    expect(answer.headers.get('content-type')!.split(';')[0]).to.equal(type);
    if (type === 'application/json')
      expect(validate(DOCUMENT, schema, answer.json), `${method} ${template} ${answer.status}`).to.deep.equal([]);
    return answer;
  }

  before(async () => {
    upstream = new Upstream();
    await upstream.start();
    upstream.reply = () => ({ status: 410 });
    service = await spawnService({
      env: {
        BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
        ADMIN_TOKEN,
        FORWARD_URL: upstream.url,
        FORWARD_SIGNING_SECRET: SIGNING_SECRET,
        FORWARD_POLL_SECONDS: '0.05',
        SHUTDOWN_DRAIN_SECONDS: '0',
      },
    });
    client = new AdminClient(service.url);
    for (const body of [CRM_DEAL_ADD, withoutToken(CRM_DEAL_ADD)]) {
      await (
        await fetch(`${service.url}/api/bitrix/webhook`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body,
        })
      ).arrayBuffer();
    }
    await upstream.waitFor(() => upstream.received.length >= 1, 20_000, 'the event');
  });
  after(async () => {
    await service.stop();
    await upstream.stop();
  });

  it('answers every path as documented', async () => {
    conforms('/admin', 'get', await client.request('/admin'));
    conforms('/admin/session', 'post', await new AdminClient(service.url).signIn('wrong-admin-token-0000000000'));
    for (let attempt = 0; attempt < 5; attempt++)
      await new AdminClient(service.url).signIn('wrong-admin-token-0000000000');
    const limited = await new AdminClient(service.url).signIn();
    conforms('/admin/session', 'post', limited);
    // Sign-in from another address is not limited by this one's failures: the proxy's X-Forwarded-For is not
    // trusted here, so wait the window out instead of pretending to be another client.
    const wait = Number(limited.headers.get('retry-after'));
    await new Promise((resolve) => setTimeout(resolve, wait * 1000 + 200));
    conforms('/admin/session', 'post', await client.signIn());
    conforms('/admin', 'get', await client.request('/admin'));

    conforms('/admin/api/status', 'get', await client.request('/admin/api/status'));
    conforms(
      '/admin/api/status',
      'get',
      await client.request('/admin/api/status', { headers: { cookie: '', authorization: 'Bearer nope' } }),
    );
    const list = conforms(
      '/admin/api/quarantine',
      'get',
      await client.request('/admin/api/quarantine?limit=10', { headers: BEARER }),
    );
    conforms(
      '/admin/api/quarantine',
      'get',
      await client.request('/admin/api/quarantine?limit=0', { headers: BEARER }),
    );
    conforms('/admin/api/quarantine', 'get', await new AdminClient(service.url).request('/admin/api/quarantine'));
    conforms(
      '/admin/api/quarantine/{id}',
      'get',
      await client.request(`/admin/api/quarantine/${list.json!.items[0].id}`, { headers: BEARER }),
    );
    conforms(
      '/admin/api/quarantine/{id}',
      'get',
      await client.request('/admin/api/quarantine/00000000', { headers: BEARER }),
    );
    conforms(
      '/admin/api/quarantine/{id}',
      'get',
      await new AdminClient(service.url).request('/admin/api/quarantine/00000000'),
    );
    conforms(
      '/admin/api/quarantine/replay',
      'post',
      await client.request('/admin/api/quarantine/replay', { method: 'POST', jsonBody: { apply: false } }),
    );
    conforms(
      '/admin/api/quarantine/replay',
      'post',
      await client.request('/admin/api/quarantine/replay', {
        method: 'POST',
        jsonBody: { apply: true },
        headers: { 'x-csrf-token': await client.csrf() },
      }),
    );
    conforms(
      '/admin/api/quarantine/replay',
      'post',
      await client.request('/admin/api/quarantine/replay', {
        method: 'POST',
        jsonBody: { apply: true, ids: 'x' },
        headers: BEARER,
      }),
    );
    conforms(
      '/admin/api/quarantine/replay',
      'post',
      await new AdminClient(service.url).request('/admin/api/quarantine/replay', {
        method: 'POST',
        jsonBody: { apply: true },
      }),
    );

    let dead: Answer;
    const deadline = Date.now() + 20_000;
    for (;;) {
      dead = await client.request('/admin/api/events?status=dead', { headers: BEARER });
      if (dead.json!.total !== 0 || Date.now() >= deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    conforms('/admin/api/events', 'get', dead);
    conforms('/admin/api/events', 'get', await client.request('/admin/api/events?status=lost', { headers: BEARER }));
    conforms('/admin/api/events', 'get', await new AdminClient(service.url).request('/admin/api/events'));
    conforms(
      '/admin/api/events/redeliver',
      'post',
      await client.request('/admin/api/events/redeliver', {
        method: 'POST',
        jsonBody: { ids: [dead.json!.items[0].id] },
        headers: BEARER,
      }),
    );
    conforms(
      '/admin/api/events/redeliver',
      'post',
      await client.request('/admin/api/events/redeliver', { method: 'POST', jsonBody: { all_dead: true } }),
    );
    conforms(
      '/admin/api/events/redeliver',
      'post',
      await client.request('/admin/api/events/redeliver', {
        method: 'POST',
        jsonBody: { everything: 1 },
        headers: BEARER,
      }),
    );
    conforms(
      '/admin/api/events/redeliver',
      'post',
      await new AdminClient(service.url).request('/admin/api/events/redeliver', {
        method: 'POST',
        jsonBody: { all_dead: true },
      }),
    );

    const documented = Object.entries(DOCUMENT.paths as Record<string, JsonRecord>).flatMap(([template, methods]) =>
      Object.entries(methods).flatMap(([method, operation]) =>
        Object.keys(operation.responses).map((status) => `${method} ${template} ${status}`),
      ),
    );
    expect(documented.filter((entry) => !exercised.has(entry))).to.deep.equal([]);
  });

  it('the validator refuses an answer that departs from the document', () => {
    const schema =
      DOCUMENT.paths['/admin/api/events/redeliver'].post.responses['200'].content['application/json'].schema;
    expect(validate(DOCUMENT, schema, { reset: 1 })).to.deep.equal([]);
    expect(validate(DOCUMENT, schema, { reset: '1' })).to.have.length(1);
    expect(validate(DOCUMENT, schema, { reset: 1, token: 'x' })).to.deep.equal(['$: unexpected property token']);
    expect(validate(DOCUMENT, { $ref: '#/components/schemas/QuarantineItem' }, { id: 'x' }).length).to.be.above(3);
  });
});
