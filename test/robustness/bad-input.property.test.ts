// Issue #5: whatever arrives on the public webhook route, the running service answers with one of the
// contract's codes (never a 500), keeps serving, is not polluted, and counts every request.
// Property-based (fast-check) against the real service over HTTP; the seed is printed on failure.

import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { expect } from 'chai';
import * as fc from 'fast-check';
import {
  METRIC,
  OTHER_EVENT,
  REJECTION_REASONS,
  UNKNOWN_WEBHOOK,
  VERIFICATION_RESULTS,
  VERIFICATION_SOURCES,
} from '../../src/vocabulary/names';
import {
  deliveryShapes,
  httpBuildQuery,
  makeToken,
  phpUrlencode,
  FORM_CONTENT_TYPE,
  type FormObject,
} from '../../scripts/bench/deliveries';
import {
  useRunningService,
  expectContractAnswer,
  CONTRACT_ANSWERS,
  type Answer,
  type SendOptions,
} from './support/client';
import { labelValues, scrape, sumOf, type Sample } from './support/prometheus-text';

const TOKEN = makeToken(101);
const WRONG = makeToken(102);
const LIMIT = 256 * 1024; // BODY_LIMIT default `256kb`
const RUNS = Number(process.env.ROBUSTNESS_RUNS ?? 200);
const EVENT_NAME = /^ON[A-Z0-9_]{1,64}$/;

// ------------------------------------------------------------------------------------------------------------
// Building blocks

const printable = fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c));
const visible = (maxLength: number) => fc.string({ unit: printable, maxLength });
const fromChars = (chars: string, maxLength: number, minLength = 0) =>
  fc.string({ unit: fc.constantFrom(...chars.split('')), minLength, maxLength });

/** The parts of a delivery with no token at all: `k=v` strings, form-encoded as Bitrix24 does. */
function partsWithoutToken(shape: number): string[] {
  const data = deliveryShapes(undefined)[shape]!.data;
  return httpBuildQuery(data).split('&');
}
const SHAPES = deliveryShapes(undefined).length;
const shapeArb = fc.integer({ min: 0, max: SHAPES - 1 });

/** Query strings that carry no token (keys other than `token` / `application_token`). */
const harmlessQuery = fc.oneof(
  fc.constant(''),
  fc.constantFrom(
    '?a=1',
    '?x[y]=z',
    '?%zz=%E0%A4%A',
    '?tokens=1',
    '?app_token=x',
    '?&&=&',
    `?a=${'%41'.repeat(300)}`,
    '?%D1%83%D1%82%D1%84=8',
  ),
  fc.array(fc.tuple(fromChars('abcxyz[]%.09', 8, 1), fromChars('abcXYZ%=09+', 12)), { maxLength: 20 }).map((pairs) =>
    pairs.length
      ? `?${pairs
          .filter(([k]) => !/token/.test(k))
          .map(([k, v]) => `${k}=${v}`)
          .join('&')}`
      : '',
  ),
);

/** Headers that carry no token. */
const harmlessHeaders = fc.dictionary(
  fc.constantFrom(
    'user-agent',
    'accept',
    'x-forwarded-for',
    'x-real-ip',
    'x-request-id',
    'cookie',
    'origin',
    'referer',
    'traceparent',
    'tracestate',
    'baggage',
    'accept-language',
    'x-bitrix24-signature',
    'forwarded',
    'via',
  ),
  fc.oneof(
    visible(120),
    fc.constantFrom(
      '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      '00-00000000000000000000000000000000-0000000000000000-01',
      'ff-zz-yy-xx',
      `00-${'a'.repeat(200)}`,
      'Bitrix24 Webhook Engine',
      '%FF%FE',
      'k=v,'.repeat(100),
    ),
  ),
  { maxKeys: 6 },
);

// ------------------------------------------------------------------------------------------------------------
// Requests whose one right answer is computed from the generated input (the oracle below), not allowed in a set.

/** What one place offers the verification: a token (one non-empty string), or nothing usable. */
type Offered = string | undefined;

interface GeneratedBody {
  bytes: Buffer;
  /** What the body offers when read as a form (known by construction). */
  asForm: Offered;
  label: string;
}

/** Form junk that holds no token key: keys from an alphabet that cannot spell `auth` or `token`. */
const junkPart = fc
  .tuple(
    fromChars('bcxyz09[]%.+_-', 10, 1),
    fc.oneof(fromChars('abcXYZ%=09+;', 12), fc.constantFrom('%', '%zz', '%E0%A4%A', '%FF', '%00', '')),
  )
  .map(([k, v]) => `${k}=${v}`);
/** A key repeated 1 to 60 times (qs's former array limit was 20). */
const repeatedPart = fc
  .tuple(fc.constantFrom('x', 'data%5BFIELDS%5D%5BID%5D', 'event_handler_id', 'z[]'), fc.integer({ min: 1, max: 60 }))
  .map(([k, n]) => Array.from({ length: n }, (_, i) => `${k}=${i}`).join('&'));

/** The token part of a form body, and what it offers. */
type FormTokenCase = { parts: string[]; offered: Offered; label: string };
const formTokenCase: fc.Arbitrary<FormTokenCase> = fc.oneof(
  fc.constantFrom<FormTokenCase>(
    { parts: [`auth%5Bapplication_token%5D=${TOKEN}`], offered: TOKEN, label: 'form token' },
    { parts: [`auth%5Bapplication_token%5D=${WRONG}`], offered: WRONG, label: 'form wrong token' },
    { parts: [], offered: undefined, label: 'form without token' },
    { parts: ['auth%5Bapplication_token%5D='], offered: undefined, label: 'form empty token' },
  ),
  fc.integer({ min: 2, max: 60 }).map<FormTokenCase>((n) => ({
    parts: Array.from({ length: n }, () => `auth%5Bapplication_token%5D=${TOKEN}`),
    offered: undefined,
    label: `form token key ×${n}`,
  })),
);

