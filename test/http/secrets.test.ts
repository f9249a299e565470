import { expect } from 'chai';
import request from 'supertest';
import { SpanKind } from '@opentelemetry/api';
import {
  APP_TOKEN,
  BOT_ID,
  CRM_DEAL_ADD,
  chatBotMessage,
  flatParsedAsJson,
  repeatedTokenKey,
  WEBHOOK_TOKEN,
  withoutToken,
} from '../support/bitrix-bodies';
import { startHarness, type Harness } from '../support/harness';
import { ATTR } from '../../src/vocabulary/names';
import { boundText } from '../../src/telemetry/bound-text';
import { redactQueryValues } from '../../src/telemetry/redact';
import { scrubSecrets } from '../../src/secrets/fields';

const PATH = '/api/bitrix/webhook';
const FORM = 'application/x-www-form-urlencoded';
const ROTATED = 'k2p9y1ulvt2m6k5or90v9mg8nn32ozqq';
const WRONG = 'wr0ngy1ulvt2m6k5or90v9mg8nn32ozxx';
const BOT_TOKEN = 'b0770ken5ecret000000000000000zz1';
/** A secret per query shape that the old exact-name redaction let through. */
const QUERY_SECRETS = Array.from({ length: 8 }, (_, i) => `qs${i}cretq1ulvt2m6k5or90v9mg8nn32o${i}`);
const SECRETS = [WEBHOOK_TOKEN, APP_TOKEN, ROTATED, WRONG, BOT_TOKEN, ...QUERY_SECRETS];
/** The query of each request that carries one, and the `url.query` the HTTP server span must show for it. */
const QUERIES: Array<[string, string]> = [
  [`Token=${QUERY_SECRETS[0]}`, 'Token=REDACTED'],
  [`TOKEN=${QUERY_SECRETS[1]}`, 'TOKEN=REDACTED'],
  [`Application_Token=${QUERY_SECRETS[2]}`, 'Application_Token=REDACTED'],
  [`access_token=${QUERY_SECRETS[3]}`, 'access_token=REDACTED'],
  [`token[]=${QUERY_SECRETS[4]}`, 'token[]=REDACTED'],
  [`auth%5Bapplication_token%5D=${QUERY_SECRETS[5]}`, 'auth%5Bapplication_token%5D=REDACTED'],
  [`x=1;token=${QUERY_SECRETS[6]}`, 'x=REDACTED;token=REDACTED'],
  [`a=${QUERY_SECRETS[7]}&&b`, 'a=REDACTED&&b'],
];
const EVIL_EVENT = `ONCRMDEALADD\u0007\r\n\u009b${'A'.repeat(300)}`;
const EVIL_DOMAIN = `evil.bitrix24.com\r\nlevel=error ${'d'.repeat(300)}`;
const LONG_AGENT = `agent\t${'u'.repeat(1000)}`;
const LONG_PATH = `${PATH}/${'p'.repeat(1000)}`;

