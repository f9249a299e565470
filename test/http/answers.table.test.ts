// Issue #13: one table of exact answers. Each row is one request through the real HTTP stack (harness) and
// exactly one status with exactly one body. POST rows are the product method × content type × framing
// (Content-Length or chunked) × content encoding (identity, gzip) × body shape; the expected answer of each
// comes from the contract's order of checks (media type, then size/parse, then token), written out below.

import zlib from 'node:zlib';
import { expect } from 'chai';
import { CRM_DEAL_ADD, dealAsJson, WEBHOOK_TOKEN, APP_TOKEN, withoutToken } from '../support/bitrix-bodies';
import { exactRequest, type ExactRequest } from '../support/exact-request';
import { startHarness, type Harness } from '../support/harness';
import { fingerprint } from '../../src/verify/fingerprint';

const PATH = '/api/bitrix/webhook';
const WRONG = 'zz9y1ulvt2m6k5or90v9mg8nn32ozzz';
const BODY_LIMIT_BYTES = 16 * 1024;

const ANSWER = {
  200: { status: 'accepted' },
  400: { status: 'rejected', reason: 'malformed_body' },
  401: { status: 'rejected', reason: 'token_missing' },
  403: { status: 'rejected', reason: 'token_mismatch' },
  413: { status: 'rejected', reason: 'payload_too_large' },
  415: { status: 'rejected', reason: 'unsupported_media_type' },
  503: { status: 'rejected', reason: 'not_configured' },
} as const;
type WebhookStatus = keyof typeof ANSWER;

type ContentType = 'form' | 'json' | 'text' | 'none';
type Shape = 'valid' | 'missing' | 'wrong' | 'padded' | 'malformed' | 'oversized' | 'empty';
const CONTENT_TYPE_HEADER: Record<ContentType, string | undefined> = {
  form: 'application/x-www-form-urlencoded',
  json: 'application/json',
  text: 'text/plain',
  none: undefined,
};

const manyParameters = Array.from({ length: 1001 }, (_, index) => `p${index}=1`).join('&');
const pad = `&data%5BPAD%5D=${'x'.repeat(BODY_LIMIT_BYTES + 10)}`;

/** The body of each shape in the form encoding (also sent under a wrong or missing type: a proxy rewrote it). */
const FORM_BODY: Record<Shape, string> = {
  valid: CRM_DEAL_ADD,
  missing: withoutToken(CRM_DEAL_ADD),
  wrong: CRM_DEAL_ADD.replace(WEBHOOK_TOKEN, WRONG),
  padded: CRM_DEAL_ADD.replace(WEBHOOK_TOKEN, `+${WEBHOOK_TOKEN}+`),
  malformed: `${CRM_DEAL_ADD}&${manyParameters}`,
  oversized: `${CRM_DEAL_ADD}${pad}`,
  empty: '',
};
const JSON_BODY: Record<Shape, string> = {
  valid: dealAsJson(),
  missing: JSON.stringify({ event: 'ONCRMDEALADD', auth: { domain: 'some-domain.bitrix24.com' } }),
  wrong: dealAsJson(WRONG),
  padded: dealAsJson(` ${WEBHOOK_TOKEN} `),
  malformed: dealAsJson().slice(0, -1),
  oversized: JSON.stringify({ ...JSON.parse(dealAsJson()), pad: 'x'.repeat(BODY_LIMIT_BYTES + 10) }),
  empty: '',
};

/** The contract's order: a body of a type it cannot parse is refused first, then size and syntax, then the token. */
function expectedStatus(type: ContentType, shape: Shape, bytesOnWire: number, chunked: boolean): WebhookStatus {
  const carriesBody = bytesOnWire > 0 || chunked;
  if (carriesBody && (type === 'text' || type === 'none')) return 415;
  if (type === 'text' || type === 'none') return 401; // no body at all: nothing to parse, no token
  switch (shape) {
    case 'oversized':
      return 413;
    case 'malformed':
      return 400;
    case 'valid':
      return 200;
    case 'wrong':
    case 'padded':
      return 403;
    case 'missing':
    case 'empty':
      return 401;
  }
}

interface Row {
  name: string;
  request: ExactRequest;
  status: number;
  /** The exact JSON answer, or the exact text for answers the router writes itself. */
  json?: unknown;
  text?: string;
  allow?: string;
  harness?: 'configured' | 'unconfigured';
}

function postRows(): Row[] {
  const rows: Row[] = [];
  for (const type of ['form', 'json', 'text', 'none'] as const) {
    for (const chunked of [false, true]) {
      for (const encoding of ['identity', 'gzip'] as const) {
        for (const shape of ['valid', 'missing', 'wrong', 'padded', 'malformed', 'oversized', 'empty'] as const) {
          const plain = Buffer.from(type === 'json' ? JSON_BODY[shape] : FORM_BODY[shape], 'utf8');
          const body = encoding === 'gzip' ? zlib.gzipSync(plain) : plain;
          const headers: Record<string, string> = {};
          if (CONTENT_TYPE_HEADER[type]) headers['content-type'] = CONTENT_TYPE_HEADER[type]!;
          if (encoding === 'gzip') headers['content-encoding'] = 'gzip';
          const status = expectedStatus(type, shape, body.length, chunked);
          rows.push({
            name: `POST ${type} ${chunked ? 'chunked' : 'content-length'} ${encoding} ${shape} body → ${status}`,
            request: { method: 'POST', path: PATH, headers, body, chunked },
            status,
            json: ANSWER[status],
          });
        }
      }
    }
  }
  return rows;
}