const generatedBody: fc.Arbitrary<GeneratedBody> = fc.oneof(
  fc
    .tuple(shapeArb, formTokenCase, fc.array(fc.oneof(junkPart, repeatedPart), { maxLength: 8 }))
    .map(([shape, tokenCase, junk]) => ({
      bytes: Buffer.from([...partsWithoutToken(shape), ...tokenCase.parts, ...junk].join('&')),
      asForm: tokenCase.offered,
      label: tokenCase.label,
    })),
  fc
    .tuple(
      shapeArb,
      fc.constantFrom<unknown>(
        TOKEN,
        WRONG,
        '',
        [TOKEN],
        [TOKEN, TOKEN],
        42,
        null,
        true,
        { value: TOKEN },
        undefined,
        ` ${TOKEN}`,
      ),
    )
    .map(([shape, value]) => ({
      bytes: Buffer.from(JSON.stringify(jsonDelivery(shape, value))),
      asForm: undefined,
      label: `JSON token ${JSON.stringify(value)}`,
    })),
  fc
    .oneof(
      fc.uint8Array({ minLength: 1, maxLength: 300 }),
      fc
        .constantFrom(
          '[]',
          '{}',
          ` {"auth":{"application_token":"${TOKEN}"}} `,
          '"a string"',
          'null',
          '  ',
          '{"auth":',
          `[{"auth":{"application_token":"${TOKEN}"}}]`,
          `{"auth[application_token]":"${TOKEN}"}`,
        )
        .map((text) => new TextEncoder().encode(text)),
    )
    .map((bytes) => Buffer.from(bytes))
    .filter(
      (bytes) =>
        !bytes.toString('latin1').includes('auth%') &&
        !bytes.toString('latin1').includes('auth['.concat('application_token]=')),
    )
    .map((bytes) => ({ bytes, asForm: undefined, label: 'raw bytes' })),
  fc.constant({ bytes: Buffer.alloc(0), asForm: undefined, label: 'empty' }),
);

/** What a body offers when read as JSON, by the contract's rules; `malformed` when it is no JSON object or array. */
function offeredByJson(bytes: Buffer): Offered | 'malformed' {
  const text = bytes.toString('utf8');
  if (text === '') return undefined;
  const first = text.length - text.replace(/^[ \t\n\r]+/, '').length;
  if (text[first] !== '{' && text[first] !== '[') return 'malformed';
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return 'malformed';
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const record = parsed as Record<string, unknown>;
  const auth = Object.hasOwn(record, 'auth') ? record.auth : undefined;
  const nested =
    typeof auth === 'object' && auth !== null && !Array.isArray(auth) && Object.hasOwn(auth, 'application_token')
      ? (auth as Record<string, unknown>).application_token
      : undefined;
  const asToken = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);
  return (
    asToken(nested) ??
    asToken(Object.hasOwn(record, 'auth[application_token]') ? record['auth[application_token]'] : undefined)
  );
}

type MediaClass = 'form' | 'json' | 'unsupported';
const contentTypeCase = fc.oneof(
  fc
    .constantFrom(
      FORM_CONTENT_TYPE,
      `${FORM_CONTENT_TYPE}; charset=utf-8`,
      `${FORM_CONTENT_TYPE}; charset="UTF-8"`,
      `${FORM_CONTENT_TYPE};;`,
      'Application/X-WWW-Form-Urlencoded',
      `${FORM_CONTENT_TYPE} ; charset=utf8 ;`,
    )
    .map((header) => ({ header, cls: 'form' as MediaClass })),
  fc
    .constantFrom(
      'application/json',
      'application/json; charset=utf-8',
      'application/json;;',
      'APPLICATION/JSON',
      'application/vnd.api+json',
      'application/json;charset=UTF-8',
    )
    .map((header) => ({ header, cls: 'json' as MediaClass })),
  fc
    .constantFrom<string | undefined>(
      undefined,
      'text/plain',
      'multipart/form-data; boundary=xyz',
      'application/xml',
      'application/octet-stream',
      '*/*',
      'application/',
      '',
      ';;;',
      'json',
      `${FORM_CONTENT_TYPE}, application/json`,
      `${FORM_CONTENT_TYPE}; charset=latin1`,
      `${FORM_CONTENT_TYPE}; charset=iso-8859-1`,
      `${FORM_CONTENT_TYPE}; charset=bogus`,
      'application/json; charset=utf-16',
      'application/json; charset=windows-1251',
      'application/jsonx',
      'text/json',
    )
    .map((header) => ({ header, cls: 'unsupported' as MediaClass })),
);

type CodingClass = 'ok' | 'unsupported' | 'undecodable';
const contentEncodingCase: fc.Arbitrary<{
  header: string | undefined;
  encode: (bytes: Buffer) => Buffer;
  cls: CodingClass;
}> = fc.oneof(
  fc
    .constantFrom(undefined, 'identity', 'Identity')
    .map((header) => ({ header, encode: (b: Buffer) => b, cls: 'ok' as CodingClass })),
  fc
    .constantFrom('gzip', 'GZIP', 'x-gzip', ' Gzip ')
    .map((header) => ({ header, encode: (b: Buffer) => gzipSync(b), cls: 'ok' as CodingClass })),
  fc
    .constantFrom('deflate', 'DEFLATE')
    .map((header) => ({ header, encode: (b: Buffer) => deflateSync(b), cls: 'ok' as CodingClass })),
  fc
    .constantFrom('br', 'BR')
    .map((header) => ({ header, encode: (b: Buffer) => brotliCompressSync(b), cls: 'ok' as CodingClass })),
  fc
    .constantFrom('compress', 'zstd', 'gzip, br', 'gzip,gzip')
    .map((header) => ({ header, encode: (b: Buffer) => gzipSync(b), cls: 'unsupported' as CodingClass })),
  fc.constant({
    header: 'gzip',
    encode: (b: Buffer) => Buffer.concat([Buffer.from('plain:'), b]),
    cls: 'undecodable' as CodingClass,
  }),
);

