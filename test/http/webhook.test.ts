import net from 'node:net';
import { expect } from 'chai';
import request from 'supertest';
import {
  APP_TOKEN,
  BOT_ID,
  chatBotMessage,
  CRM_DEAL_ADD,
  dealAsJson,
  everyShape,
  flatParsedAsJson,
  httpBuildQuery,
  repeatedTokenKey,
  TASK_ADD,
  WEBHOOK_TOKEN,
  withoutToken,
} from '../support/bitrix-bodies';
import { startHarness, type Harness } from '../support/harness';
import type { JsonRecord } from '../support/ndjson';
import { fingerprint } from '../../src/verify/fingerprint';

const PATH = '/api/bitrix/webhook';
const FORM = 'application/x-www-form-urlencoded';
const TOKENS = { BITRIX24_WEBHOOK_TOKENS: `crm=${WEBHOOK_TOKEN},tasks=${APP_TOKEN}` };
const OTHER_TOKEN = 'zz9y1ulvt2m6k5or90v9mg8nn32ozzz';

/** Sends headers exactly as given, repeated ones included (HTTP clients fold or refuse them). */
function rawPost(url: string, path: string, headers: Array<[string, string]>): Promise<number> {
  const { hostname, port } = new URL(url);
  const head = [
    `POST ${path} HTTP/1.1`,
    `Host: ${hostname}`,
    ...headers.map(([name, value]) => `${name}: ${value}`),
    'Content-Length: 0',
    'Connection: close',
  ];
  return new Promise((resolve, reject) => {
    let answer = '';
    const socket = net.connect(Number(port), hostname, () => socket.write(`${head.join('\r\n')}\r\n\r\n`));
    socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
    socket.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0)));
    socket.on('error', reject);
  });
}

function post(harness: Harness, body: string, contentType = FORM, path = PATH) {
  return request(harness.url).post(path).set('Content-Type', contentType).send(body);
}

