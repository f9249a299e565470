// Issue #13: a token padded with spaces is a different token. Bitrix24 tokens have no whitespace, so a padded
// value in the body or the query is a wrong token: 403 token_mismatch, never accepted after trimming, and the
// log names the fingerprint of exactly what arrived. Generated wrong tokens include padded real ones.
// (Headers are not here: HTTP itself strips a header value's surrounding spaces and tabs before any code sees it.)

import { expect } from 'chai';
import fc from 'fast-check';
import request from 'supertest';
import { fingerprint } from '../../src/verify/fingerprint';
import {
  APP_TOKEN,
  CRM_DEAL_ADD,
  dealAsJson,
  phpUrlencode,
  WEBHOOK_TOKEN,
  withoutToken,
} from '../support/bitrix-bodies';
import { startHarness, type Harness } from '../support/harness';

const PATH = '/api/bitrix/webhook';
const FORM = 'application/x-www-form-urlencoded';
const CONFIGURED = [WEBHOOK_TOKEN, APP_TOKEN];
const MISMATCH = { status: 'rejected', reason: 'token_mismatch' };

const PADDING = [' ', '  ', '\t', '\n', '\r\n', '\u00a0', '\u3000', '\u200b'];

/** Wrong tokens: real ones padded or cut, token-alphabet strings (padded or not), any non-empty text. */
const wrongToken = fc
  .oneof(
    fc
      .tuple(
        fc.constantFrom(...CONFIGURED),
        fc.constantFrom(...PADDING),
        fc.constantFrom(...PADDING),
        fc.constantFrom('before', 'after', 'both'),
      )
      .map(([token, left, right, where]) =>
        where === 'before' ? left + token : where === 'after' ? token + right : left + token + right,
      ),
    fc.constantFrom(...CONFIGURED).map((token) => token.slice(1)),
    fc
      .tuple(fc.stringMatching(/^[0-9a-z]{1,40}$/), fc.constantFrom('', ...PADDING))
      .map(([token, space]) => space + token + space),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 64 }),
  )
  .filter((candidate) => candidate !== '' && !CONFIGURED.includes(candidate));

describe('tokens padded with whitespace are wrong tokens (403), in every place they can arrive', () => {
  let harness: Harness;
  before(async () => {
    harness = await startHarness({ BITRIX24_WEBHOOK_TOKENS: `crm=${WEBHOOK_TOKEN},tasks=${APP_TOKEN}` });
  });
  after(async () => harness?.close());

  const padded = ` ${WEBHOOK_TOKEN} `;
  const places: Array<[string, () => request.Test]> = [
    [
      'form body, spaces as +',
      () =>
        request(harness.url)
          .post(PATH)
          .set('Content-Type', FORM)
          .send(CRM_DEAL_ADD.replace(WEBHOOK_TOKEN, phpUrlencode(padded))),
    ],
    [
      'form body, spaces as %20',
      () =>
        request(harness.url)
          .post(PATH)
          .set('Content-Type', FORM)
          .send(CRM_DEAL_ADD.replace(WEBHOOK_TOKEN, encodeURIComponent(padded))),
    ],
    [
      'JSON body',
      () => request(harness.url).post(PATH).set('Content-Type', 'application/json').send(dealAsJson(padded)),
    ],
    [
      'query ?token=',
      () =>
        request(harness.url)
          .post(`${PATH}?token=${encodeURIComponent(padded)}`)
          .set('Content-Type', FORM)
          .send(withoutToken(CRM_DEAL_ADD)),
    ],
    [
      'query ?application_token=',
      () =>
        request(harness.url)
          .post(`${PATH}?application_token=${encodeURIComponent(padded)}`)
          .set('Content-Type', FORM)
          .send(withoutToken(CRM_DEAL_ADD)),
    ],
  ];
  for (const [place, send] of places) {
    it(`answers 403 token_mismatch for " <token> " in the ${place}, and logs the padded value's fingerprint`, async () => {
      const linesBefore = harness.logs.length;
      const eventsBefore = harness.events.length;
      const response = await send();
      expect(response.status).to.equal(403);
      expect(response.body).to.deep.equal(MISMATCH);
      const lines = harness.logs.slice(linesBefore);
      expect(lines.map((line) => [line.message, line.received])).to.deep.equal([
        ['webhook delivery refused', fingerprint(padded)],
      ]);
      expect(harness.events.length - eventsBefore, 'events handed to the sink').to.equal(0);
    });
  }

  it('answers 403 with the exact body for generated wrong tokens (padded real ones included), in the form body, JSON body and query', async () => {
    const eventsBefore = harness.events.length;
    await fc.assert(
      fc.asyncProperty(wrongToken, fc.constantFrom('form', 'json', 'query'), async (candidate, place) => {
        const linesBefore = harness.logs.length;
        const response =
          place === 'form'
            ? await request(harness.url)
                .post(PATH)
                .set('Content-Type', FORM)
                .send(CRM_DEAL_ADD.replace(WEBHOOK_TOKEN, phpUrlencode(candidate)))
            : place === 'json'
              ? await request(harness.url)
                  .post(PATH)
                  .set('Content-Type', 'application/json')
                  .send(dealAsJson(candidate))
              : await request(harness.url)
                  .post(`${PATH}?token=${encodeURIComponent(candidate)}`)
                  .set('Content-Type', FORM)
                  .send(withoutToken(CRM_DEAL_ADD));
        expect(response.status, JSON.stringify(candidate)).to.equal(403);
        expect(response.body).to.deep.equal(MISMATCH);
        const line = harness.logs.slice(linesBefore).find((entry) => entry.message === 'webhook delivery refused');
        expect(line?.received, 'fingerprint of exactly what arrived').to.equal(fingerprint(candidate));
      }),
      { numRuns: 120 },
    );
    expect(harness.events.length - eventsBefore, 'events handed to the sink').to.equal(0);
  });
});