/** Query strings with what they offer as `application_token` and as `token` (Koa's query parser). */
const queryCase = fc
  .tuple(
    harmlessQuery,
    fc.constantFrom<[string, Offered, Offered]>(
      ['', undefined, undefined],
      [`token=${TOKEN}`, undefined, TOKEN],
      [`token=${WRONG}`, undefined, WRONG],
      ['token=', undefined, undefined],
      [`token=${TOKEN}&token=${TOKEN}`, undefined, undefined],
      [`application_token=${TOKEN}`, TOKEN, undefined],
      ['token[x]=1', undefined, undefined],
      ['application_token=%ZZ', '%ZZ', undefined],
      [`TOKEN=${TOKEN}`, undefined, undefined],
      [`application_token=${WRONG}&token=${TOKEN}`, WRONG, TOKEN],
    ),
  )
  .map(([harmless, [tokenQuery, application, token]]) => ({
    path: `/api/bitrix/webhook${tokenQuery ? (harmless ? `${harmless}&${tokenQuery}` : `?${tokenQuery}`) : harmless}`,
    offered: [application, token] as Offered[],
  }));

/** Token headers with what they offer (Node trims spaces and tabs around a header value). */
const xTokenCase = fc.constantFrom<[string | undefined, Offered]>(
  [undefined, undefined],
  [TOKEN, TOKEN],
  [WRONG, WRONG],
  ['', undefined],
  [` ${TOKEN}\t`, TOKEN],
);
const authorizationCase = fc.constantFrom<[string | undefined, Offered]>(
  [undefined, undefined],
  [`Bearer ${TOKEN}`, TOKEN],
  [`bearer\t${WRONG}`, WRONG],
  ['Bearer', undefined],
  [`Bearer${' '.repeat(3000)}a b`, undefined],
  [`Bearer${'\t'.repeat(3000)}${TOKEN}`, TOKEN],
  [`Basic ${TOKEN}`, undefined],
  [`Bearer ${'z'.repeat(2000)}`, 'z'.repeat(2000)],
  [`Bearer ${TOKEN} x`, undefined],
  [`BEARER  ${TOKEN}  `, TOKEN],
);

/** The one status the contract gives a generated request. */
function expectedStatus(r: {
  hasBody: boolean;
  body: GeneratedBody;
  contentType: { cls: MediaClass };
  coding: { cls: CodingClass };
  query: Offered[];
  headers: Offered[];
}): number {
  let fromBody: Offered;
  // A body is there when it says so (Content-Length > 0 or chunked); only then do its type and coding matter.
  if (r.hasBody) {
    if (r.contentType.cls === 'unsupported' || r.coding.cls === 'unsupported') return 415;
    if (r.coding.cls === 'undecodable') return 400;
    const offered = r.contentType.cls === 'form' ? r.body.asForm : offeredByJson(r.body.bytes);
    if (offered === 'malformed') return 400;
    fromBody = offered;
  }
  const deciding = [fromBody, ...r.query, ...r.headers].find((offered) => offered !== undefined);
  return deciding === undefined ? 401 : deciding === TOKEN ? 200 : 403;
}

function jsonDelivery(shape: number, token: unknown): Record<string, unknown> {
  const data = structuredClone(deliveryShapes(undefined)[shape]!.data) as Record<string, unknown>;
  (data.auth as Record<string, unknown>).application_token = token;
  return data;
}

// ------------------------------------------------------------------------------------------------------------