describe('POST /api/bitrix/webhook through the real HTTP stack', () => {
  let harness: Harness;
  afterEach(async () => harness?.close());

  describe('real Bitrix24 bodies, form-encoded as Bitrix24 sends them', () => {
    for (const shape of everyShape()) {
      it(`accepts ${shape.name} and hands the event to the sink without credentials`, async () => {
        harness = await startHarness(TOKENS);
        const response = await post(harness, shape.body);
        expect(response.status).to.equal(200);
        expect(response.body).to.deep.equal({ status: 'accepted' });
        expect(harness.events).to.have.length(1);
        const event = harness.events[0]!;
        expect(event.event).to.equal(shape.event);
        expect(event.webhook).to.equal(shape.token === WEBHOOK_TOKEN ? 'crm' : 'tasks');
        expect(event.portal.domain).to.equal('some-domain.bitrix24.com');
        expect(JSON.stringify(event)).not.to.include(shape.token);
      });
    }

    it('keeps Cyrillic text intact and numeric bot ids as object keys', async () => {
      harness = await startHarness(TOKENS);
      await post(harness, chatBotMessage()).expect(200);
      const data = harness.events[0]!.data as JsonRecord;
      expect(Array.isArray(data.BOT)).to.equal(false);
      expect(Object.keys(data.BOT)).to.deep.equal([BOT_ID]);
      expect(data.BOT[BOT_ID].BOT_CODE).to.equal('helper');
      expect(data.PARAMS.MESSAGE).to.equal('Добрый день! Где мой заказ?');
      expect(data.USER.NAME).to.equal('Иван Петров');
    });

    it('decides on the top-level auth[application_token], not the bot token repeated inside data', async () => {
      harness = await startHarness({ BITRIX24_OUTGOING_WEBHOOK_TOKEN: APP_TOKEN });
      const botTokenOnly = chatBotMessage(OTHER_TOKEN, APP_TOKEN);
      const response = await post(harness, botTokenOnly);
      expect(response.status).to.equal(403);
      expect(response.body).to.deep.equal({ status: 'rejected', reason: 'token_mismatch' });
      // ...and says why: the bot's own token is what is configured.
      const line = harness.logs.find((entry) => entry.message === 'webhook delivery refused')!;
      expect(line).to.deep.include({
        diagnosis: 'bot_token_configured',
        diagnosis_detail: 'data[BOT][567][AUTH][application_token]',
      });
      expect(JSON.stringify(harness.logs)).not.to.include(APP_TOKEN);
    });

    it('never takes the bot token for the outer one: without auth[application_token], a 401 even when the bot token is configured', async () => {
      harness = await startHarness({ BITRIX24_OUTGOING_WEBHOOK_TOKEN: APP_TOKEN });
      const response = await post(harness, withoutToken(chatBotMessage(APP_TOKEN, APP_TOKEN)));
      expect(response.status).to.equal(401);
      expect(harness.events).to.have.length(0);
    });

    it('accepts a chat-bot event on its outer token and warns, with fingerprints only, when the bot token differs', async () => {
      harness = await startHarness({ BITRIX24_OUTGOING_WEBHOOK_TOKEN: APP_TOKEN });
      // The same token inside and out: nothing to say.
      await post(harness, chatBotMessage(APP_TOKEN, APP_TOKEN)).expect(200);
      await post(harness, chatBotMessage(APP_TOKEN, OTHER_TOKEN)).expect(200);
      expect(
        harness.logs.filter((entry) => String(entry.message).startsWith('chat-bot event accepted')),
      ).to.have.length(1);
      const line = harness.logs.find((entry) => String(entry.message).startsWith('chat-bot event accepted'))!;
      expect(line).to.deep.include({
        level: 'warn',
        webhook: 'default',
        event: 'ONIMBOTMESSAGEADD',
        bot_token_location: 'data[BOT][567][AUTH][application_token]',
        bot_token_fingerprint: fingerprint(OTHER_TOKEN),
        bot_token_configured: false,
      });
      expect(JSON.stringify(harness.logs)).not.to.include(OTHER_TOKEN);
    });

    it('keeps task fields that arrive as the literal string "undefined"', async () => {
      harness = await startHarness(TOKENS);
      await post(harness, TASK_ADD).expect(200);
      expect(harness.events[0]!.data).to.deep.include({ FIELDS_BEFORE: 'undefined', IS_ACCESSIBLE_BEFORE: 'N' });
    });
  });

  describe('rejections', () => {
    it('answers 401 token_missing when no source holds a token', async () => {
      harness = await startHarness(TOKENS);
      const response = await post(harness, withoutToken(CRM_DEAL_ADD));
      expect(response.status).to.equal(401);
      expect(response.body).to.deep.equal({ status: 'rejected', reason: 'token_missing' });
      expect(harness.events).to.have.length(0);
    });

    it('answers 403 token_mismatch when the token matches no configured one', async () => {
      harness = await startHarness(TOKENS);
      const response = await post(harness, CRM_DEAL_ADD.replace(WEBHOOK_TOKEN, OTHER_TOKEN));
      expect(response.status).to.equal(403);
      expect(response.body).to.deep.equal({ status: 'rejected', reason: 'token_mismatch' });
    });

    it('answers 403 for a token that only differs in length (a prefix of the real one)', async () => {
      harness = await startHarness(TOKENS);
      await post(harness, CRM_DEAL_ADD.replace(WEBHOOK_TOKEN, WEBHOOK_TOKEN.slice(0, 31))).expect(403);
    });

    it('answers 503 not_configured when no token is configured, and counts it', async () => {
      harness = await startHarness({});
      const response = await post(harness, CRM_DEAL_ADD);
      expect(response.status).to.equal(503);
      expect(response.body).to.deep.equal({ status: 'rejected', reason: 'not_configured' });
      expect(await harness.metricsText()).to.include(
        'bitrix_webhook_requests_rejected_total{reason="not_configured"} 1',
      );
      const ready = await request(harness.url).get('/readyz');
      expect(ready.status).to.equal(503);
      expect(ready.body.reason).to.equal('not_configured');
    });

    it('answers 415 for a body that is neither form nor JSON (a proxy rewrote the type)', async () => {
      harness = await startHarness(TOKENS);
      const response = await post(harness, CRM_DEAL_ADD, 'text/plain');
      expect(response.status).to.equal(415);
      expect(response.body).to.deep.equal({ status: 'rejected', reason: 'unsupported_media_type' });
      expect(harness.logs.find((line) => line.reason === 'unsupported_media_type')).to.include({
        content_type: 'text/plain',
        level: 'warn',
      });
    });

    it('answers 413 for a body over BODY_LIMIT', async () => {
      harness = await startHarness({ ...TOKENS, BODY_LIMIT: '2kb' });
      const padded = `${CRM_DEAL_ADD}&data%5BPAD%5D=${'x'.repeat(3000)}`;
      const response = await post(harness, padded);
      expect(response.status).to.equal(413);
      expect(response.body).to.deep.equal({ status: 'rejected', reason: 'payload_too_large' });
      await post(harness, CRM_DEAL_ADD).expect(200);
    });

    it('answers 400 for unparseable JSON and for more parameters than the bound', async () => {
      harness = await startHarness(TOKENS);
      const broken = await post(harness, `{"auth":{"application_token":"${WEBHOOK_TOKEN}"`, 'application/json');
      expect(broken.status).to.equal(400);
      expect(broken.body).to.deep.equal({ status: 'rejected', reason: 'malformed_body' });
      const many = Array.from({ length: 1001 }, (_, index) => `p${index}=1`).join('&');
      const tooMany = await post(harness, `${CRM_DEAL_ADD}&${many}`);
      expect(tooMany.status).to.equal(400);
      expect(tooMany.body.reason).to.equal('malformed_body');
      const text = await harness.metricsText();
      expect(text).to.include('bitrix_webhook_requests_rejected_total{reason="malformed_body"} 2');
      expect(JSON.stringify(harness.logs)).not.to.include(WEBHOOK_TOKEN);
    });

    it('never answers 500 for odd requests, and answers 405/404 with JSON', async () => {
      harness = await startHarness(TOKENS);
      const get = await request(harness.url).get(PATH);
      expect(get.status).to.equal(405);
      const missing = await request(harness.url).get('/nope');
      expect(missing.status).to.equal(404);
      const empty = await request(harness.url).post(PATH);
      expect(empty.status).to.equal(401);
      const emptyJson = await post(harness, '', 'application/json');
      expect(emptyJson.status).to.equal(401);
      const jsonArray = await post(harness, '[1,2]', 'application/json');
      expect(jsonArray.status).to.equal(401);
    });
  });

  describe('token sources', () => {
    it('finds the token in the JSON body (auth.application_token)', async () => {
      harness = await startHarness(TOKENS);
      await post(harness, dealAsJson(), 'application/json').expect(200);
    });

    it('finds the token in a body left flat by a flat parser (key "auth[application_token]")', async () => {
      harness = await startHarness(TOKENS);
      await post(harness, flatParsedAsJson(), 'application/json').expect(200);
      const [delivery] = await harness.tracedDeliveries(1);
      const span = delivery!.extracts.find((s) => s.name === 'bitrix.token.extract.body')!;
      expect(span.attributes['bitrix.token.location']).to.equal('auth[application_token] (flat key)');
    });

    for (const parameter of ['application_token', 'token']) {
      it(`finds the token in ?${parameter}= on the handler URL`, async () => {
        harness = await startHarness(TOKENS);
        const response = await post(harness, withoutToken(CRM_DEAL_ADD), FORM, `${PATH}?${parameter}=${WEBHOOK_TOKEN}`);
        expect(response.status).to.equal(200);
        expect(await harness.metricsText()).to.include(
          'bitrix_webhook_token_verifications_total{result="accepted",source="query",webhook="crm"} 1',
        );
      });
    }

    it('finds the token in X-Bitrix24-Token and in Authorization: Bearer', async () => {
      harness = await startHarness(TOKENS);
      await request(harness.url).post(PATH).set('X-Bitrix24-Token', APP_TOKEN).expect(200);
      await request(harness.url).post(PATH).set('Authorization', `Bearer ${WEBHOOK_TOKEN}`).expect(200);
      await request(harness.url).post(PATH).set('Authorization', `Basic ${WEBHOOK_TOKEN}`).expect(401);
      const text = await harness.metricsText();
      expect(text).to.include(
        'bitrix_webhook_token_verifications_total{result="accepted",source="header",webhook="tasks"} 1',
      );
      expect(text).to.include(
        'bitrix_webhook_token_verifications_total{result="accepted",source="header",webhook="crm"} 1',
      );
    });

    it('looks only in the configured sources, in the configured order', async () => {
      harness = await startHarness({ ...TOKENS, BITRIX24_TOKEN_SOURCES: 'header,body' });
      await post(harness, withoutToken(CRM_DEAL_ADD), FORM, `${PATH}?token=${WEBHOOK_TOKEN}`).expect(401);
      const [delivery] = await harness.tracedDeliveries(1);
      const names = delivery!.extracts.map((s) => s.name);
      expect(names).to.deep.equal(['bitrix.token.extract.header', 'bitrix.token.extract.body']);
    });

    it('lets the first source decide when two sources disagree, and says so in the span and the log', async () => {
      harness = await startHarness(TOKENS);
      const response = await post(harness, CRM_DEAL_ADD, FORM, `${PATH}?token=${OTHER_TOKEN}`);
      expect(response.status).to.equal(200);
      const verify = (await harness.tracedDeliveries(1))[0]!.verify;
      expect(verify.attributes['bitrix.token.conflict']).to.equal(true);
      expect(verify.attributes['bitrix.token.source']).to.equal('body');

      const mismatch = await post(
        harness,
        CRM_DEAL_ADD.replace(WEBHOOK_TOKEN, OTHER_TOKEN),
        FORM,
        `${PATH}?token=${WEBHOOK_TOKEN}`,
      );
      expect(mismatch.status).to.equal(403);
      const line = harness.logs.find((l) => l.message === 'webhook delivery refused')!;
      expect(line).to.include({ conflict: true, result: 'mismatched', source: 'body' });
    });

    it('does not take a repeated token key for a token, and says which key was repeated', async () => {
      harness = await startHarness(TOKENS);
      const response = await post(harness, repeatedTokenKey());
      expect(response.status).to.equal(401);
      const line = harness.logs.find((l) => l.message === 'webhook delivery refused')!;
      expect(line.received).to.equal('none');
      expect(line.not_a_token).to.deep.equal([{ location: 'auth[application_token]', reason: 'repeated' }]);
    });

    it('does not take a repeated X-Bitrix24-Token header for a token', async () => {
      harness = await startHarness(TOKENS);
      const status = await rawPost(harness.url, PATH, [
        ['X-Bitrix24-Token', WEBHOOK_TOKEN],
        ['X-Bitrix24-Token', WEBHOOK_TOKEN],
      ]);
      expect(status).to.equal(401);
    });

    it('does not take an empty token for a token', async () => {
      harness = await startHarness(TOKENS);
      await post(harness, CRM_DEAL_ADD.replace(WEBHOOK_TOKEN, '')).expect(401);
    });
  });

  describe('named tokens and rotation', () => {
    it('accepts both tokens of a name during a rotation and labels the match with that name', async () => {
      harness = await startHarness({ BITRIX24_WEBHOOK_TOKENS: `crm=${WEBHOOK_TOKEN}\ncrm=${OTHER_TOKEN}` });
      await post(harness, CRM_DEAL_ADD).expect(200);
      await post(harness, CRM_DEAL_ADD.replace(WEBHOOK_TOKEN, OTHER_TOKEN)).expect(200);
      expect(await harness.metricsText()).to.include(
        'bitrix_webhook_token_verifications_total{result="accepted",source="body",webhook="crm"} 2',
      );
      const verify = (await harness.tracedDeliveries(2)).map((delivery) => delivery.verify);
      expect(verify.map((s) => s.attributes['bitrix.webhook.name'])).to.deep.equal(['crm', 'crm']);
    });

    it('combines the default token with named ones', async () => {
      harness = await startHarness({
        BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
        BITRIX24_WEBHOOK_TOKENS: `tasks=${APP_TOKEN}`,
      });
      await post(harness, CRM_DEAL_ADD).expect(200);
      await post(harness, TASK_ADD).expect(200);
      expect(harness.events.map((event) => event.webhook)).to.deep.equal(['default', 'tasks']);
    });
  });

  describe('pollution', () => {
    it('lets no __proto__ or constructor key of a form or JSON body reach any prototype', async () => {
      harness = await startHarness(TOKENS);
      const polluting = `${CRM_DEAL_ADD}&__proto__%5Bpolluted%5D=yes&constructor%5Bprototype%5D%5Bpolluted%5D=yes&data%5B__proto__%5D%5Bpolluted%5D=yes`;
      await post(harness, polluting).expect(200);
      const json = `{"__proto__":{"polluted":"yes"},"auth":{"application_token":"${WEBHOOK_TOKEN}","__proto__":{"polluted":"yes"}}}`;
      await post(harness, json, 'application/json').expect(200);
      expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
      expect(Object.hasOwn(Object.prototype, 'polluted')).to.equal(false);
    });

    it('does not take an inherited property for a token', async () => {
      harness = await startHarness(TOKENS);
      const body = httpBuildQuery({ event: 'ONCRMDEALADD', 'auth[__proto__][application_token]': WEBHOOK_TOKEN });
      await post(harness, body).expect(401);
    });
  });
});