const form = { 'content-type': 'application/x-www-form-urlencoded' };

function otherRows(): Row[] {
  const rows: Row[] = [];
  for (const method of ['GET', 'PUT', 'PATCH', 'DELETE']) {
    for (const [type, body] of [
      ['form', CRM_DEAL_ADD],
      ['json', dealAsJson()],
      ['text', CRM_DEAL_ADD],
    ] as const) {
      rows.push({
        name: `${method} ${type} body on the webhook route → 405 method_not_allowed`,
        request: { method, path: PATH, headers: { 'content-type': CONTENT_TYPE_HEADER[type]! }, body },
        status: 405,
        json: { status: 'method_not_allowed' },
        allow: 'POST',
      });
    }
  }
  rows.push(
    {
      name: 'GET without body on the webhook route → 405',
      request: { method: 'GET', path: PATH },
      status: 405,
      json: { status: 'method_not_allowed' },
      allow: 'POST',
    },
    {
      name: 'HEAD on the webhook route → 405, no body',
      request: { method: 'HEAD', path: PATH },
      status: 405,
      text: '',
      allow: 'POST',
    },
    {
      name: 'OPTIONS on the webhook route → 200, empty, Allow: POST',
      request: { method: 'OPTIONS', path: PATH },
      status: 200,
      text: '',
      allow: 'POST',
    },
    {
      name: 'PROPFIND on the webhook route → 501 (a method the router does not implement)',
      request: { method: 'PROPFIND', path: PATH },
      status: 501,
      text: 'Not Implemented',
      allow: 'POST',
    },
    {
      name: 'GET unknown path → 404 not_found',
      request: { method: 'GET', path: '/nope' },
      status: 404,
      json: { status: 'not_found' },
    },
    {
      name: 'POST valid delivery to an unknown path → 404 not_found',
      request: { method: 'POST', path: '/api/bitrix/webhooks', headers: form, body: CRM_DEAL_ADD },
      status: 404,
      json: { status: 'not_found' },
    },
    {
      name: 'POST valid delivery to a path below the route → 404 not_found',
      request: { method: 'POST', path: `${PATH}/x`, headers: form, body: CRM_DEAL_ADD },
      status: 404,
      json: { status: 'not_found' },
    },
    {
      name: 'OPTIONS unknown path → 404 not_found',
      request: { method: 'OPTIONS', path: '/nope' },
      status: 404,
      json: { status: 'not_found' },
    },
    { name: 'HEAD unknown path → 404, no body', request: { method: 'HEAD', path: '/nope' }, status: 404, text: '' },
    {
      name: 'POST valid delivery with a trailing slash → 200',
      request: { method: 'POST', path: `${PATH}/`, headers: form, body: CRM_DEAL_ADD },
      status: 200,
      json: ANSWER[200],
    },
    {
      name: 'POST without body or content type → 401',
      request: { method: 'POST', path: PATH },
      status: 401,
      json: ANSWER[401],
    },
    {
      name: 'POST token only in ?token= → 200',
      request: { method: 'POST', path: `${PATH}?token=${APP_TOKEN}`, headers: form, body: withoutToken(CRM_DEAL_ADD) },
      status: 200,
      json: ANSWER[200],
    },
    {
      name: 'POST padded token in ?token= → 403',
      request: {
        method: 'POST',
        path: `${PATH}?token=%20${APP_TOKEN}%20`,
        headers: form,
        body: withoutToken(CRM_DEAL_ADD),
      },
      status: 403,
      json: ANSWER[403],
    },
    {
      name: 'POST padded token in ?application_token= → 403',
      request: {
        method: 'POST',
        path: `${PATH}?application_token=${APP_TOKEN}%20`,
        headers: form,
        body: withoutToken(CRM_DEAL_ADD),
      },
      status: 403,
      json: ANSWER[403],
    },
    {
      name: 'POST token in X-Bitrix24-Token → 200',
      request: { method: 'POST', path: PATH, headers: { 'x-bitrix24-token': APP_TOKEN } },
      status: 200,
      json: ANSWER[200],
    },
    {
      name: 'POST wrong token in X-Bitrix24-Token → 403',
      request: { method: 'POST', path: PATH, headers: { 'x-bitrix24-token': WRONG } },
      status: 403,
      json: ANSWER[403],
    },
    {
      name: 'POST JSON array body → 401',
      request: { method: 'POST', path: PATH, headers: { 'content-type': 'application/json' }, body: '[1,2]' },
      status: 401,
      json: ANSWER[401],
    },
    {
      name: 'POST JSON scalar body → 400',
      request: { method: 'POST', path: PATH, headers: { 'content-type': 'application/json' }, body: '"x"' },
      status: 400,
      json: ANSWER[400],
    },
    {
      name: 'POST form body declared gzip but not gzip → 400',
      request: { method: 'POST', path: PATH, headers: { ...form, 'content-encoding': 'gzip' }, body: CRM_DEAL_ADD },
      status: 400,
      json: ANSWER[400],
    },
    {
      name: 'GET /healthz → 200 ok',
      request: { method: 'GET', path: '/healthz' },
      status: 200,
      json: { status: 'ok' },
    },
    {
      name: 'GET /readyz → 200 ready',
      request: { method: 'GET', path: '/readyz' },
      status: 200,
      json: {
        status: 'ready',
        tokens_configured: 2,
        tokens: [
          { name: 'crm', fingerprint: fingerprint(WEBHOOK_TOKEN) },
          { name: 'tasks', fingerprint: fingerprint(APP_TOKEN) },
        ],
        warnings: [],
      },
    },
  );
  const unconfigured: Array<[string, ExactRequest, number, unknown]> = [
    [
      'POST valid delivery, no token configured → 503',
      { path: PATH, headers: form, body: CRM_DEAL_ADD },
      503,
      ANSWER[503],
    ],
    [
      'POST delivery without token, no token configured → 503',
      { path: PATH, headers: form, body: withoutToken(CRM_DEAL_ADD) },
      503,
      ANSWER[503],
    ],
    [
      'POST gzip chunked valid delivery, no token configured → 503',
      {
        path: PATH,
        headers: { ...form, 'content-encoding': 'gzip' },
        body: zlib.gzipSync(CRM_DEAL_ADD),
        chunked: true,
      },
      503,
      ANSWER[503],
    ],
    [
      'POST text/plain, no token configured → 415 (type is checked first)',
      { path: PATH, headers: { 'content-type': 'text/plain' }, body: CRM_DEAL_ADD },
      415,
      ANSWER[415],
    ],
    [
      'POST oversized, no token configured → 413',
      { path: PATH, headers: form, body: FORM_BODY.oversized },
      413,
      ANSWER[413],
    ],
    [
      'POST malformed JSON, no token configured → 400',
      { path: PATH, headers: { 'content-type': 'application/json' }, body: '{' },
      400,
      ANSWER[400],
    ],
    [
      'GET /readyz, no token configured → 503 not_configured',
      { method: 'GET', path: '/readyz' },
      503,
      {
        status: 'not_ready',
        reason: 'not_configured',
        detail:
          'no webhook token configured: set BITRIX24_OUTGOING_WEBHOOK_TOKEN (or BITRIX24_WEBHOOK_TOKENS); every delivery is refused with 503 and quarantined',
        warnings: [],
      },
    ],
  ];
  for (const [name, request, status, json] of unconfigured)
    rows.push({ name, request, status, json, harness: 'unconfigured' });
  return rows;
}

