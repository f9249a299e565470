import { expect } from 'chai';
import request from 'supertest';
import { APP_TOKEN, CRM_DEAL_ADD, chatBotMessage, flatParsedAsJson, repeatedTokenKey, WEBHOOK_TOKEN, withoutToken } from '../support/bitrix-bodies';
import { startHarness, type Harness } from '../support/harness';

const PATH = '/api/bitrix/webhook';
const FORM = 'application/x-www-form-urlencoded';
const ROTATED = 'k2p9y1ulvt2m6k5or90v9mg8nn32ozqq';
const WRONG = 'wr0ngy1ulvt2m6k5or90v9mg8nn32ozxx';
const SECRETS = [WEBHOOK_TOKEN, APP_TOKEN, ROTATED, WRONG];

describe('no token ever leaves the service', () => {
  let harness: Harness;
  const answers: string[] = [];
  after(async () => harness?.close());

  before(async () => {
    harness = await startHarness({
      BITRIX24_OUTGOING_WEBHOOK_TOKEN: ` "${WEBHOOK_TOKEN}" `,
      BITRIX24_WEBHOOK_TOKENS: `tasks=${APP_TOKEN}\ntasks=${ROTATED}`,
      LOG_LEVEL: 'debug',
    });
    const send = async (req: request.Test) => {
      const response = await req;
      answers.push(JSON.stringify(response.headers), response.text);
    };
    const post = (path = PATH) => request(harness.url).post(path).set('Content-Type', FORM);
    await send(post().send(CRM_DEAL_ADD));
    await send(post().send(CRM_DEAL_ADD.replace(WEBHOOK_TOKEN, WRONG)));
    await send(post().send(chatBotMessage(ROTATED, WRONG)));
    await send(post().send(repeatedTokenKey(WEBHOOK_TOKEN, WRONG)));
    await send(post(`${PATH}?token=${WRONG}`).send(withoutToken(CRM_DEAL_ADD)));
    await send(post(`${PATH}?application_token=${APP_TOKEN}&token=${WRONG}`).send(CRM_DEAL_ADD));
    await send(request(harness.url).post(PATH).set('X-Bitrix24-Token', WRONG).set('Authorization', `Bearer ${APP_TOKEN}`));
    await send(request(harness.url).post(PATH).set('Content-Type', 'application/json').send(flatParsedAsJson(WRONG)));
    await send(request(harness.url).post(PATH).set('Content-Type', 'application/json').send(`{"auth":{"application_token":"${WRONG}"`));
    await send(request(harness.url).post(PATH).set('Content-Type', 'text/plain').send(CRM_DEAL_ADD));
    await send(request(harness.url).get(`/nope?token=${WRONG}`));
    await harness.tracedDeliveries(8);
  });

  it('is in no answer', () => {
    expect(answers.length).to.equal(22);
    for (const secret of SECRETS) expect(answers.join('\n')).not.to.include(secret);
  });

  it('is in no log line, though the rejections are logged', () => {
    expect(harness.rawLogs.filter((line) => line.includes('"level":"warn"')).length).to.be.at.least(7);
    expect(harness.rawLogs.some((line) => line.includes('webhook delivery accepted'))).to.equal(true);
    for (const secret of SECRETS) expect(harness.rawLogs.join('\n')).not.to.include(secret);
  });

  it('is in no span name, attribute, status or event (HTTP and koa spans included)', () => {
    const spans = harness.spans.getFinishedSpans();
    expect(spans.some((span) => span.attributes['url.query'] !== undefined)).to.equal(true);
    const exported = JSON.stringify(
      spans.map((span) => ({ name: span.name, attributes: span.attributes, status: span.status, events: span.events, links: span.links })),
    );
    for (const secret of SECRETS) expect(exported).not.to.include(secret);
  });

  it('is in no metric, in either format', async () => {
    const text = (await harness.metricsText()) + (await harness.metricsText('application/openmetrics-text'));
    expect(text).to.include('bitrix_webhook_token_verifications_total');
    for (const secret of SECRETS) expect(text).not.to.include(secret);
  });
});