describe('robustness: bad input against the running service (property-based)', function () {
  this.timeout(180_000);
  const running = useRunningService({ BITRIX24_OUTGOING_WEBHOOK_TOKEN: TOKEN, LOG_LEVEL: 'info' });

  const counted = (samples: Sample[]) => sumOf(samples, METRIC.verifications) + sumOf(samples, METRIC.requestsRejected);

  /** Runs a property, then checks every webhook request it sent was counted and the service still serves. */
  async function accounted(property: Parameters<typeof fc.assert>[0], runs = RUNS): Promise<void> {
    const before = counted(await scrape(running.service.url));
    const sentBefore = running.client.webhookRequests;
    await fc.assert(property, { numRuns: runs });
    const sent = running.client.webhookRequests - sentBefore;
    const after = counted(await scrape(running.service.url));
    expect(after - before, `verifications + rejections counted vs webhook requests answered (${sent})`).to.equal(sent);
    await expectStillServing();
  }

  async function expectStillServing(): Promise<void> {
    expect((await running.client.deliver(TOKEN, 0)).status, 'a valid delivery afterwards').to.equal(200);
    expect((await running.client.deliver(undefined, 1)).status, 'a delivery without a token afterwards').to.equal(401);
    expect((await running.client.deliver(WRONG, 2)).status, 'a delivery with a wrong token afterwards').to.equal(403);
    expect(
      (await running.client.send({ headers: { 'content-type': 'application/json' }, body: '{}' })).status,
      'an empty JSON object afterwards',
    ).to.equal(401);
    expect(running.service.process.exitCode, 'the service process is alive').to.equal(null);
  }

  function describeRequest(options: SendOptions): string {
    const body =
      options.body === undefined
        ? ''
        : Buffer.isBuffer(options.body)
          ? `<${options.body.length} bytes> ${options.body.subarray(0, 200).toString('latin1')}`
          : options.body.slice(0, 300);
    return `${options.path ?? ''} ${JSON.stringify(options.headers ?? {})} ${body}`;
  }

  async function sendExpect(options: SendOptions, expected: number): Promise<Answer> {
    const answer = await running.client.send(options);
    const context = `for ${describeRequest(options)}`;
    expectContractAnswer(answer, context);
    expect(answer.status, `status (${answer.body.slice(0, 120)}) ${context}`).to.equal(expected);
    expect(answer.json, context).to.deep.equal(CONTRACT_ANSWERS[expected]);
    return answer;
  }

  it('answers generated requests (bodies, content types and encodings, token headers, query strings, repeated keys, chunking) with the one status the contract gives each', async () => {
    await accounted(
      fc.asyncProperty(
        fc.record({
          body: generatedBody,
          contentType: contentTypeCase,
          coding: contentEncodingCase,
          query: queryCase,
          xToken: xTokenCase,
          authorization: authorizationCase,
          headers: harmlessHeaders,
          chunked: fc.boolean(),
        }),
        async ({ body, contentType, coding, query, xToken, authorization, headers, chunked }) => {
          const encoded = body.bytes.length > 0 ? coding.encode(body.bytes) : body.bytes;
          const sendChunked = chunked && encoded.length > 0;
          const sent: Record<string, string> = { ...headers };
          if (contentType.header !== undefined) sent['content-type'] = contentType.header;
          if (coding.header !== undefined && encoded.length > 0) sent['content-encoding'] = coding.header;
          if (xToken[0] !== undefined) sent['x-bitrix24-token'] = xToken[0];
          if (authorization[0] !== undefined) sent.authorization = authorization[0];
          const expected = expectedStatus({
            hasBody: encoded.length > 0,
            body,
            contentType,
            coding,
            query: query.offered,
            headers: [xToken[1], authorization[1]],
          });
          const options: SendOptions = { path: query.path, body: encoded, chunked: sendChunked, headers: sent };
          const answer = await running.client.send(options);
          const context = `${body.label}, ${describeRequest(options)}`;
          expectContractAnswer(answer, context);
          expect(answer.status, `status (${answer.body.slice(0, 120)}) for ${context}`).to.equal(expected);
          expect(answer.json, context).to.deep.equal(CONTRACT_ANSWERS[expected]);
        },
      ),
    );
  });

  it('decides form-body tokens of odd shapes exactly as the contract says', async () => {
    type Case = { parts: Array<string | Buffer>; expect: number; label: string };
    const wrongString = fc
      .oneof(
        fromChars('0123456789abcdefghijklmnopqrstuvwxyz', 64, 1),
        fc.constantFrom(
          TOKEN.toUpperCase(),
          TOKEN.slice(0, 31),
          `${TOKEN}x`,
          `x${TOKEN}`,
          TOKEN.slice(1) + TOKEN[0],
          'Здравствуйте',
          '0',
          'null',
          'undefined',
          '[object Object]',
          'true',
        ),
        visible(60).filter((s) => s.trim() === s && s !== ''),
      )
      .filter((s) => s !== TOKEN);
    const tokenCase: fc.Arbitrary<Case> = fc.oneof(
      fc.constant<Case>({ parts: [`auth%5Bapplication_token%5D=${TOKEN}`], expect: 200, label: 'valid' }),
      fc.constant<Case>({
        parts: [`auth[application_token]=${TOKEN}`],
        expect: 200,
        label: 'valid, brackets unencoded',
      }),
      fc.array(fc.boolean(), { minLength: 32, maxLength: 32 }).map<Case>((encode) => ({
        parts: [
          `auth%5Bapplication_token%5D=${[...TOKEN].map((c, i) => (encode[i] ? `%${c.charCodeAt(0).toString(16)}` : c)).join('')}`,
        ],
        expect: 200,
        label: 'valid, partly percent-encoded',
      })),
      fc.tuple(fc.integer({ min: 2, max: 20 }), fc.boolean()).map<Case>(([k, allValid]) => ({
        parts: Array.from(
          { length: k },
          (_, i) => `auth%5Bapplication_token%5D=${allValid || i === 0 ? TOKEN : WRONG}`,
        ),
        expect: 401,
        label: `repeated ${k}×`,
      })),
      fc.integer({ min: 21, max: 60 }).map<Case>((k) => ({
        parts: Array.from({ length: k }, () => `auth%5Bapplication_token%5D=${TOKEN}`),
        expect: 401,
        label: `repeated ${k}× (beyond qs's default array limit of 20)`,
      })),
      fc.constantFrom<Case>(
        { parts: ['auth%5Bapplication_token%5D='], expect: 401, label: 'empty' },
        { parts: ['auth%5Bapplication_token%5D'], expect: 401, label: 'key without =' },
        { parts: [`auth%5Bapplication_token%5D%5Bx%5D=${TOKEN}`], expect: 401, label: 'object' },
        { parts: [`auth%5Bapplication_token%5D%5B%5D=${TOKEN}`], expect: 401, label: 'array syntax' },
        { parts: [`auth%5Bapplication_token%5D%5B0%5D=${TOKEN}`], expect: 401, label: 'numeric key' },
        { parts: [`auth%5B__proto__%5D%5Bapplication_token%5D=${TOKEN}`], expect: 401, label: 'under auth.__proto__' },
        { parts: [`__proto__%5Bauth%5D%5Bapplication_token%5D=${TOKEN}`], expect: 401, label: 'under __proto__' },
        {
          parts: [`constructor%5Bprototype%5D%5Bauth%5D%5Bapplication_token%5D=${TOKEN}`],
          expect: 401,
          label: 'under constructor.prototype',
        },
        { parts: [`auth%5Bapplication%5Ftoken%5D=${TOKEN}`, 'x=1'], expect: 200, label: 'underscore percent-encoded' },
        { parts: [`auth.application_token=${TOKEN}`], expect: 401, label: 'dotted key (allowDots false)' },
        { parts: [`auth%5Bapplication_token%5D=%FF${TOKEN}`], expect: 403, label: 'invalid percent-encoded UTF-8' },
        {
          parts: [
            Buffer.concat([
              Buffer.from('auth%5Bapplication_token%5D='),
              Buffer.from([0xff, 0xfe, 0x80]),
              Buffer.from(TOKEN),
            ]),
          ],
          expect: 403,
          label: 'raw invalid UTF-8',
        },
        { parts: [`auth%5Bapplication_token%5D=${TOKEN}%00`], expect: 403, label: 'NUL appended' },
        {
          parts: [`auth%5Bapplication_token%5D=${TOKEN.slice(0, 16)}%E0%A4%A${TOKEN.slice(16)}`],
          expect: 403,
          label: 'broken escape inside',
        },
      ),
      fc.constant<Case>({ parts: [], expect: 401, label: 'absent' }),
      wrongString.map<Case>((s) => ({
        parts: [`auth%5Bapplication_token%5D=${phpUrlencode(s)}`],
        expect: 403,
        label: `wrong ${JSON.stringify(s.slice(0, 40))}`,
      })),
      fc.integer({ min: 1000, max: 200_000 }).map<Case>((n) => ({
        parts: [`auth%5Bapplication_token%5D=${'z'.repeat(n)}`],
        expect: 403,
        label: `huge ${n}`,
      })),
    );
    await accounted(
      fc.asyncProperty(
        shapeArb,
        tokenCase,
        fc.nat(),
        harmlessHeaders,
        harmlessQuery,
        fc.constantFrom(
          FORM_CONTENT_TYPE,
          `${FORM_CONTENT_TYPE}; charset=UTF-8`,
          'Application/X-WWW-Form-Urlencoded',
          `${FORM_CONTENT_TYPE};charset=utf-8`,
        ),
        async (shape, tokenCase, position, headers, query, contentType) => {
          const parts: Array<string | Buffer> = partsWithoutToken(shape);
          const at = position % (parts.length + 1);
          parts.splice(at, 0, ...tokenCase.parts);
          const body = Buffer.concat(
            parts.map((p, i) => Buffer.concat([Buffer.from(i ? '&' : ''), Buffer.isBuffer(p) ? p : Buffer.from(p)])),
          );
          const answer = await running.client.send({
            path: `/api/bitrix/webhook${query}`,
            body,
            headers: { ...headers, 'content-type': contentType },
          });
          expectContractAnswer(answer, tokenCase.label);
          expect(answer.status, `${tokenCase.label}: ${body.toString('latin1').slice(0, 400)}`).to.equal(
            tokenCase.expect,
          );
        },
      ),
    );
  });

  it('decides JSON tokens of odd types and lengths exactly as the contract says', async () => {
    const tokenValue: fc.Arbitrary<{ value: unknown; expect: number; label: string }> = fc.oneof(
      fc.constant<{ value: unknown; expect: number; label: string }>({ value: TOKEN, expect: 200, label: 'valid' }),
      fc
        .oneof(
          fc.integer(),
          fc.double(),
          fc.boolean(),
          fc.constant(null),
          fc.constant(''),
          fc.constant([TOKEN]),
          fc.constant([TOKEN, TOKEN]),
          fc.constant({ value: TOKEN }),
          fc.constant({}),
          fc.constant([]),
          fc
            .json({ maxDepth: 3 })
            .map((j) => JSON.parse(j) as unknown)
            .filter((v) => typeof v !== 'string'),
        )
        .map((value) => ({ value, expect: 401, label: `non-string ${JSON.stringify(value)?.slice(0, 60)}` })),
      fc
        .string({ unit: 'grapheme', minLength: 1, maxLength: 80 })
        .filter((s) => s !== TOKEN && s.trim() === s && s !== '')
        .map((value) => ({ value, expect: 403, label: `wrong ${JSON.stringify(value)}` })),
      fc.integer({ min: 1000, max: 250_000 }).map((n) => ({ value: 'y'.repeat(n), expect: 403, label: `huge ${n}` })),
      fc
        .integer({ min: 270_000, max: 600_000 })
        .map((n) => ({ value: 'y'.repeat(n), expect: 413, label: `over the limit ${n}` })),
    );
    await accounted(
      fc.asyncProperty(
        shapeArb,
        tokenValue,
        fc.constantFrom('application/json', 'application/json; charset=utf-8'),
        harmlessHeaders,
        harmlessQuery,
        async (shape, { value, expect: expected, label }, contentType, headers, query) => {
          const text = JSON.stringify(jsonDelivery(shape, value));
          const answer = await running.client.send({
            path: `/api/bitrix/webhook${query}`,
            body: text,
            fresh: expected === 413,
            answerFromHeadersMs: expected === 413 ? 3000 : undefined,
            headers: { ...headers, 'content-type': contentType },
          });
          expectContractAnswer(answer, label);
          expect(answer.status, `${label} (${Buffer.byteLength(text)} bytes)`).to.equal(expected);
        },
      ),
    );
  });

  it('is not polluted by __proto__ / constructor / prototype keys (form and JSON)', async () => {
    const prefixes = [
      '__proto__',
      'constructor[prototype]',
      'prototype',
      '__proto__[__proto__]',
      'auth[__proto__]',
      'data[__proto__]',
      'auth[constructor][prototype]',
      'data[constructor][prototype]',
      '__defineGetter__',
      'hasOwnProperty',
      'toString',
      'valueOf',
      'auth[toString]',
      'auth[hasOwnProperty]',
      'auth[valueOf]',
      'data[FIELDS][__proto__]',
      'isPrototypeOf',
      'constructor',
      'auth[constructor]',
    ];
    const suffixes = [
      `[auth][application_token]=${TOKEN}`,
      `[application_token]=${TOKEN}`,
      '[polluted]=pwn',
      '[event]=ONPWNED',
      '=pwn',
      '[toString]=pwn',
      '[length]=9',
      '[status]=accepted',
      '[webhook]=pwn',
      `[token]=${TOKEN}`,
    ];
    const jsonPollutions: Array<(token: unknown) => unknown> = [
      (t) => ({
        __proto__: { auth: { application_token: TOKEN } },
        auth: t === undefined ? undefined : { application_token: t },
      }),
      (t) => ({
        constructor: { prototype: { auth: { application_token: TOKEN }, polluted: 'pwn' } },
        auth: { application_token: t },
      }),
      (t) => ({ auth: { __proto__: { application_token: TOKEN }, application_token: t } }),
      (t) => ({ auth: { constructor: { prototype: { application_token: TOKEN } }, application_token: t } }),
      (t) => ({
        data: { __proto__: { polluted: 'pwn' }, constructor: { prototype: { event: 'ONPWNED' } } },
        auth: { application_token: t },
      }),
      (t) => ({
        auth: { application_token: t, toString: 'pwn', hasOwnProperty: 'pwn', valueOf: 1 },
        hasOwnProperty: 'pwn',
        toString: { x: 1 },
      }),
    ];
    await accounted(
      fc.asyncProperty(
        shapeArb,
        fc.constantFrom<[string | undefined, number]>([TOKEN, 200], [undefined, 401], [WRONG, 403]),
        fc.oneof(
          fc.record({
            kind: fc.constant('form' as const),
            pollution: fc.array(fc.tuple(fc.constantFrom(...prefixes), fc.constantFrom(...suffixes)), {
              minLength: 1,
              maxLength: 4,
            }),
            first: fc.boolean(),
          }),
          fc.record({
            kind: fc.constant('json' as const),
            index: fc.integer({ min: 0, max: jsonPollutions.length - 1 }),
          }),
        ),
        async (shape, [token, expected], pollution) => {
          let options: SendOptions;
          // the JSON literal below must create a real "__proto__" key, so it is written as text
          if (pollution.kind === 'form') {
            const parts = httpBuildQuery(deliveryShapes(token)[shape]!.data as FormObject).split('&');
            const extra = pollution.pollution.map(([p, s]) => `${p}${s}`);
            const body = (pollution.first ? [...extra, ...parts] : [...parts, ...extra]).join('&');
            options = { body, headers: { 'content-type': FORM_CONTENT_TYPE } };
            await sendExpect(options, expected);
          } else {
            const base = jsonDelivery(shape, token) as Record<string, unknown>;
            const polluting = jsonPollutions[pollution.index]!(token) as Record<string, unknown>;
            const text = mergeAsJsonText(base, polluting);
            options = { body: text, headers: { 'content-type': 'application/json' } };
            await sendExpect(options, expected);
          }
          // after every polluting request, a delivery without a token is still missing, a wrong one still mismatched
          const canary = await running.client.deliver(undefined, (shape + 1) % SHAPES);
          expect(canary.status, `a tokenless delivery after ${describeRequest(options)}`).to.equal(401);
          const wrong = await running.client.deliver(WRONG, shape);
          expect(wrong.status, `a wrong-token delivery after ${describeRequest(options)}`).to.equal(403);
        },
      ),
      Math.min(RUNS, 150),
    );
  });

  it('applies the parameter, depth and size limits (form and JSON) with the contract codes', async () => {
    type Case = { body: string; contentType: string; expect: number; label: string };
    const params = fc.oneof(fc.integer({ min: 990, max: 1010 }), fc.integer({ min: 1, max: 4000 })).map<Case>((n) => {
      const parts = partsWithoutToken(0);
      parts.push(`auth%5Bapplication_token%5D=${TOKEN}`);
      const filler = Math.max(0, n - parts.length);
      for (let i = 0; i < filler; i++) parts.push(`f${i}=1`);
      return {
        body: parts.join('&'),
        contentType: FORM_CONTENT_TYPE,
        expect: parts.length <= 1000 ? 200 : 400,
        label: `${parts.length} parameters`,
      };
    });
    const formDepth = fc.integer({ min: 1, max: 400 }).map<Case>((d) => ({
      body: `${partsWithoutToken(1).join('&')}&auth%5Bapplication_token%5D=${TOKEN}&data${'%5Bx%5D'.repeat(d)}=1`,
      // Deeper than FORM_PARSE_OPTIONS.depth (10) is refused, never folded into a literal key (issue #16).
      contentType: FORM_CONTENT_TYPE,
      expect: d <= 10 ? 200 : 400,
      label: `form nesting ${d}`,
    }));
    const jsonDepth = fc
      .tuple(fc.oneof(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1000, max: 150_000 })), fc.boolean())
      .map<Case>(([d, arrays]) => {
        const nested = arrays ? `${'['.repeat(d)}1${']'.repeat(d)}` : `${'{"a":'.repeat(d)}1${'}'.repeat(d)}`;
        const body = `{"event":"ONCRMDEALADD","auth":{"application_token":"${TOKEN}"},"data":${nested}}`;
        return {
          body,
          contentType: 'application/json',
          expect: Buffer.byteLength(body) <= LIMIT ? 200 : 413,
          label: `JSON nesting ${d} (${arrays ? 'arrays' : 'objects'}), ${body.length} bytes`,
        };
      });
    const size = fc
      .oneof(fc.integer({ min: LIMIT - 64, max: LIMIT + 64 }), fc.integer({ min: 1000, max: 600_000 }))
      .map<Case>((target) => {
        const head = `${partsWithoutToken(2).join('&')}&auth%5Bapplication_token%5D=${TOKEN}&data%5BPAD%5D=`;
        const body = head + 'p'.repeat(Math.max(0, target - head.length));
        return {
          body,
          contentType: FORM_CONTENT_TYPE,
          expect: body.length <= LIMIT ? 200 : 413,
          label: `form body of ${body.length} bytes`,
        };
      });
    await accounted(
      fc.asyncProperty(fc.oneof(params, formDepth, jsonDepth, size), fc.boolean(), async (c, chunked) => {
        // oversized bodies on a connection of their own: see the keep-alive test below for why
        const answer = await running.client.send({
          body: c.body,
          chunked,
          fresh: c.expect === 413,
          answerFromHeadersMs: c.expect === 413 ? 3000 : undefined,
          headers: { 'content-type': c.contentType },
        });
        expectContractAnswer(answer, c.label);
        expect(answer.status, `${c.label}${chunked ? ', chunked' : ''}: ${answer.body.slice(0, 200)}`).to.equal(
          c.expect,
        );
      }),
      Math.min(RUNS, 150),
    );
  });

  it('tolerates percent-encoding errors and invalid UTF-8 elsewhere in a valid delivery', async () => {
    const junkPart = fc.oneof(
      fromChars('%GzFE0[]=+', 24, 1),
      fc.constantFrom(
        '%',
        '%%',
        '%zz=%E0%A4%A',
        '=',
        '%FF%FE=%C0%AF',
        '%ED%A0%80=1',
        '%F4%90%80%80=2',
        'z=%',
        '[]=[]',
        '%5B=%5D',
      ),
      fc.uint8Array({ minLength: 1, maxLength: 24 }).map((b) =>
        Buffer.from(b)
          .toString('latin1')
          .replace(/[&a-z]/g, 'Z'),
      ),
    );
    await accounted(
      fc.asyncProperty(
        shapeArb,
        fc.array(junkPart, { minLength: 1, maxLength: 15 }),
        fc.nat(),
        async (shape, junk, position) => {
          const parts = partsWithoutToken(shape);
          parts.push(`auth%5Bapplication_token%5D=${TOKEN}`);
          parts.splice(position % (parts.length + 1), 0, ...junk);
          const body = Buffer.from(parts.join('&'), 'latin1'); // latin1 keeps the raw high bytes as single bytes
          const answer = await running.client.send({ body, headers: { 'content-type': FORM_CONTENT_TYPE } });
          expectContractAnswer(answer, 'junk');
          expect(answer.status, `junk ${JSON.stringify(junk)}: ${answer.body}`).to.equal(200);
        },
      ),
    );
  });

  it('answers content types and encodings as the contract says', async () => {
    const before = counted(await scrape(running.service.url));
    const sentBefore = running.client.webhookRequests;
    const form = httpBuildQuery(deliveryShapes(TOKEN)[0]!.data);
    const cases: Array<[string | undefined, Record<string, string>, string | Buffer, number]> = [
      [FORM_CONTENT_TYPE, {}, form, 200],
      [`${FORM_CONTENT_TYPE}; charset=UTF-8`, {}, form, 200],
      [`${FORM_CONTENT_TYPE};;`, {}, form, 200],
      [`${FORM_CONTENT_TYPE}; charset=latin1`, {}, form, 415],
      [`${FORM_CONTENT_TYPE}; charset=bogus-42`, {}, form, 415],
      [undefined, {}, form, 415],
      ['text/plain', {}, form, 415],
      ['text/html', {}, form, 415],
      ['application/octet-stream', {}, form, 415],
      [
        'multipart/form-data; boundary=xyz',
        {},
        `--xyz\r\nContent-Disposition: form-data; name="auth[application_token]"\r\n\r\n${TOKEN}\r\n--xyz--\r\n`,
        415,
      ],
      ['application/xml', {}, `<auth><application_token>${TOKEN}</application_token></auth>`, 415],
      ['application/json', {}, form, 400],
      ['application/json', {}, '{"auth":{"application_token":', 400],
      ['application/json', {}, '"just a string"', 400],
      ['application/json', {}, 'null', 400],
      ['application/json', {}, '[]', 401],
      ['application/json', {}, '', 401],
      ['application/json;;', {}, JSON.stringify(jsonDelivery(0, TOKEN)), 200],
      [FORM_CONTENT_TYPE, {}, '', 401],
      [FORM_CONTENT_TYPE, { 'content-encoding': 'gzip' }, gzipSync(form), 200],
      [FORM_CONTENT_TYPE, { 'content-encoding': 'GZIP' }, gzipSync(form), 200],
      [FORM_CONTENT_TYPE, { 'content-encoding': 'gzip' }, Buffer.from('not gzip at all'), 400],
      [FORM_CONTENT_TYPE, { 'content-encoding': 'deflate' }, Buffer.from([0x78, 0x9c, 0xff, 0xff]), 400],
      [FORM_CONTENT_TYPE, { 'content-encoding': 'br' }, brotliCompressSync(form), 200],
      [FORM_CONTENT_TYPE, { 'content-encoding': 'x-unknown' }, form, 415],
      // a "zip bomb": 8 MB of zeros, 8 kB compressed
      [FORM_CONTENT_TYPE, { 'content-encoding': 'gzip' }, gzipSync(Buffer.alloc(8 * 1024 * 1024, 0x30)), 413],
    ];
    for (const [contentType, headers, body, expected] of cases) {
      await sendExpect(
        { body, headers: { ...headers, ...(contentType === undefined ? {} : { 'content-type': contentType }) } },
        expected,
      );
    }
    const sent = running.client.webhookRequests - sentBefore;
    expect(counted(await scrape(running.service.url)) - before, 'every one counted').to.equal(sent);
    await expectStillServing();
  });

  it('after a 413 for an oversized chunked body, either keeps the connection usable or says Connection: close', async () => {
    // Bitrix24 never retries: a delivery sent on a reused connection that the server silently drops is lost.
    const oversized = `${httpBuildQuery(deliveryShapes(TOKEN)[0]!.data)}&data%5BPAD%5D=${'p'.repeat(600_000)}`;
    const http = await import('node:http');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const url = new URL('/api/bitrix/webhook', running.service.url);
    const post = (body: string, chunked: boolean) =>
      new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
        const req = http.request(
          {
            agent,
            host: url.hostname,
            port: url.port,
            method: 'POST',
            path: url.pathname,
            headers: {
              'content-type': FORM_CONTENT_TYPE,
              ...(chunked ? {} : { 'content-length': String(Buffer.byteLength(body)) }),
            },
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
          },
        );
        req.on('error', reject);
        if (chunked) {
          req.write(body.slice(0, 1000));
          req.end(body.slice(1000));
        } else req.end(body);
      });
    try {
      for (const chunked of [false, true]) {
        const first = await post(oversized, chunked);
        running.client.webhookRequests++;
        expect(first.status, `oversized ${chunked ? 'chunked' : 'Content-Length'} body`).to.equal(413);
        await new Promise((resolve) => setTimeout(resolve, 100));
        if (first.connection?.toLowerCase() === 'close') continue;
        let next: { status: number } | Error;
        try {
          next = await post(httpBuildQuery(deliveryShapes(TOKEN)[1]!.data), false);
          running.client.webhookRequests++;
        } catch (err) {
          next = err as Error;
        }
        expect(
          next instanceof Error ? `${next.message}` : next.status,
          `a valid delivery on the same connection after a 413 answered with "Connection: ${first.connection}" (${chunked ? 'chunked' : 'Content-Length'} upload)`,
        ).to.equal(200);
      }
    } finally {
      agent.destroy();
    }
  });

  it('exposes only bounded, expected label values on /metrics afterwards', async () => {
    const samples = await scrape(running.service.url);
    const subset = (metric: string, label: string, allowed: Iterable<string>) => {
      const values = [...labelValues(samples, metric, label)];
      expect(values, `${metric}{${label}} has values`).to.not.be.empty;
      expect(values, `${metric}{${label}}`).to.satisfy((vs: string[]) => vs.every((v) => new Set(allowed).has(v)));
    };
    subset(`${METRIC.httpRequestDuration}_count`, 'route', [
      '/api/bitrix/webhook',
      '/metrics',
      '/healthz',
      '/readyz',
      'unmatched',
    ]);
    subset(`${METRIC.httpRequestDuration}_count`, 'method', ['GET', 'POST']);
    subset(`${METRIC.httpRequestDuration}_count`, 'status_code', ['200', '400', '401', '403', '413', '415']);
    subset(METRIC.verifications, 'result', VERIFICATION_RESULTS);
    subset(METRIC.verifications, 'source', VERIFICATION_SOURCES);
    subset(METRIC.verifications, 'webhook', ['default', UNKNOWN_WEBHOOK]);
    subset(METRIC.extractions, 'source', ['body', 'query', 'header']);
    subset(METRIC.extractions, 'found', ['true', 'false']);
    subset(METRIC.requestsRejected, 'reason', REJECTION_REASONS);
    subset(METRIC.lastAcceptedTimestamp, 'webhook', ['default']);
    const events = [...labelValues(samples, METRIC.events, 'event')];
    for (const event of events) {
      expect(event === OTHER_EVENT || EVENT_NAME.test(event), `event label ${JSON.stringify(event)}`).to.equal(true);
    }
    expect(events, 'no event label from a polluting key').to.not.include('ONPWNED');
    for (const s of samples) {
      for (const [label, value] of Object.entries(s.labels)) {
        expect(value.toLowerCase(), `${s.name}{${label}} must not carry request data`).to.not.include('pwn');
        expect(value, `${s.name}{${label}} must not carry a token`).to.not.include(TOKEN);
        expect(value, `${s.name}{${label}}`).to.not.include('?');
      }
    }
    expect(running.service.stdout(), 'no log line carries the token').to.not.include(TOKEN);
  });
});