describe('exact answers: one status and one body per request (table)', () => {
  const harnesses = {} as Record<'configured' | 'unconfigured', Harness>;
  before(async () => {
    harnesses.configured = await startHarness({
      BITRIX24_WEBHOOK_TOKENS: `crm=${WEBHOOK_TOKEN},tasks=${APP_TOKEN}`,
      BODY_LIMIT: '16kb',
    });
    harnesses.unconfigured = await startHarness({ BODY_LIMIT: '16kb' });
  });
  after(async () => {
    await harnesses.configured?.close();
    await harnesses.unconfigured?.close();
  });

  it('covers every status of the contract, 404 and 405 included', () => {
    const statuses = new Set([...postRows(), ...otherRows()].map((row) => row.status));
    expect([...statuses].sort()).to.deep.equal([200, 400, 401, 403, 404, 405, 413, 415, 501, 503]);
  });

  for (const row of [...postRows(), ...otherRows()]) {
    it(row.name, async () => {
      const harness = harnesses[row.harness ?? 'configured'];
      const eventsBefore = harness.events.length;
      const answer = await exactRequest(harness.url, row.request);
      const shown = `${answer.status} ${answer.text.slice(0, 200)}`;
      expect(answer.status, shown).to.equal(row.status);
      if (row.json !== undefined) {
        expect(answer.headers['content-type'], shown).to.equal('application/json; charset=utf-8');
        expect(JSON.parse(answer.text), shown).to.deep.equal(row.json);
      } else {
        expect(answer.text, shown).to.equal(row.text);
      }
      expect(answer.headers.allow, 'Allow header').to.equal(row.allow);
      // Exactly one event reaches the sink for an accepted delivery, none for anything else.
      const accepted =
        row.request.path.startsWith(PATH) && (row.request.method ?? 'POST') === 'POST' && row.status === 200;
      expect(harness.events.length - eventsBefore, 'events handed to the sink').to.equal(accepted ? 1 : 0);
    });
  }
});