describe('no token ever leaves the service', () => {
  let harness: Harness;
  const answers: string[] = [];
  let requests = 0;
  after(async () => harness?.close());

  before(async () => {
    harness = await startHarness({
      BITRIX24_OUTGOING_WEBHOOK_TOKEN: ` "${WEBHOOK_TOKEN}" `,
      BITRIX24_WEBHOOK_TOKENS: `tasks=${APP_TOKEN}\ntasks=${ROTATED}`,
      LOG_LEVEL: 'debug',
    });
    const send = async (req: request.Test) => {
      const response = await req;
      requests++;
      answers.push(JSON.stringify(response.headers), response.text);
    };
    const post = (path = PATH) => request(harness.url).post(path).set('Content-Type', FORM);
    await send(post().send(CRM_DEAL_ADD)); // 200
    await send(post().send(CRM_DEAL_ADD.replace(WEBHOOK_TOKEN, WRONG))); // 403
    await send(post().send(chatBotMessage(ROTATED, BOT_TOKEN))); // 200
    await send(post().send(repeatedTokenKey(WEBHOOK_TOKEN, WRONG))); // 401
    await send(post(`${PATH}?token=${WRONG}`).send(withoutToken(CRM_DEAL_ADD))); // 403
    await send(post(`${PATH}?application_token=${APP_TOKEN}&token=${WRONG}`).send(CRM_DEAL_ADD)); // 200
    await send(
      request(harness.url).post(PATH).set('X-Bitrix24-Token', WRONG).set('Authorization', `Bearer ${APP_TOKEN}`),
    ); // 403
    await send(request(harness.url).post(PATH).set('Content-Type', 'application/json').send(flatParsedAsJson(WRONG))); // 403
    await send(
      request(harness.url)
        .post(PATH)
        .set('Content-Type', 'application/json')
        .send(`{"auth":{"application_token":"${WRONG}"`),
    ); // 400
    await send(request(harness.url).post(PATH).set('Content-Type', 'text/plain').send(CRM_DEAL_ADD)); // 415
    await send(request(harness.url).get(`/nope?token=${WRONG}`)); // 404
    for (const [query] of QUERIES) await send(post(`${PATH}?${query}`).send(withoutToken(CRM_DEAL_ADD))); // 401 each
    const evil = CRM_DEAL_ADD.replace('event=ONCRMDEALADD', `event=${encodeURIComponent(EVIL_EVENT)}`).replace(
      'auth%5Bdomain%5D=some-domain.bitrix24.com',
      `auth%5Bdomain%5D=${encodeURIComponent(EVIL_DOMAIN)}`,
    );
    await send(post().set('User-Agent', LONG_AGENT).send(evil)); // 200
    await send(post(LONG_PATH).send(CRM_DEAL_ADD)); // 404
    await waitForServerSpans(harness, requests);
  });

  it('is in no answer', () => {
    expect(answers.length).to.equal(2 * 21);
    for (const secret of SECRETS) expect(answers.join('\n')).not.to.include(secret);
  });

  it('is in no log line, though the rejections are logged', () => {
    // 403 ×4, 401 ×(1 + 8), 400, 415, and the POST to a wrong path: one warn line each; and the accepted
    // chat-bot event whose bot token differs from its outer one (fingerprints only)
    expect(harness.rawLogs.filter((line) => line.includes('"level":"warn"')).length).to.equal(17);
    expect(harness.logs.filter((line) => line.message === 'webhook delivery accepted').length).to.equal(4);
    for (const secret of SECRETS) expect(harness.rawLogs.join('\n')).not.to.include(secret);
  });

  it('is in no span name, attribute, status or event (HTTP and koa spans included)', () => {
    const spans = harness.spans.getFinishedSpans();
    // The spans searched: one server span per request (21), and the verify spans of the webhook requests.
    expect(spans.filter((span) => span.kind === SpanKind.SERVER))
      .to.have.length(requests)
      .and.to.have.length(21);
    expect(
      spans.filter((span) => span.name === 'bitrix.token.verify'),
      'verify spans searched',
    ).to.not.be.empty;
    const exported = JSON.stringify(
      spans.map((span) => ({
        name: span.name,
        attributes: span.attributes,
        status: span.status,
        events: span.events,
        links: span.links,
      })),
    );
    for (const secret of SECRETS) expect(exported).not.to.include(secret);
  });

  it('exports every query with all its values redacted and its names kept', () => {
    const queries = harness.spans
      .getFinishedSpans()
      .filter((span) => span.kind === SpanKind.SERVER)
      .map((span) => span.attributes['url.query'])
      .filter((q) => q !== undefined);
    expect(queries).to.deep.equal([
      'token=REDACTED',
      'application_token=REDACTED&token=REDACTED',
      'token=REDACTED',
      ...QUERIES.map(([, redacted]) => redacted),
    ]);
  });

  it('hands the sink no credential field at any depth (a chat-bot event carries its bot token)', () => {
    expect(harness.events.length).to.equal(4);
    const bot = harness.events[1]!;
    expect(bot.event).to.equal('ONIMBOTMESSAGEADD');
    expect(JSON.parse(JSON.stringify(bot.data))).to.deep.equal({
      BOT: { [BOT_ID]: { BOT_ID, BOT_CODE: 'helper', AUTH: { domain: 'some-domain.bitrix24.com' } } },
      PARAMS: {
        DIALOG_ID: '1',
        MESSAGE: 'Добрый день! Где мой заказ?',
        FROM_USER_ID: '1',
        MESSAGE_ID: '4242',
        CHAT_TYPE: 'P',
      },
      USER: { ID: '1', NAME: 'Иван Петров', IS_EXTRANET: 'N' },
    });
    const stored = JSON.stringify(harness.events);
    for (const secret of SECRETS) expect(stored).not.to.include(secret);
    for (const field of ['application_token', 'access_token', 'refresh_token']) expect(stored).not.to.include(field);
  });

  it('bounds client-chosen strings in spans and logs and strips their control characters', () => {
    const spans = harness.spans.getFinishedSpans();
    const verify = spans.filter((span) => span.name === 'bitrix.token.verify').at(-1)!;
    const event = `ONCRMDEALADD${'A'.repeat(128 - 12)}`;
    const domain = `evil.bitrix24.comlevel=error ${'d'.repeat(128 - 29)}`;
    expect(verify.attributes[ATTR.event]).to.equal(event);
    expect(verify.attributes[ATTR.portalDomain]).to.equal(domain);
    const accepted = harness.logs.filter((line) => line.message === 'webhook delivery accepted').at(-1)!;
    expect({ event: accepted.event, portal_domain: accepted.portal_domain }).to.deep.equal({
      event,
      portal_domain: domain,
    });
    const servers = spans.filter((span) => span.kind === SpanKind.SERVER);
    expect(servers.at(-2)!.attributes['user_agent.original']).to.equal(`agent${'u'.repeat(251)}`);
    expect(servers.at(-1)!.attributes['url.path']).to.equal(`${PATH}/${'p'.repeat(256 - PATH.length - 1)}`);
    expect(servers.at(-1)!.attributes['http.response.status_code']).to.equal(404);
  });

  it('is in no metric, in either format', async () => {
    const text = (await harness.metricsText()) + (await harness.metricsText('application/openmetrics-text'));
    expect(text).to.include('bitrix_webhook_token_verifications_total');
    for (const secret of SECRETS) expect(text).not.to.include(secret);
  });
});

