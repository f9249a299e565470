// Issue #13: the exact rejection log line and the exact sink event for every real body shape, and the
// not-a-token attribute on the span for a repeated key. Requests go through exactRequest, so the header
// names the service sees are known exactly.

import { expect } from 'chai';
import { fingerprint } from '../../src/verify/fingerprint';
import {
  APP_TOKEN,
  everyShape,
  phpUrlencode,
  repeatedTokenKey,
  WEBHOOK_TOKEN,
  withoutToken,
} from '../support/bitrix-bodies';
import { exactRequest } from '../support/exact-request';
import { startHarness, type Harness, type LogLine } from '../support/harness';

const PATH = '/api/bitrix/webhook';
const FORM = 'application/x-www-form-urlencoded';
const HEADER_NAMES = ['connection', 'content-length', 'content-type', 'host'];
const DOMAIN = 'some-domain.bitrix24.com';
const WEBHOOK_MEMBER = 'd897063e1ce7c5eb9f04b9751eef5915';
const APP_MEMBER = 'a223c6b3710f85df22e9377d6c4f7553';
const BODY_NOT_FOUND = 'auth[application_token], auth[application_token] (flat key)';
const QUERY_NOT_FOUND = 'query application_token, query token';
const HEADER_NOT_FOUND = 'header x-bitrix24-token, header authorization (Bearer)';

/** What the sink must receive for each shape of everyShape(), written out from the fixtures, by name. */
const SINK_EVENT: Record<
  string,
  { webhook: string; event: string; eventHandlerId: string | undefined; ts: string; memberId: string; data: unknown }
> = {
  'CRM deal added (verbatim sample)': {
    webhook: 'crm',
    event: 'ONCRMDEALADD',
    eventHandlerId: '975',
    ts: '1766047124',
    memberId: WEBHOOK_MEMBER,
    data: { FIELDS: { ID: '7405' } },
  },
  'task added (verbatim sample)': {
    webhook: 'tasks',
    event: 'ONTASKADD',
    eventHandlerId: undefined,
    ts: '1466439714',
    memberId: APP_MEMBER,
    data: {
      FIELDS_BEFORE: 'undefined',
      FIELDS_AFTER: { ID: '123' },
      IS_ACCESSIBLE_BEFORE: 'N',
      IS_ACCESSIBLE_AFTER: 'undefined',
    },
  },
  'deal updated, Cyrillic text': {
    webhook: 'crm',
    event: 'ONCRMDEALUPDATE',
    eventHandlerId: '976',
    ts: '1766047200',
    memberId: WEBHOOK_MEMBER,
    data: { FIELDS: { ID: '7405', TITLE: 'Сделка №1: поставка «Ёлки»', COMMENTS: 'Привет, мир & друзья' } },
  },
  'chat-bot message, numeric bot id': {
    webhook: 'tasks',
    event: 'ONIMBOTMESSAGEADD',
    eventHandlerId: undefined,
    ts: '1766047300',
    memberId: APP_MEMBER,
    data: {
      // The bot's own credentials (access_token, AUTH.application_token) never leave the request path.
      BOT: { '567': { BOT_ID: '567', BOT_CODE: 'helper', AUTH: { domain: DOMAIN } } },
      PARAMS: {
        DIALOG_ID: '1',
        MESSAGE: 'Добрый день! Где мой заказ?',
        FROM_USER_ID: '1',
        MESSAGE_ID: '4242',
        CHAT_TYPE: 'P',
      },
      USER: { ID: '1', NAME: 'Иван Петров', IS_EXTRANET: 'N' },
    },
  },
  'application uninstalled': {
    webhook: 'tasks',
    event: 'ONAPPUNINSTALL',
    eventHandlerId: undefined,
    ts: '1766047400',
    memberId: APP_MEMBER,
    data: { LANGUAGE_ID: 'ru', CLEAN: '0' },
  },
  'event.test (ONAPPTEST)': {
    webhook: 'tasks',
    event: 'ONAPPTEST',
    eventHandlerId: '12',
    ts: '1766047500',
    memberId: APP_MEMBER,
    data: { FIELDS: { QUERY: 'test' } },
  },
};

function post(harness: Harness, body: string, path = PATH) {
  return exactRequest(harness.url, { path, headers: { 'content-type': FORM }, body });
}

const rejectionLines = (harness: Harness) => harness.logs.filter((line) => line.message === 'webhook delivery refused');

/** The line without the values only the run knows (timestamp, ids), which are checked on their own. */
async function exactLine(harness: Harness, line: LogLine): Promise<Record<string, unknown>> {
  const { timestamp, trace_id, span_id, ...rest } = line;
  expect(timestamp)
    .to.be.a('string')
    .and.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  const [delivery] = await harness.tracedDeliveries(1);
  expect(trace_id, 'trace_id of the delivery').to.equal(delivery!.verify.spanContext().traceId);
  // The handler runs inside the service's HTTP server span; the verify span has ended by the time the line is written.
  const active = delivery!.all.find((span) => span.spanContext().spanId === span_id);
  expect(active?.name, 'span_id: the server span of the delivery').to.equal(`POST ${PATH}`);
  return rest;
}

