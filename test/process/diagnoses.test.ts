// Issue #9 §1, "done when": every diagnosis is produced by the real process for its real-shaped delivery.
// Each case below is sent over a raw socket (exact framing: no Content-Type, Content-Length: 0, chunked, a body
// held back) to the service started as `npm start` starts it, and the test reads what an operator reads: the
// answer, the one warn line on stdout, /metrics, and the spans exported over OTLP.

import net from 'node:net';
import zlib from 'node:zlib';
import { expect } from 'chai';
import { ATTR, DIAGNOSES, METRIC, type Diagnosis } from '../../src/vocabulary/names';
import { REFUSAL_MESSAGE, type RefusalStage } from '../../src/receive/refusal';
import {
  APP_TOKEN,
  CRM_DEAL_ADD,
  TASK_ADD,
  chatBotMessage,
  dealAsJson,
  httpBuildQuery,
  repeatedTokenKey,
  webhookAuth,
  WEBHOOK_TOKEN,
  withoutToken,
} from '../support/bitrix-bodies';
import { OtlpReceiver } from '../support/otlp-receiver';
import { spawnService, type RunningService } from '../support/spawn-service';

const PATH = '/api/bitrix/webhook';
const FORM = 'application/x-www-form-urlencoded';
const JSON_TYPE = 'application/json';
const SERVER_KIND = 2;
/** The main process's bounds: two held gzip uploads (nearly BODY_LIMIT each, inflated) fill the half of the budget they may hold. */
const BODY_MEMORY_LIMIT = '1mb';
const BODY_TIMEOUT_SECONDS = 4;
/** Refusals at the route and the limits are logged at most once a second per kind (src/receive/rate-limited-log.ts). */
const RATE_LIMIT_MS = 1000;
const BOT_TOKEN = 'b0770ken0000000000000000000000aa';
const PLACEHOLDER = 'YOUR_TOKEN_HERE';
/** An application token configured nowhere. */
const OTHER_APP_TOKEN = '0a1b2c3d4e5f60718293a4b5c6d7e8f9';
/** A handler URL pasted as the token (with an inbound webhook's secret in it). */
const URL_AS_TOKEN = 'https://some-domain.bitrix24.com/rest/1/k3v9x2m7q1w8z4p6/';
const URL_FAULT =
  'BITRIX24_WEBHOOK_TOKENS entry 1 (crm): the token looks like a URL, not a token (a handler or REST URL pasted instead of the "Application token" field?)';
/** Every token any case sends (TASK_ADD and the chat-bot message carry access and refresh tokens too). */
const TOKENS_SENT = [
  WEBHOOK_TOKEN,
  APP_TOKEN,
  BOT_TOKEN,
  OTHER_APP_TOKEN,
  PLACEHOLDER,
  URL_AS_TOKEN,
  'k3v9x2m7q1w8z4p6',
  's6p6eclrvim6da22ft9ch94ekreb52lv',
  '4s386p3q0tr8dy89xvmt96234v3dljg8',
  'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
];

type ProcessName = 'main' | 'unconfigured' | 'bodyOnly' | 'urlConfigured';

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

interface Case {
  name: string;
  process: ProcessName;
  send: (port: number) => Promise<Answer>;
  status: number;
  answer: Record<string, string>;
  stage: RefusalStage;
  reason: string;
  diagnosis: Diagnosis;
  /** Exact `diagnosis_detail`; absent when undefined. */
  detail?: string;
  /** Exact `detail` (the service's own words), where the case checks it. */
  refusalDetail?: string;
  /** A refusal whose warn line is rate-limited per kind: sent at least RATE_LIMIT_MS after the last of its kind. */
  paced?: 'route';
}

// ---------------------------------------------------------------------------------------------------------
// Raw HTTP/1.1 over a socket of its own: exactly the bytes asked for.

interface Exchange {
  socket: net.Socket;
  answer: Promise<Answer>;
}