describe('the pure redaction and scrubbing functions', () => {
  it('redacts every query value and keeps every name and separator', () => {
    expect(redactQueryValues('')).to.equal('');
    expect(redactQueryValues('a')).to.equal('a');
    expect(redactQueryValues('a=&b==c&;=d')).to.equal('a=REDACTED&b=REDACTED&;=REDACTED');
    expect(redactQueryValues('x=1;TOKEN=s&token%5B%5D=s')).to.equal('x=REDACTED;TOKEN=REDACTED&token%5B%5D=REDACTED');
  });

  it('drops every credential field at any depth, whatever its case, and keeps the rest', () => {
    const nested = Object.assign(Object.create(null) as Record<string, unknown>, {
      Access_Token: 'x',
      keep: [{ refresh_token: 'y', v: 1 }, 'z'],
    });
    const scrubbed = scrubSecrets({
      a: { b: { application_token: 's', 'x[access_token]': 't', c: nested } },
      n: null,
      k: 2,
    });
    expect(JSON.parse(JSON.stringify(scrubbed))).to.deep.equal({
      a: { b: { c: { keep: [{ v: 1 }, 'z'] } } },
      n: null,
      k: 2,
    });
    expect(Object.getPrototypeOf((scrubbed as { a: { b: { c: object } } }).a.b.c)).to.equal(null);
  });

  it('scrubs a deeply nested value without recursion', () => {
    let deep: unknown = { application_token: 's' };
    for (let i = 0; i < 100_000; i++) deep = [deep];
    let scrubbed = scrubSecrets(deep);
    for (let i = 0; i < 100_000; i++) scrubbed = (scrubbed as unknown[])[0];
    expect(scrubbed).to.deep.equal({});
  });

  it('bounds text and removes control characters without splitting a surrogate pair', () => {
    expect(boundText('a\u0000b\u001fc\u007fd\u0085e\u2028f\u2029g\th\ni')).to.equal('abcdefghi');
    expect(boundText('x'.repeat(200))).to.equal('x'.repeat(128));
    expect(boundText('ab\u{1F600}', 3)).to.equal('ab');
  });
});

/** Every request's HTTP server span ends after its answer is written: wait until all of them are exported. */
async function waitForServerSpans(harness: Harness, count: number): Promise<void> {
  const deadline = Date.now() + 5000;
  while (harness.spans.getFinishedSpans().filter((span) => span.kind === SpanKind.SERVER).length < count) {
    if (Date.now() > deadline) throw new Error(`expected ${count} HTTP server spans`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