/** The fields every refused form delivery's line shares here; each test names those that differ. */
function refusedLine(sent: string, differing: Record<string, unknown>): Record<string, unknown> {
  return {
    level: 'warn',
    message: 'webhook delivery refused',
    stage: 'verify',
    sources_checked: ['body', 'query', 'header'],
    conflict: false,
    path: PATH,
    header_names: HEADER_NAMES,
    content_type: FORM,
    content_length: String(Buffer.byteLength(sent)),
    portal_domain: DOMAIN,
    ...differing,
  };
}
describe('exact rejection log line and exact sink event, for every real body shape', () => {
  let harness: Harness;
  beforeEach(async () => {
    harness = await startHarness({ BITRIX24_WEBHOOK_TOKENS: `crm=${WEBHOOK_TOKEN},tasks=${APP_TOKEN}` });
  });
  afterEach(async () => harness?.close());

  it('has an expected sink event for every shape of the fixtures', () => {
    expect(everyShape().map((shape) => shape.name)).to.have.members(Object.keys(SINK_EVENT));
  });

  for (const shape of everyShape()) {
    it(`${shape.name}: hands the sink exactly the event, without credentials`, async () => {
      const before = Date.now();
      const answer = await post(harness, shape.body);
      const after = Date.now();
      expect([answer.status, JSON.parse(answer.text)]).to.deep.equal([200, { status: 'accepted' }]);
      expect(harness.events).to.have.length(1);
      const { receivedAt, ...event } = harness.events[0]!;
      expect(receivedAt).to.be.instanceOf(Date);
      expect(receivedAt.getTime()).to.be.within(before, after);
      const expected = SINK_EVENT[shape.name]!;
      expect(event).to.deep.equal({
        webhook: expected.webhook,
        event: expected.event,
        eventHandlerId: expected.eventHandlerId,
        ts: expected.ts,
        portal: { domain: DOMAIN, memberId: expected.memberId },
        data: expected.data,
      });
      expect(Object.keys(harness.events[0]!)).to.deep.equal([
        'webhook',
        'event',
        'eventHandlerId',
        'ts',
        'portal',
        'data',
        'receivedAt',
      ]);
      expect(JSON.stringify(harness.events[0])).not.to.include(shape.token);
      expect(rejectionLines(harness)).to.deep.equal([]);
    });

    it(`${shape.name}: logs exactly one rejection line for a padded (wrong) token`, async () => {
      const padded = ` ${shape.token} `;
      const sent = shape.body.replace(shape.token, phpUrlencode(padded));
      const answer = await post(harness, sent);
      expect([answer.status, JSON.parse(answer.text)]).to.deep.equal([
        403,
        { status: 'rejected', reason: 'token_mismatch' },
      ]);
      const lines = rejectionLines(harness);
      expect(lines).to.have.length(1);
      expect(await exactLine(harness, lines[0]!)).to.deep.equal(
        refusedLine(sent, {
          result: 'mismatched',
          reason: 'token_mismatch',
          diagnosis: 'mismatch_not_bitrix24_shaped',
          diagnosis_detail: 'auth[application_token]',
          received: fingerprint(padded),
          source: 'body',
          locations_checked: ['auth[application_token]', QUERY_NOT_FOUND, HEADER_NOT_FOUND],
          not_a_token: [],
          event: shape.event,
        }),
      );
      expect(harness.events).to.deep.equal([]);
    });

    it(`${shape.name}: logs exactly one rejection line when the token is missing`, async () => {
      const sent = withoutToken(shape.body);
      const answer = await post(harness, sent);
      expect([answer.status, JSON.parse(answer.text)]).to.deep.equal([
        401,
        { status: 'rejected', reason: 'token_missing' },
      ]);
      const lines = rejectionLines(harness);
      expect(lines).to.have.length(1);
      expect(await exactLine(harness, lines[0]!)).to.deep.equal(
        refusedLine(sent, {
          result: 'missing',
          reason: 'token_missing',
          diagnosis: 'auth_without_token',
          received: 'none',
          source: 'none',
          locations_checked: [BODY_NOT_FOUND, QUERY_NOT_FOUND, HEADER_NOT_FOUND],
          not_a_token: [],
          event: shape.event,
        }),
      );
    });
  }

  it('a repeated token key: the exact line with not_a_token, and bitrix.token.not_a_token on the body span', async () => {
    const sent = repeatedTokenKey();
    const answer = await post(harness, sent, `${PATH}?token=${encodeURIComponent(` ${WEBHOOK_TOKEN}`)}`);
    expect([answer.status, JSON.parse(answer.text)]).to.deep.equal([
      403,
      { status: 'rejected', reason: 'token_mismatch' },
    ]);
    const lines = rejectionLines(harness);
    expect(lines).to.have.length(1);
    expect(await exactLine(harness, lines[0]!)).to.deep.equal(
      refusedLine(sent, {
        result: 'mismatched',
        reason: 'token_mismatch',
        diagnosis: 'mismatch_not_bitrix24_shaped',
        diagnosis_detail: 'query token',
        received: fingerprint(` ${WEBHOOK_TOKEN}`),
        source: 'query',
        locations_checked: [BODY_NOT_FOUND, 'query token', HEADER_NOT_FOUND],
        not_a_token: [{ location: 'auth[application_token]', reason: 'repeated' }],
        event: 'ONCRMDEALADD',
      }),
    );
    const [delivery] = await harness.tracedDeliveries(1);
    expect(delivery!.extracts.map((span) => [span.name, span.attributes])).to.deep.equal([
      [
        'bitrix.token.extract.body',
        {
          'bitrix.token.source': 'body',
          'bitrix.token.found': false,
          'bitrix.token.location': BODY_NOT_FOUND,
          'bitrix.token.not_a_token': ['auth[application_token]: repeated'],
        },
      ],
      [
        'bitrix.token.extract.query',
        {
          'bitrix.token.source': 'query',
          'bitrix.token.found': true,
          'bitrix.token.location': 'query token',
          'bitrix.token.fingerprint': fingerprint(` ${WEBHOOK_TOKEN}`),
        },
      ],
      [
        'bitrix.token.extract.header',
        {
          'bitrix.token.source': 'header',
          'bitrix.token.found': false,
          'bitrix.token.location': HEADER_NOT_FOUND,
        },
      ],
    ]);
  });
});
