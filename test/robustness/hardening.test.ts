// Issue #8, items 1, 4 and 5: attacks that did not hold, each replayed through the real HTTP stack.

import { gzipSync } from 'node:zlib';
import { expect } from 'chai';
import * as fc from 'fast-check';
import request from 'supertest';
import { CRM_DEAL_ADD, dealAsJson, WEBHOOK_TOKEN, withoutToken } from '../support/bitrix-bodies';
import { startHarness, type Harness } from '../support/harness';
import { bearerToken } from '../../src/verify/extract';
import { Client } from './support/client';

const PATH = '/api/bitrix/webhook';
const FORM = 'application/x-www-form-urlencoded';
const ACCEPTED = { status: 'accepted' };
const rejected = (reason: string) => ({ status: 'rejected', reason });

describe('hardening against hostile input (issue #8)', function () {
  this.timeout(60_000);
  let harness: Harness;
  let client: Client;
  before(async () => {
    harness = await startHarness({ BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN });
    client = new Client(harness.url);
  });
  after(async () => {
    client?.close();
    await harness?.close();
  });

  // Exact bytes (supertest re-serializes a Buffer sent with a form Content-Type).
  const post = async (body: string | Buffer, headers: Record<string, string>) => {
    const answer = await client.send({ path: PATH, body, headers });
    return { status: answer.status, body: answer.json };
  };
  /** The `detail` of the one rejection log line written for the last request. */
  const lastRejectionDetail = () =>
    harness.logs.filter((line) => line.message === 'webhook delivery refused').at(-1)?.detail;
  const lastVerificationLine = () => harness.logs.filter((line) => line.message === 'webhook delivery refused').at(-1);

  describe('Authorization: Bearer is parsed in linear time (item 1)', () => {
    const spaces = ' '.repeat(16_000);
    const variants: Array<{ label: string; header: string; status: number; body: object }> = [
      { label: '16 000 spaces then "a b"', header: `Bearer${spaces}a b`, status: 401, body: rejected('token_missing') },
      {
        label: '16 000 tabs then "a b"',
        header: `Bearer${'\t'.repeat(16_000)}a b`,
        status: 401,
        body: rejected('token_missing'),
      },
      {
        label: 'spaces and tabs mixed, then "a b c"',
        header: `Bearer${' \t'.repeat(8_000)}a b c`,
        status: 401,
        body: rejected('token_missing'),
      },
      {
        label: 'a 16 000-character token',
        header: `Bearer ${'a'.repeat(16_000)}`,
        status: 403,
        body: rejected('token_mismatch'),
      },
      {
        label: '16 000 spaces before a valid token',
        header: `Bearer${spaces}${WEBHOOK_TOKEN}`,
        status: 200,
        body: ACCEPTED,
      },
      {
        label: 'a valid token followed by 16 000 spaces',
        header: `Bearer ${WEBHOOK_TOKEN}${spaces}`,
        status: 200,
        body: ACCEPTED,
      },
    ];

    const timed = async (header: string) => {
      const started = process.hrtime.bigint();
      const response = await request(harness.url).post(PATH).set('Authorization', header);
      return { response, ms: Number(process.hrtime.bigint() - started) / 1e6 };
    };
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

    it('answers every pathological header in a small multiple of a normal request, measured alongside', async () => {
      const normal: number[] = [];
      const slow: Record<string, number[]> = {};
      for (let round = 0; round < 5; round++) {
        for (const variant of variants) {
          // A normal request right before each hostile one: both see the same load on the machine.
          const reference = await timed(`Bearer ${WEBHOOK_TOKEN}`);
          expect(reference.response.status).to.equal(200);
          normal.push(reference.ms);
          const { response, ms } = await timed(variant.header);
          expect(response.status, variant.label).to.equal(variant.status);
          expect(response.body, variant.label).to.deep.equal(variant.body);
          slow[variant.label] ??= [];
          slow[variant.label].push(ms);
        }
      }
      const bound = 10 * median(normal) + 30;
      for (const [label, times] of Object.entries(slow)) {
        expect(
          median(times),
          `${label}: median ms vs bound ${bound.toFixed(1)} (normal median ${median(normal).toFixed(1)})`,
        ).to.be.below(bound);
      }
    });

    it('still accepts a real Bearer token, in any case of "Bearer", with spaces or tabs around it', async () => {
      for (const header of [`Bearer ${WEBHOOK_TOKEN}`, `bearer ${WEBHOOK_TOKEN}`, `BEARER\t${WEBHOOK_TOKEN}\t `]) {
        const response = await request(harness.url).post(PATH).set('Authorization', header);
        expect(response.status, header).to.equal(200);
        expect(response.body).to.deep.equal(ACCEPTED);
      }
    });

    it('reads a header exactly as the former pattern did, on short inputs', () => {
      const former = /^Bearer[ \t]+(\S*)[ \t]*$/i;
      const unit = fc.constantFrom(
        'B',
        'b',
        'e',
        'a',
        'r',
        'R',
        ' ',
        '\t',
        'x',
        '\u00a0',
        '\u3000',
        '\n',
        'Bearer',
        'bearer ',
      );
      fc.assert(
        fc.property(fc.string({ unit, maxLength: 12 }), (header) => {
          expect(bearerToken(header), JSON.stringify(header)).to.equal(former.exec(header)?.[1]);
        }),
        { numRuns: 2000 },
      );
    });
  });

  describe('one decision about media type, charset and coding (item 4)', () => {
    it('accepts application/json;; (empty parameters) and reads the token from the body', async () => {
      const response = await post(dealAsJson(WEBHOOK_TOKEN), { 'Content-Type': 'application/json;;' });
      expect(response.status).to.equal(200);
      expect(response.body).to.deep.equal(ACCEPTED);
    });

    it('accepts a form with ;; and a quoted charset', async () => {
      for (const type of [`${FORM};;`, `${FORM}; charset="UTF-8"`, `${FORM} ; CHARSET=utf8 ;`]) {
        const response = await post(CRM_DEAL_ADD, { 'Content-Type': type });
        expect(response.status, type).to.equal(200);
        expect(response.body).to.deep.equal(ACCEPTED);
      }
    });

    it('takes content-coding names case-insensitively (GZIP, Gzip, x-gzip)', async () => {
      for (const coding of ['GZIP', 'Gzip', 'x-gzip', ' gzip ']) {
        const response = await post(gzipSync(CRM_DEAL_ADD), { 'Content-Type': FORM, 'Content-Encoding': coding });
        expect(response.status, coding).to.equal(200);
        expect(response.body).to.deep.equal(ACCEPTED);
      }
    });

    it('refuses a charset other than UTF-8 with 415, naming the charset in the log detail', async () => {
      const cases: Array<[string, string, string]> = [
        [`${FORM}; charset=iso-8859-1`, CRM_DEAL_ADD, 'iso-8859-1'],
        [`${FORM}; charset=latin1`, CRM_DEAL_ADD, 'latin1'],
        ['application/json; charset=windows-1251', dealAsJson(WEBHOOK_TOKEN), 'windows-1251'],
        ['application/json; charset="UTF-16"', dealAsJson(WEBHOOK_TOKEN), 'utf-16'],
      ];
      for (const [type, body, charset] of cases) {
        const response = await post(body, { 'Content-Type': type });
        expect(response.status, type).to.equal(415);
        expect(response.body, type).to.deep.equal(rejected('unsupported_media_type'));
        expect(lastRejectionDetail(), type).to.equal(`unsupported charset "${charset}" (only UTF-8)`);
      }
    });

    it('refuses an unknown or stacked coding with 415, and an undecodable gzip body with 400', async () => {
      const cases: Array<[string, Buffer, number, string]> = [
        ['compress', Buffer.from(CRM_DEAL_ADD), 415, 'unsupported Content-Encoding "compress"'],
        ['gzip, gzip', gzipSync(gzipSync(CRM_DEAL_ADD)), 415, 'more than one Content-Encoding'],
        ['gzip', Buffer.from(CRM_DEAL_ADD), 400, 'body does not decode as gzip'],
      ];
      for (const [coding, body, status, detail] of cases) {
        const response = await post(body, { 'Content-Type': FORM, 'Content-Encoding': coding });
        expect(response.status, coding).to.equal(status);
        expect(response.body, coding).to.deep.equal(
          rejected(status === 415 ? 'unsupported_media_type' : 'malformed_body'),
        );
        expect(lastRejectionDetail(), coding).to.equal(detail);
      }
    });
  });

  describe('repeated keys parse as repeated; only real limits give 400 (item 5)', () => {
    const repeat = (part: string, times: number) => Array.from({ length: times }, () => part).join('&');

    it('accepts a valid token beside x=1 repeated 21 times, and as often as the parameter limit allows', async () => {
      for (const times of [21, 1000 - CRM_DEAL_ADD.split('&').length]) {
        const response = await post(`${CRM_DEAL_ADD}&${repeat('x=1', times)}`, { 'Content-Type': FORM });
        expect(response.status, `x=1 ×${times}`).to.equal(200);
        expect(response.body).to.deep.equal(ACCEPTED);
      }
    });

    it('answers a token key repeated 21 times with 401 and not_a_token: repeated', async () => {
      const body = `${withoutToken(CRM_DEAL_ADD)}&${repeat(`auth%5Bapplication_token%5D=${WEBHOOK_TOKEN}`, 21)}`;
      const response = await post(body, { 'Content-Type': FORM });
      expect(response.status).to.equal(401);
      expect(response.body).to.deep.equal(rejected('token_missing'));
      expect(lastVerificationLine()?.not_a_token).to.deep.equal([
        { location: 'auth[application_token]', reason: 'repeated' },
      ]);
    });

    it('answers more than 1000 parameters with 400 naming the parameter limit', async () => {
      const parameters = CRM_DEAL_ADD.split('&').length;
      const response = await post(`${CRM_DEAL_ADD}&${repeat('x=1', 1001 - parameters)}`, { 'Content-Type': FORM });
      expect(response.status).to.equal(400);
      expect(response.body).to.deep.equal(rejected('malformed_body'));
      expect(lastRejectionDetail()).to.equal('more than 1000 form parameters');
    });
  });
});