function open(port: number, head: string, body: Buffer | string = ''): Exchange {
  const socket = net.connect(port, '127.0.0.1');
  let received = Buffer.alloc(0);
  const answer = new Promise<Answer>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer in 15 s; received: ${received.toString('latin1').slice(0, 300)}`));
    }, 15_000);
    const tryParse = (final: boolean) => {
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) {
        if (final) reject(new Error(`connection closed before an answer; received: ${received.toString('latin1')}`));
        return;
      }
      const lines = received.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(lines[0]!.split(' ')[1]);
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1))
        headers[line.slice(0, line.indexOf(':')).toLowerCase()] = line.slice(line.indexOf(':') + 1).trim();
      const length = Number(headers['content-length'] ?? NaN);
      const bodyBytes = received.subarray(end + 4);
      if (Number.isNaN(length) && !final) return;
      if (!Number.isNaN(length) && bodyBytes.length < length) {
        if (final) reject(new Error(`answer cut short: ${received.toString('latin1')}`));
        return;
      }
      clearTimeout(timer);
      const text = bodyBytes.subarray(0, Number.isNaN(length) ? bodyBytes.length : length).toString('utf8');
      resolve({ status, headers, body: text === '' ? undefined : JSON.parse(text) });
    };
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      tryParse(false);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => tryParse(true));
  });
  socket.on('connect', () => {
    socket.write(head);
    if (body.length > 0) socket.write(body);
  });
  return { socket, answer };
}

function head(path: string, headers: Record<string, string | number>): string {
  return `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:3000\r\nUser-Agent: Bitrix24 Webhook Engine\r\n${Object.entries(
    headers,
  )
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('')}\r\n`;
}

/** One request, answered, its connection closed. */
async function exchange(port: number, requestHead: string, body: Buffer | string = ''): Promise<Answer> {
  const { socket, answer } = open(port, requestHead, body);
  try {
    return await answer;
  } finally {
    socket.destroy();
  }
}

/** The usual framing: Content-Type (when given) and Content-Length of the whole body. */
function post(body: string, contentType: string | undefined, path = PATH): (port: number) => Promise<Answer> {
  return (port) =>
    exchange(
      port,
      head(path, {
        ...(contentType !== undefined ? { 'Content-Type': contentType } : {}),
        'Content-Length': Buffer.byteLength(body),
      }),
      body,
    );
}

// ---------------------------------------------------------------------------------------------------------
// Real-shaped deliveries.

const deal = (auth: Record<string, string | undefined>, extra: Record<string, string> = {}) =>
  httpBuildQuery({
    event: 'ONCRMDEALADD',
    event_handler_id: '975',
    data: { FIELDS: { ID: '7405' } },
    ts: '1766047124',
    auth,
    ...extra,
  });
const dealAuthWithoutToken = () => ({ ...webhookAuth(WEBHOOK_TOKEN), application_token: undefined });
/** A chat-bot message of 50 000 Cyrillic letters: over the default BODY_LIMIT (256kb). */
const HUGE_CHAT_MESSAGE = chatBotMessage(APP_TOKEN, BOT_TOKEN).replace(
  'PARAMS%5D%5BMESSAGE%5D=',
  `PARAMS%5D%5BMESSAGE%5D=${'%D0%AF'.repeat(50_000)}`,
);

const unauthorized = {
  answer: { status: 'rejected', reason: 'token_missing' },
  status: 401,
  stage: 'verify' as const,
  reason: 'token_missing',
};
const forbidden = {
  answer: { status: 'rejected', reason: 'token_mismatch' },
  status: 403,
  stage: 'verify' as const,
  reason: 'token_mismatch',
};
const notFound = {
  answer: { status: 'not_found' },
  status: 404,
  stage: 'route' as const,
  reason: 'not_found',
  paced: 'route' as const,
};

/** A plain deal whose body stops half-way: the service answers 408 after BODY_TIMEOUT_SECONDS. */
async function slowBody(port: number): Promise<Answer> {
  const body = Buffer.from(CRM_DEAL_ADD);
  return exchange(
    port,
    head(PATH, { 'Content-Type': FORM, 'Content-Length': body.length }),
    body.subarray(0, body.length >> 1),
  );
}

/**
 * Two gzip uploads of a real deal padded to nearly BODY_LIMIT, held open before their last 8 bytes (the gzip
 * trailer): inflated, they hold the half of the budget compressed bodies may hold, counted as it arrived. A
 * third one is cut mid-read.
 */
async function overloaded(port: number): Promise<Answer> {
  const gzipped = zlib.gzipSync(`${CRM_DEAL_ADD}&data%5BFIELDS%5D%5BCOMMENTS%5D=${'a'.repeat(250_000)}`);
  const gzipHead = head(PATH, { 'Content-Type': FORM, 'Content-Encoding': 'gzip', 'Content-Length': gzipped.length });
  const held = [
    open(port, gzipHead, gzipped.subarray(0, gzipped.length - 8)),
    open(port, gzipHead, gzipped.subarray(0, gzipped.length - 8)),
  ];
  try {
    await Promise.all(held.map(({ socket }) => new Promise((resolve) => socket.once('connect', resolve))));
    // Time for the service to read and inflate what the held uploads sent.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).to.equal(200);
    // The refused one: cut while its body is read, once it passes the compressed bodies' share.
    const refused = await exchange(port, gzipHead, gzipped);
    // The held ones complete (within BODY_TIMEOUT_SECONDS) and are accepted: no other refusal.
    for (const { socket } of held) socket.write(gzipped.subarray(gzipped.length - 8));
    for (const { answer } of held) {
      const done = await answer;
      expect(done.status, 'a held gzip upload, completed').to.equal(200);
      expect(done.body).to.deep.equal({ status: 'accepted' });
    }
    return refused;
  } finally {
    for (const { socket } of held) socket.destroy();
  }
}

const CASES: Case[] = [
  // parse: refused before the body is parsed, or when it does not parse
  {
    name: 'a real deal sent with no Content-Type',
    process: 'main',
    send: post(CRM_DEAL_ADD, undefined),
    status: 415,
    answer: { status: 'rejected', reason: 'unsupported_media_type' },
    stage: 'parse',
    reason: 'unsupported_media_type',
    diagnosis: 'content_type_missing',
    refusalDetail: 'Content-Type is neither form nor JSON',
  },
  {
    name: 'a real deal labelled text/plain by a proxy',
    process: 'main',
    send: post(CRM_DEAL_ADD, 'text/plain; charset=utf-8'),
    status: 415,
    answer: { status: 'rejected', reason: 'unsupported_media_type' },
    stage: 'parse',
    reason: 'unsupported_media_type',
    diagnosis: 'unsupported_media_type_bitrix24_body',
  },
  {
    name: 'a multipart upload (not a Bitrix24 body)',
    process: 'main',
    send: post(
      '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n--x--\r\n',
      'multipart/form-data; boundary=x',
    ),
    status: 415,
    answer: { status: 'rejected', reason: 'unsupported_media_type' },
    stage: 'parse',
    reason: 'unsupported_media_type',
    diagnosis: 'unsupported_media_type',
  },
  {
    name: 'a chat-bot message over BODY_LIMIT (answered from its Content-Length)',
    process: 'main',
    send: (port) =>
      exchange(port, head(PATH, { 'Content-Type': FORM, 'Content-Length': Buffer.byteLength(HUGE_CHAT_MESSAGE) })),
    status: 413,
    answer: { status: 'rejected', reason: 'payload_too_large' },
    stage: 'parse',
    reason: 'payload_too_large',
    diagnosis: 'payload_too_large',
    refusalDetail: 'body over BODY_LIMIT',
  },
  {
    name: 'the verbatim form deal labelled JSON',
    process: 'main',
    send: post(CRM_DEAL_ADD, JSON_TYPE),
    status: 400,
    answer: { status: 'rejected', reason: 'malformed_body' },
    stage: 'parse',
    reason: 'malformed_body',
    diagnosis: 'form_body_labelled_json',
  },
  {
    name: 'a JSON deal cut short',
    process: 'main',
    send: post(dealAsJson().slice(0, -20), JSON_TYPE),
    status: 400,
    answer: { status: 'rejected', reason: 'malformed_body' },
    stage: 'parse',
    reason: 'malformed_body',
    diagnosis: 'malformed_body',
  },
  // limits
  {
    name: `a real deal whose body stops half-way (BODY_TIMEOUT_SECONDS=${BODY_TIMEOUT_SECONDS})`,
    process: 'main',
    send: slowBody,
    status: 408,
    answer: { status: 'rejected', reason: 'request_timeout' },
    stage: 'limits',
    reason: 'request_timeout',
    diagnosis: 'request_timeout',
    refusalDetail: `body not complete ${BODY_TIMEOUT_SECONDS} s after the headers (BODY_TIMEOUT_SECONDS)`,
  },
  {
    name: 'a gzip deal while two held gzip uploads hold the budget for compressed bodies',
    process: 'main',
    send: overloaded,
    status: 503,
    answer: { status: 'rejected', reason: 'overloaded' },
    stage: 'limits',
    reason: 'overloaded',
    diagnosis: 'overloaded',
    refusalDetail: 'bodies in flight hold all of BODY_MEMORY_LIMIT',
  },
  // verify: 401, no token found
  {
    name: 'a form delivery whose body a proxy dropped (Content-Length: 0)',
    process: 'main',
    send: post('', FORM),
    ...unauthorized,
    diagnosis: 'empty_body',
    detail: 'Content-Length: 0',
  },
  {
    name: 'a POST with neither Content-Length nor chunked',
    process: 'main',
    send: (port) => exchange(port, head(PATH, { 'Content-Type': FORM })),
    ...unauthorized,
    diagnosis: 'empty_body',
    detail: 'no Content-Length and not chunked',
  },
  {
    name: 'a chunked POST with no bytes',
    process: 'main',
    send: (port) => exchange(port, head(PATH, { 'Content-Type': FORM, 'Transfer-Encoding': 'chunked' }), '0\r\n\r\n'),
    ...unauthorized,
    diagnosis: 'empty_body',
    detail: 'no bytes in the body',
  },
  {
    name: 'a JSON deal labelled form',
    process: 'main',
    send: post(dealAsJson(), FORM),
    ...unauthorized,
    diagnosis: 'json_body_labelled_form',
  },
  {
    name: 'the token key repeated',
    process: 'main',
    send: post(repeatedTokenKey(), FORM),
    ...unauthorized,
    diagnosis: 'token_repeated',
    detail: 'auth[application_token]',
  },
  {
    name: 'an empty token',
    process: 'main',
    send: post(deal({ ...webhookAuth(''), application_token: '' }), FORM),
    ...unauthorized,
    diagnosis: 'token_empty',
    detail: 'auth[application_token]',
  },
  {
    name: 'the token key nested one level too deep',
    process: 'main',
    send: post(CRM_DEAL_ADD.replace('auth%5Bapplication_token%5D=', 'auth%5Bapplication_token%5D%5B0%5D='), FORM),
    ...unauthorized,
    diagnosis: 'token_not_a_string',
    detail: 'auth[application_token]',
  },
  {
    name: 'the token key encoded twice',
    process: 'main',
    send: post(CRM_DEAL_ADD.replace('auth%5Bapplication_token%5D', 'auth%255Bapplication_token%255D'), FORM),
    ...unauthorized,
    diagnosis: 'token_key_double_encoded',
    detail: 'auth%5Bapplication_token%5D',
  },
  {
    name: 'auth[APPLICATION_TOKEN]',
    process: 'main',
    send: post(deal({ ...dealAuthWithoutToken(), APPLICATION_TOKEN: WEBHOOK_TOKEN }), FORM),
    ...unauthorized,
    diagnosis: 'token_key_wrong_case',
    detail: 'auth[APPLICATION_TOKEN]',
  },
  {
    name: 'application_token at the top of the body',
    process: 'main',
    send: post(deal(dealAuthWithoutToken(), { application_token: WEBHOOK_TOKEN }), FORM),
    ...unauthorized,
    diagnosis: 'token_key_top_level',
    detail: 'application_token',
  },
  {
    name: '?auth[application_token]= on the URL, the body token stripped',
    process: 'main',
    send: post(withoutToken(CRM_DEAL_ADD), FORM, `${PATH}?auth%5Bapplication_token%5D=${WEBHOOK_TOKEN}`),
    ...unauthorized,
    diagnosis: 'token_in_query_as_form_key',
    detail: 'query auth[application_token]',
  },
  {
    name: 'the verbatim deal without its token',
    process: 'main',
    send: post(withoutToken(CRM_DEAL_ADD), FORM),
    ...unauthorized,
    diagnosis: 'auth_without_token',
  },
  {
    name: 'a JSON body with no auth (an app forwarding data only)',
    process: 'main',
    send: post(
      JSON.stringify({ event: 'ONCRMDEALADD', data: { FIELDS: { ID: '7405' } }, ts: '1766047124' }),
      JSON_TYPE,
    ),
    ...unauthorized,
    diagnosis: 'json_without_auth',
  },
  {
    name: 'a form body with no auth (a proxy that kept only data)',
    process: 'main',
    send: post(httpBuildQuery({ event: 'ONCRMDEALADD', data: { FIELDS: { ID: '7405' } }, ts: '1766047124' }), FORM),
    ...unauthorized,
    diagnosis: 'no_auth_block',
  },
  // verify: 403, a token that matches none
  {
    name: 'the verbatim task event, signed by another application',
    process: 'main',
    send: post(TASK_ADD, FORM),
    ...forbidden,
    diagnosis: 'mismatch_bitrix24_shaped',
    detail: 'auth[application_token]',
  },
  {
    name: 'a placeholder token from a template',
    process: 'main',
    send: post(deal(webhookAuth(PLACEHOLDER)), FORM),
    ...forbidden,
    diagnosis: 'mismatch_not_bitrix24_shaped',
    detail: 'auth[application_token]',
  },
  // route: a POST to a wrong path
  {
    name: 'the verbatim deal POSTed to a mistyped path',
    process: 'main',
    send: post(CRM_DEAL_ADD, FORM, '/api/bitrix/webhok'),
    ...notFound,
    diagnosis: 'wrong_path_bitrix24_body',
    refusalDetail: `no such path; the webhook path is ${PATH}`,
  },
  {
    name: "Bitrix24's POST turned into a GET by a followed redirect",
    process: 'main',
    send: (port) => exchange(port, head(PATH, {}).replace(/^POST /, 'GET ')),
    status: 405,
    answer: { status: 'method_not_allowed' },
    stage: 'route',
    reason: 'method_not_allowed',
    diagnosis: 'redirected_to_get',
    refusalDetail: 'GET on the webhook path; Bitrix24 sends POST (a redirect turned it into a GET)',
  },
  {
    name: 'a login form POSTed by a scanner',
    process: 'main',
    send: post('log=admin&pwd=hunter2&wp-submit=Log+In', FORM, '/wp-login.php'),
    ...notFound,
    diagnosis: 'wrong_path',
  },
  // other configurations
  {
    name: 'the verbatim deal to a service with no token configured',
    process: 'unconfigured',
    send: post(CRM_DEAL_ADD, FORM),
    status: 503,
    answer: { status: 'rejected', reason: 'not_configured' },
    stage: 'verify',
    reason: 'not_configured',
    diagnosis: 'not_configured',
  },
  {
    name: 'the verbatim deal to a service configured with a handler URL as its token',
    process: 'urlConfigured',
    send: post(CRM_DEAL_ADD, FORM),
    ...forbidden,
    diagnosis: 'configured_token_malformed',
    detail: URL_FAULT,
  },
  {
    name: "a chat-bot message to a service configured with the bot's own token, not the application's",
    process: 'bodyOnly',
    send: post(chatBotMessage(OTHER_APP_TOKEN, BOT_TOKEN), FORM),
    ...forbidden,
    diagnosis: 'bot_token_configured',
    detail: 'data[BOT][567][AUTH][application_token]',
  },
  {
    name: 'a task event of portal a223… signed with the token bound to portal d897…',
    process: 'bodyOnly',
    send: post(TASK_ADD, FORM),
    status: 403,
    answer: { status: 'rejected', reason: 'portal_mismatch' },
    stage: 'verify',
    reason: 'portal_mismatch',
    diagnosis: 'portal_mismatch',
    detail:
      'token tasks is bound to member_id d897063e1ce7c5eb9f04b9751eef5915; the delivery names "a223c6b3710f85df22e9377d6c4f7553"',
  },
  {
    name: '?application_token= on the URL while BITRIX24_TOKEN_SOURCES=body',
    process: 'bodyOnly',
    send: post(withoutToken(CRM_DEAL_ADD), FORM, `${PATH}?application_token=${WEBHOOK_TOKEN}`),
    ...unauthorized,
    diagnosis: 'token_in_unchecked_source',
    detail: 'query application_token',
  },
];

/** The values a real request can produce: all but `unknown` (and `store_unavailable`, a storage failure). */
const PRODUCIBLE = DIAGNOSES.filter(
  (diagnosis) => diagnosis !== 'unknown' && (diagnosis as string) !== 'store_unavailable',
);

function resultOf(testCase: Case): string {
  if (testCase.stage !== 'verify') return 'not_verified';
  return {
    token_missing: 'missing',
    token_mismatch: 'mismatched',
    portal_mismatch: 'mismatched',
    not_configured: 'not_configured',
  }[testCase.reason]!;
}

function diagnosisSeries(metricsText: string): Record<string, number> {
  const series: Record<string, number> = {};
  const prefix = `${METRIC.rejectionsByDiagnosis}{diagnosis="`;
  for (const line of metricsText.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const close = line.indexOf('"}', prefix.length);
    series[line.slice(prefix.length, close)] = Number(line.slice(close + 2).trim());
  }
  return series;
}

function expectedSeries(process: ProcessName): Record<string, number> {
  const expected: Record<string, number> = Object.fromEntries(DIAGNOSES.map((diagnosis) => [diagnosis, 0]));
  for (const testCase of CASES) if (testCase.process === process) expected[testCase.diagnosis]! += 1;
  return expected;
}

const isRefusal = (line: Record<string, unknown>) => line.message === REFUSAL_MESSAGE;

describe('every diagnosis from the real process, for its real-shaped delivery', function () {
  this.timeout(60_000);
  const receiver = new OtlpReceiver();
  const services = {} as Record<ProcessName, RunningService>;
  let lastRouteRefusal = -Infinity;

  before(async () => {
    await receiver.start();
    const exporting = {
      OTEL_TRACES_EXPORTER: undefined,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '100',
    };
    const [main, unconfigured, bodyOnly, urlConfigured] = await Promise.all([
      spawnService({
        env: {
          BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
          BODY_MEMORY_LIMIT,
          BODY_TIMEOUT_SECONDS: String(BODY_TIMEOUT_SECONDS),
          // The half-way body below stops sending: BODY_TIMEOUT_SECONDS, not the minimum rate, is what this case shows.
          BODY_MIN_BYTES_PER_SECOND: '0',
          OTEL_TRACES_EXPORTER: undefined,
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
          OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
          OTEL_BSP_SCHEDULE_DELAY: '100',
        },
      }),
      spawnService({ env: {} }),
      // With the chat-bot's own token configured too (instead of its application's outer token).
      spawnService({
        env: {
          ...exporting,
          BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
          BITRIX24_WEBHOOK_TOKENS: `bot=${BOT_TOKEN}\ntasks=${APP_TOKEN}@d897063e1ce7c5eb9f04b9751eef5915`,
          BITRIX24_TOKEN_SOURCES: 'body',
        },
      }),
      spawnService({ env: { ...exporting, BITRIX24_WEBHOOK_TOKENS: `crm=${URL_AS_TOKEN}` } }),
    ]);
    Object.assign(services, { main, unconfigured, bodyOnly, urlConfigured });
  });
  after(async () => {
    await Promise.all(Object.values(services).map((service) => service.stop()));
    await receiver.stop();
  });

  it(`has a real-process case for every diagnosis but unknown (${PRODUCIBLE.length} values)`, () => {
    expect([...new Set(CASES.map((testCase) => testCase.diagnosis))].sort()).to.deep.equal([...PRODUCIBLE].sort());
  });

  for (const testCase of CASES) {
    const expectedDetail = testCase.detail === undefined ? 'no detail' : `detail ${testCase.detail}`;
    it(`${testCase.name}: ${testCase.status}, ${testCase.diagnosis} (${expectedDetail})`, async () => {
      const service = services[testCase.process];
      if (testCase.paced === 'route') {
        const wait = lastRouteRefusal + RATE_LIMIT_MS + 100 - Date.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        lastRouteRefusal = Date.now();
      }
      const before = service.logs.filter(isRefusal).length;
      const answer = await testCase.send(service.port);
      expect(answer.status).to.equal(testCase.status);
      expect(answer.body).to.deep.equal(testCase.answer);
      await service.waitForLog(() => service.logs.filter(isRefusal).length > before, 5000);
      const line = service.logs.filter(isRefusal)[before]!;
      expect(line.level).to.equal('warn');
      expect({ stage: line.stage, result: line.result, reason: line.reason, diagnosis: line.diagnosis }).to.deep.equal({
        stage: testCase.stage,
        result: resultOf(testCase),
        reason: testCase.reason,
        diagnosis: testCase.diagnosis,
      });
      if (testCase.detail === undefined) expect(line).not.to.have.property('diagnosis_detail');
      else expect(line.diagnosis_detail).to.equal(testCase.detail);
      if (testCase.refusalDetail !== undefined) expect(line.detail).to.equal(testCase.refusalDetail);
    });
  }

  it("names the configuration's token fault in every refusal of a misconfigured service, and on /readyz", async () => {
    const service = services.urlConfigured;
    const lines = service.logs.filter(isRefusal);
    expect(lines).to.have.length.above(0);
    for (const line of lines) expect(line.configured_token_faults).to.deep.equal([URL_FAULT]);
    for (const line of services.main.logs.filter(isRefusal))
      expect(line).not.to.have.property('configured_token_faults');
    const ready = await fetch(`${service.url}/readyz`);
    expect(ready.status).to.equal(200);
    expect(((await ready.json()) as { warnings: string[] }).warnings).to.deep.equal([URL_FAULT]);
  });

  it('wrote exactly one warn line per refused delivery, in each process', async () => {
    // A line written late (a second one for a delivery) would show up here.
    await new Promise((resolve) => setTimeout(resolve, 200));
    for (const [name, service] of Object.entries(services)) {
      const lines = service.logs.filter(isRefusal);
      expect(
        lines.map((line) => line.diagnosis),
        name,
      ).to.deep.equal(CASES.filter((testCase) => testCase.process === name).map((testCase) => testCase.diagnosis));
    }
  });

  it(`counts each refusal once in ${METRIC.rejectionsByDiagnosis}, by its diagnosis, and nothing else`, async () => {
    for (const [name, service] of Object.entries(services) as Array<[ProcessName, RunningService]>) {
      const text = await (await fetch(`${service.url}/metrics`)).text();
      expect(diagnosisSeries(text), name).to.deep.equal(expectedSeries(name));
    }
  });

  it(`puts ${ATTR.diagnosis} on the HTTP server span of every refusal, and on the verify span of those refused at verify`, async () => {
    // Every process but the unconfigured one exports to the receiver.
    const main = CASES.filter((testCase) => testCase.process !== 'unconfigured');
    const count = (spans: typeof receiver.spans) => {
      const counts: Record<string, number> = {};
      for (const span of spans)
        counts[String(span.attributes[ATTR.diagnosis])] = (counts[String(span.attributes[ATTR.diagnosis])] ?? 0) + 1;
      return counts;
    };
    const tally = (cases: Case[]) => {
      const counts: Record<string, number> = {};
      for (const testCase of cases) counts[testCase.diagnosis] = (counts[testCase.diagnosis] ?? 0) + 1;
      return counts;
    };
    const diagnosed = (kind: 'server' | 'verify') =>
      receiver.spans.filter(
        (span) =>
          ATTR.diagnosis in span.attributes &&
          (kind === 'server' ? span.kind === SERVER_KIND : span.name === 'bitrix.token.verify'),
      );
    const verifyCases = main.filter((testCase) => testCase.stage === 'verify');
    await receiver.waitFor(
      () => diagnosed('server').length >= main.length && diagnosed('verify').length >= verifyCases.length,
    );
    expect(count(diagnosed('server'))).to.deep.equal(tally(main));
    expect(count(diagnosed('verify'))).to.deep.equal(tally(verifyCases));
    // One delivery of each stage, by name: its server span, and the verify span (under it) only at verify.
    for (const stage of ['parse', 'verify', 'route', 'limits'] as const) {
      const { diagnosis } = main.find((testCase) => testCase.stage === stage)!;
      const server = diagnosed('server').find((span) => span.attributes[ATTR.diagnosis] === diagnosis)!;
      const verify = receiver.spans.filter(
        (span) => span.traceId === server.traceId && span.name === 'bitrix.token.verify',
      );
      expect(
        verify.map((span) => [span.parentSpanId, span.attributes[ATTR.diagnosis]]),
        stage,
      ).to.deep.equal(stage === 'verify' ? [[server.spanId, diagnosis]] : []);
    }
  });

  it('writes no token it was sent to any log line or exported span', () => {
    const spansText = JSON.stringify(receiver.spans);
    for (const [name, service] of Object.entries(services)) {
      const output = service.stdout() + service.stderr();
      for (const token of TOKENS_SENT) {
        expect(output.includes(token), `${name} output holds a token`).to.equal(false);
        expect(spansText.includes(token), 'an exported span holds a token').to.equal(false);
      }
    }
  });
});