/** JSON text of `base` with `extra` merged in, keeping literal "__proto__" keys (JSON.stringify would drop them). */
function mergeAsJsonText(base: Record<string, unknown>, extra: Record<string, unknown>): string {
  const entries: string[] = [];
  const keys = new Set([
    ...Object.keys(base),
    ...Reflect.ownKeys(extra).filter((k): k is string => typeof k === 'string'),
  ]);
  for (const key of keys) {
    const value = Object.hasOwn(extra, key) ? extra[key] : base[key];
    if (value === undefined) continue;
    entries.push(`${JSON.stringify(key)}:${toJsonText(value)}`);
  }
  const proto = Object.getPrototypeOf(extra) as unknown;
  if (proto && proto !== Object.prototype) entries.push(`"__proto__":${toJsonText(proto)}`);
  return `{${entries.join(',')}}`;
}

function toJsonText(value: unknown): string {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return JSON.stringify(value) ?? 'null';
  const record = value as Record<string, unknown>;
  const parts = Object.keys(record)
    .filter((k) => record[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${toJsonText(record[k])}`);
  const proto = Object.getPrototypeOf(record) as unknown;
  if (proto && proto !== Object.prototype) parts.push(`"__proto__":${toJsonText(proto)}`);
  return `{${parts.join(',')}}`;
}
