import { expect } from 'chai';
import * as fc from 'fast-check';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import querystring from 'node:querystring';
import qs from 'qs';
import { FORM_PARSE_OPTIONS } from '../../src/receive/form-options';
import { DIAGNOSES, TOKEN_SOURCES, type TokenSource } from '../../src/vocabulary/names';
import {
  diagnose,
  looksLikeBitrix24Token,
  RAW_PREFIX_LENGTH,
  type DiagnosisInput,
  type DiagnosisResult,
  type RefusalOutcome,
} from '../../src/verify/diagnose';
import { extractToken, type TokenCarrier } from '../../src/verify/extract';
import { checkBinding, createTokenMatcher, decide } from '../../src/verify/verify';
import type { PortalBinding } from '../../src/config/portal-binding';
import { deliveryFacts } from '../../src/receive/delivery';
import { tokenShapeProblem } from '../../src/config/hygiene';
import {
  APP_TOKEN,
  CRM_DEAL_ADD,
  everyShape,
  TASK_ADD,
  chatBotMessage,
  dealAsJson,
  flatParsedAsJson,
  httpBuildQuery,
  repeatedTokenKey,
  webhookAuth,
  WEBHOOK_TOKEN,
  withoutToken,
} from '../support/bitrix-bodies';

const FORM = 'application/x-www-form-urlencoded';
const JSON_TYPE = 'application/json';
const BODY_LIMIT = 256 * 1024;

/** A request as it would reach the service, and the service's configuration. */
interface Delivery {
  body?: string;
  contentType?: string;
  /** Default: the body's byte length; 'absent' sends no Content-Length. */
  contentLength?: number | 'absent';
  chunked?: boolean;
  /** The query string, without `?`. */
  query?: string;
  headers?: Record<string, string | string[]>;
  sources?: readonly TokenSource[];
  /** The configured tokens; none means not configured. */
  tokens?: readonly string[];
  /** A POST to another path than WEBHOOK_PATH. */
  wrongPath?: boolean;
  /** Refused by a bound before its body was read (src/receive/limits.ts). */
  limit?: 'request_timeout' | 'overloaded';
  /** Accepted by its token, then the store write failed. */
  storeFails?: boolean;
  /** A GET on the webhook path (a followed redirect). */
  get?: boolean;
  /** Every configured token bound to this portal (`name=token@member_id`). */
  portal?: PortalBinding;
}

/**
 * What src/receive/webhook.ts does with a request, step by step, down to the refusal: the content-type
 * gate, koa-bodyparser's limit and parsers (co-body: strict JSON, qs with FORM_PARSE_OPTIONS), Koa's flat
 * query parser, the real extractToken and decide. Returns the diagnosis input the service would build.
 */
function refuse(delivery: Delivery): DiagnosisInput {
  const raw = delivery.body ?? '';
  const chunked = delivery.chunked ?? false;
  const contentLength =
    delivery.contentLength === 'absent' || chunked ? undefined : (delivery.contentLength ?? Buffer.byteLength(raw));
  const headers: Record<string, string | string[]> = {
    host: 'hooks.example.com',
    'user-agent': 'Bitrix24 Webhook Engine',
    ...delivery.headers,
  };
  if (delivery.contentType !== undefined) headers['content-type'] = delivery.contentType;
  if (contentLength !== undefined) headers['content-length'] = String(contentLength);
  if (chunked) headers['transfer-encoding'] = 'chunked';
  const sources = delivery.sources ?? TOKEN_SOURCES;
  const query = querystring.parse(delivery.query ?? '') as Record<string, unknown>;
  const base = {
    contentType: delivery.contentType,
    contentLength,
    chunked,
    query,
    headerNames: Object.keys(headers).sort(),
    sources,
  };
  const stage = (outcome: RefusalOutcome, rawPrefix?: string): DiagnosisInput => ({
    ...base,
    outcome,
    body: undefined,
    rawPrefix,
    extractions: [],
  });

  const type = (delivery.contentType ?? '').split(';')[0]!.trim().toLowerCase();
  const isJson = type === JSON_TYPE || (type.startsWith('application/') && type.endsWith('+json'));
  const isForm = type === FORM;
  // A wrong path: the lead reads the start of the body, not parsed.
  if (delivery.wrongPath) return stage('not_found', raw.slice(0, RAW_PREFIX_LENGTH));
  if (delivery.limit) return stage(delivery.limit);
  if (delivery.storeFails) return stage('store_unavailable');
  if (delivery.get) return stage('method_not_allowed');
  const hasBody = (contentLength ?? 0) > 0 || chunked;
  // An uncompressed body of another type is read (within the limit) and kept: its start is diagnosed.
  if (hasBody && !isJson && !isForm) return stage('unsupported_media_type', raw.slice(0, RAW_PREFIX_LENGTH));
  if (Buffer.byteLength(raw) > BODY_LIMIT) return stage('payload_too_large');

  let body: unknown = {};
  let rawPrefix: string | undefined;
  if (isJson) {
    rawPrefix = raw.slice(0, RAW_PREFIX_LENGTH);
    if (raw !== '') {
      if (!/^[\x20\x09\x0a\x0d]*[[{]/.test(raw)) return stage('malformed_body', rawPrefix);
      try {
        body = JSON.parse(raw);
      } catch {
        return stage('malformed_body', rawPrefix);
      }
    }
  } else if (isForm) {
    rawPrefix = raw.slice(0, RAW_PREFIX_LENGTH);
    try {
      body = qs.parse(raw, FORM_PARSE_OPTIONS);
    } catch {
      return stage('malformed_body', rawPrefix);
    }
  }

  const headersDistinct = Object.fromEntries(
    Object.entries(headers).map(([name, value]) => [name, typeof value === 'string' ? [value] : value]),
  );
  const carrier: TokenCarrier = { body, query, headers: headersDistinct };
  const extractions = sources.map((source) => extractToken(source, carrier));
  const tokens = delivery.tokens ?? [WEBHOOK_TOKEN];
  const configuredTokenFaults = tokens.flatMap((token, i) => {
    const problem = tokenShapeProblem(token);
    return problem === undefined ? [] : [{ where: `BITRIX24_WEBHOOK_TOKENS entry ${i + 1} (t${i})`, problem }];
  });
  const configured = createTokenMatcher(tokens.map((token, i) => ({ name: `t${i}`, token })));
  const input = {
    ...base,
    body,
    rawPrefix,
    extractions,
    configuredTokenFaults,
    isConfiguredToken: (token: string) => configured(token) !== undefined,
  };
  if (tokens.length === 0) return { ...input, outcome: 'not_configured' };
  const named = tokens.map((token, i) => ({
    name: `t${i}`,
    token,
    ...(delivery.portal ? { portal: delivery.portal } : {}),
  }));
  const verdict = checkBinding(decide(extractions, createTokenMatcher(named)), named, deliveryFacts(body));
  if (verdict.result === 'mismatched' && verdict.reason === 'portal_mismatch')
    return { ...input, outcome: 'portal_mismatch', portalMismatch: verdict.portalMismatch };
  if (verdict.result === 'accepted') throw new Error('the delivery was accepted: not a refusal');
  return { ...input, outcome: verdict.reason };
}

const deal = (auth: Record<string, string | undefined>, extra: Record<string, string> = {}) =>
  httpBuildQuery({
    event: 'ONCRMDEALADD',
    event_handler_id: '975',
    data: { FIELDS: { ID: '7405' } },
    ts: '1766047124',
    auth,
    ...extra,
  });
const dealAuthWithout = () => ({ ...webhookAuth(WEBHOOK_TOKEN), application_token: undefined });
const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJnYXRld2F5In0.c2lnbmF0dXJl';

interface Case {
  name: string;
  delivery: Delivery;
  expected: DiagnosisResult;
}

// Each diagnosis from the delivery that really produces it.
const CASES: Case[] = [
  {
    name: 'no token configured: a real deal',
    delivery: { body: CRM_DEAL_ADD, contentType: FORM, tokens: [] },
    expected: { diagnosis: 'not_configured' },
  },
  {
    name: 'a real deal sent with no Content-Type',
    delivery: { body: CRM_DEAL_ADD },
    expected: { diagnosis: 'content_type_missing' },
  },
  {
    name: 'a real deal labelled text/plain by a proxy',
    delivery: { body: CRM_DEAL_ADD, contentType: 'text/plain; charset=utf-8' },
    expected: { diagnosis: 'unsupported_media_type_bitrix24_body' },
  },
  {
    name: 'a chat-bot message over BODY_LIMIT',
    delivery: {
      body: chatBotMessage().replace('PARAMS%5D%5BMESSAGE%5D=', `PARAMS%5D%5BMESSAGE%5D=${'%D0%AF'.repeat(50_000)}`),
      contentType: FORM,
    },
    expected: { diagnosis: 'payload_too_large' },
  },
  {
    name: 'a real form deal labelled JSON',
    delivery: { body: CRM_DEAL_ADD, contentType: JSON_TYPE },
    expected: { diagnosis: 'form_body_labelled_json' },
  },
  {
    name: 'a form deal labelled JSON with a charset',
    delivery: { body: TASK_ADD, contentType: 'application/json; charset=utf-8' },
    expected: { diagnosis: 'form_body_labelled_json' },
  },
  {
    name: 'a JSON deal cut short',
    delivery: { body: dealAsJson().slice(0, -20), contentType: JSON_TYPE },
    expected: { diagnosis: 'malformed_body' },
  },
  {
    name: 'a form body of more than 1000 parameters',
    delivery: {
      body: `${CRM_DEAL_ADD}&${Array.from({ length: 1000 }, (_, i) => `data%5BFIELDS%5D%5BUF_${i}%5D=1`).join('&')}`,
      contentType: FORM,
    },
    expected: { diagnosis: 'malformed_body' },
  },
  {
    name: 'a form delivery whose body a proxy dropped (Content-Length: 0)',
    delivery: { body: '', contentType: FORM },
    expected: { diagnosis: 'empty_body', detail: 'Content-Length: 0' },
  },
  {
    name: 'a redirect that dropped the body and its type',
    delivery: { body: '' },
    expected: { diagnosis: 'empty_body', detail: 'Content-Length: 0' },
  },
  {
    name: 'no Content-Length and not chunked',
    delivery: { body: '', contentType: FORM, contentLength: 'absent' },
    expected: { diagnosis: 'empty_body', detail: 'no Content-Length and not chunked' },
  },
  {
    name: 'chunked with no bytes',
    delivery: { body: '', contentType: FORM, chunked: true },
    expected: { diagnosis: 'empty_body', detail: 'no bytes in the body' },
  },
  {
    name: 'an empty JSON body',
    delivery: { body: '', contentType: JSON_TYPE },
    expected: { diagnosis: 'empty_body', detail: 'Content-Length: 0' },
  },
  {
    name: 'a JSON deal labelled form',
    delivery: { body: dealAsJson(), contentType: FORM },
    expected: { diagnosis: 'json_body_labelled_form' },
  },
  {
    name: 'a flat-parsed deal re-sent as JSON, labelled form',
    delivery: { body: flatParsedAsJson(), contentType: FORM },
    expected: { diagnosis: 'json_body_labelled_form' },
  },
  {
    name: 'a batch of JSON deals labelled form',
    delivery: { body: `[${dealAsJson()},${dealAsJson()}]`, contentType: FORM },
    expected: { diagnosis: 'json_body_labelled_form' },
  },
  {
    name: 'pretty-printed JSON with & and = in its text, labelled form',
    delivery: {
      body: `\n  ${JSON.stringify({ event: 'ONCRMDEALADD', data: { FIELDS: { TITLE: 'A&B = C' } }, auth: webhookAuth(WEBHOOK_TOKEN) }, null, 2)}`,
      contentType: FORM,
    },
    expected: { diagnosis: 'json_body_labelled_form' },
  },
  {
    name: 'the token key repeated',
    delivery: { body: repeatedTokenKey(), contentType: FORM },
    expected: { diagnosis: 'token_repeated', detail: 'auth[application_token]' },
  },
  {
    name: 'X-Bitrix24-Token sent twice by a gateway',
    delivery: {
      body: withoutToken(CRM_DEAL_ADD),
      contentType: FORM,
      headers: { 'x-bitrix24-token': [WEBHOOK_TOKEN, WEBHOOK_TOKEN] },
    },
    expected: { diagnosis: 'token_repeated', detail: 'header x-bitrix24-token' },
  },
  {
    name: 'an empty token',
    delivery: { body: deal({ ...webhookAuth(''), application_token: '' }), contentType: FORM },
    expected: { diagnosis: 'token_empty', detail: 'auth[application_token]' },
  },
  {
    name: 'an empty ?token=',
    delivery: { body: withoutToken(CRM_DEAL_ADD), contentType: FORM, query: 'token=' },
    expected: { diagnosis: 'token_empty', detail: 'query token' },
  },
  {
    name: 'a JSON forwarder that wrote null for the token',
    delivery: {
      body: JSON.stringify({
        event: 'ONCRMDEALADD',
        data: { FIELDS: { ID: '7405' } },
        auth: { ...webhookAuth(WEBHOOK_TOKEN), application_token: null },
      }),
      contentType: JSON_TYPE,
    },
    expected: { diagnosis: 'token_not_a_string', detail: 'auth[application_token]' },
  },
  {
    name: 'the token key nested one level too deep',
    delivery: {
      body: CRM_DEAL_ADD.replace('auth%5Bapplication_token%5D=', 'auth%5Bapplication_token%5D%5B0%5D='),
      contentType: FORM,
    },
    expected: { diagnosis: 'token_not_a_string', detail: 'auth[application_token]' },
  },
  {
    name: '?application_token= on the URL while only body is checked',
    delivery: {
      body: withoutToken(CRM_DEAL_ADD),
      contentType: FORM,
      query: `application_token=${WEBHOOK_TOKEN}`,
      sources: ['body'],
    },
    expected: { diagnosis: 'token_in_unchecked_source', detail: 'query application_token' },
  },
  {
    name: 'a real deal while only header is checked',
    delivery: { body: CRM_DEAL_ADD, contentType: FORM, sources: ['header'] },
    expected: { diagnosis: 'token_in_unchecked_source', detail: 'auth[application_token]' },
  },
  {
    name: 'X-Bitrix24-Token added by a gateway while header is not checked',
    delivery: {
      body: withoutToken(CRM_DEAL_ADD),
      contentType: FORM,
      headers: { 'x-bitrix24-token': WEBHOOK_TOKEN },
      sources: ['body', 'query'],
    },
    expected: { diagnosis: 'token_in_unchecked_source', detail: 'header x-bitrix24-token' },
  },
  {
    name: 'the token key encoded twice',
    delivery: {
      body: CRM_DEAL_ADD.replace('auth%5Bapplication_token%5D', 'auth%255Bapplication_token%255D'),
      contentType: FORM,
    },
    expected: { diagnosis: 'token_key_double_encoded', detail: 'auth%5Bapplication_token%5D' },
  },
  {
    name: 'the token key encoded three times',
    delivery: {
      body: CRM_DEAL_ADD.replace('auth%5Bapplication_token%5D', 'auth%25255Bapplication_token%25255D'),
      contentType: FORM,
    },
    expected: { diagnosis: 'token_key_double_encoded', detail: 'auth%255Bapplication_token%255D' },
  },
  {
    name: 'auth[APPLICATION_TOKEN]',
    delivery: { body: deal({ ...dealAuthWithout(), APPLICATION_TOKEN: WEBHOOK_TOKEN }), contentType: FORM },
    expected: { diagnosis: 'token_key_wrong_case', detail: 'auth[APPLICATION_TOKEN]' },
  },
  {
    name: 'AUTH[application_token] in an upper-cased body',
    delivery: { body: httpBuildQuery({ EVENT: 'ONCRMDEALADD', AUTH: webhookAuth(WEBHOOK_TOKEN) }), contentType: FORM },
    expected: { diagnosis: 'token_key_wrong_case', detail: 'AUTH[application_token]' },
  },
  {
    name: 'Auth[Application_Token] left flat in JSON',
    delivery: {
      body: JSON.stringify({ event: 'ONCRMDEALADD', 'Auth[Application_Token]': WEBHOOK_TOKEN }),
      contentType: JSON_TYPE,
    },
    expected: { diagnosis: 'token_key_wrong_case', detail: 'Auth[Application_Token]' },
  },
  {
    name: 'application_token at the top of the body',
    delivery: { body: deal(dealAuthWithout(), { application_token: WEBHOOK_TOKEN }), contentType: FORM },
    expected: { diagnosis: 'token_key_top_level', detail: 'application_token' },
  },
  {
    name: 'application_token at the top of a JSON body with no auth',
    delivery: {
      body: JSON.stringify({ event: 'ONCRMDEALADD', application_token: WEBHOOK_TOKEN }),
      contentType: JSON_TYPE,
    },
    expected: { diagnosis: 'token_key_top_level', detail: 'application_token' },
  },
  {
    name: '?auth[application_token]= on the URL',
    delivery: {
      body: withoutToken(CRM_DEAL_ADD),
      contentType: FORM,
      query: `auth%5Bapplication_token%5D=${WEBHOOK_TOKEN}`,
    },
    expected: { diagnosis: 'token_in_query_as_form_key', detail: 'query auth[application_token]' },
  },
  {
    name: 'a real deal without its token',
    delivery: { body: withoutToken(CRM_DEAL_ADD), contentType: FORM },
    expected: { diagnosis: 'auth_without_token' },
  },
  {
    name: 'a flat-parsed deal re-sent as JSON without its token',
    delivery: {
      body: JSON.stringify(Object.fromEntries(new URLSearchParams(withoutToken(CRM_DEAL_ADD)))),
      contentType: JSON_TYPE,
    },
    expected: { diagnosis: 'auth_without_token' },
  },
  {
    name: 'a JSON body with no auth (an app forwarding data only)',
    delivery: {
      body: JSON.stringify({ event: 'ONCRMDEALADD', data: { FIELDS: { ID: '7405' } }, ts: '1766047124' }),
      contentType: JSON_TYPE,
    },
    expected: { diagnosis: 'json_without_auth' },
  },
  {
    name: 'a form body with no auth (a proxy that kept only data)',
    delivery: {
      body: httpBuildQuery({ event: 'ONCRMDEALADD', data: { FIELDS: { ID: '7405' } }, ts: '1766047124' }),
      contentType: FORM,
    },
    expected: { diagnosis: 'no_auth_block' },
  },
  {
    name: 'a real deal signed by another webhook (rotated)',
    delivery: { body: CRM_DEAL_ADD, contentType: FORM, tokens: [APP_TOKEN] },
    expected: { diagnosis: 'mismatch_bitrix24_shaped', detail: 'auth[application_token]' },
  },
  {
    name: 'an API gateway JWT as Bearer, body token stripped',
    delivery: { body: withoutToken(CRM_DEAL_ADD), contentType: FORM, headers: { authorization: `Bearer ${jwt}` } },
    expected: { diagnosis: 'mismatch_not_bitrix24_shaped', detail: 'header authorization (Bearer)' },
  },
  {
    name: 'a placeholder token from a template',
    delivery: { body: deal(webhookAuth('YOUR_TOKEN_HERE')), contentType: FORM },
    expected: { diagnosis: 'mismatch_not_bitrix24_shaped', detail: 'auth[application_token]' },
  },
  {
    name: 'a token with a trailing newline (copied into a forwarder)',
    delivery: { body: deal(webhookAuth(`${WEBHOOK_TOKEN}\n`)), contentType: FORM },
    expected: { diagnosis: 'mismatch_not_bitrix24_shaped', detail: 'auth[application_token]' },
  },
  {
    name: 'a real deal whose body did not arrive within BODY_TIMEOUT_SECONDS',
    delivery: { body: CRM_DEAL_ADD, contentType: FORM, limit: 'request_timeout' },
    expected: { diagnosis: 'request_timeout' },
  },
  {
    name: 'a real deal past the bound on bodies in flight',
    delivery: { body: CRM_DEAL_ADD, contentType: FORM, limit: 'overloaded' },
    expected: { diagnosis: 'overloaded' },
  },
  {
    name: 'a real deal relabelled text/plain by a proxy',
    delivery: { body: CRM_DEAL_ADD, contentType: 'text/plain; charset=utf-8' },
    expected: { diagnosis: 'unsupported_media_type_bitrix24_body' },
  },
  {
    name: 'a chat-bot message relabelled application/octet-stream',
    delivery: { body: chatBotMessage(), contentType: 'application/octet-stream' },
    expected: { diagnosis: 'unsupported_media_type_bitrix24_body' },
  },
  {
    name: 'a text/plain body that is no delivery',
    delivery: { body: 'hello', contentType: 'text/plain' },
    expected: { diagnosis: 'unsupported_media_type' },
  },
  {
    name: "Bitrix24's POST turned into a GET by a redirect",
    delivery: { get: true },
    expected: { diagnosis: 'redirected_to_get' },
  },
  {
    name: 'a real deal POSTed to a wrong path',
    delivery: { body: CRM_DEAL_ADD, contentType: FORM, wrongPath: true },
    expected: { diagnosis: 'wrong_path_bitrix24_body' },
  },
  ...everyShape().map(
    ({ name, body }): Case => ({
      name: `${name}, POSTed to a wrong path`,
      delivery: { body, contentType: FORM, wrongPath: true },
      expected: { diagnosis: 'wrong_path_bitrix24_body' },
    }),
  ),
  {
    name: 'a chat-bot message of 2 000 Cyrillic letters, POSTed to a wrong path',
    delivery: {
      body: chatBotMessage().replace('PARAMS%5D%5BMESSAGE%5D=', `PARAMS%5D%5BMESSAGE%5D=${'%D0%AF'.repeat(2_000)}`),
      contentType: FORM,
      wrongPath: true,
    },
    expected: { diagnosis: 'wrong_path_bitrix24_body' },
  },
  {
    name: 'a login form POSTed to a wrong path',
    delivery: { body: 'log=admin&pwd=hunter2&wp-submit=Log+In', contentType: FORM, wrongPath: true },
    expected: { diagnosis: 'wrong_path' },
  },
  {
    name: 'an empty POST to a wrong path',
    delivery: { body: '', contentType: FORM, wrongPath: true },
    expected: { diagnosis: 'wrong_path' },
  },
  {
    name: 'an analytics beacon (event=ON…, no auth) POSTed to a wrong path',
    delivery: { body: 'event=ONLOAD&page=%2Fpricing&ref=', contentType: FORM, wrongPath: true },
    expected: { diagnosis: 'wrong_path' },
  },
  // Several causes at once: the precedence decides (see diagnose()).
  {
    name: 'precedence: not configured, and the body dropped',
    delivery: { body: '', contentType: FORM, tokens: [] },
    expected: { diagnosis: 'not_configured' },
  },
  {
    name: 'precedence: the body dropped, and ?application_token= not checked',
    delivery: { body: '', contentType: FORM, query: `application_token=${WEBHOOK_TOKEN}`, sources: ['body'] },
    expected: { diagnosis: 'empty_body', detail: 'Content-Length: 0' },
  },
  {
    name: 'precedence: the body token repeated, and X-Bitrix24-Token not checked',
    delivery: {
      body: repeatedTokenKey(),
      contentType: FORM,
      headers: { 'x-bitrix24-token': WEBHOOK_TOKEN },
      sources: ['body', 'query'],
    },
    expected: { diagnosis: 'token_repeated', detail: 'auth[application_token]' },
  },
  {
    name: 'precedence: ?token= not checked, and auth[APPLICATION_TOKEN]',
    delivery: {
      body: deal({ ...dealAuthWithout(), APPLICATION_TOKEN: WEBHOOK_TOKEN }),
      contentType: FORM,
      query: `token=${WEBHOOK_TOKEN}`,
      sources: ['body', 'header'],
    },
    expected: { diagnosis: 'token_in_unchecked_source', detail: 'query token' },
  },
  {
    name: 'precedence: an empty token in a source not checked is empty, not a wrong-case key',
    delivery: {
      body: deal({ ...webhookAuth(''), application_token: '' }),
      contentType: FORM,
      sources: ['query', 'header'],
    },
    expected: { diagnosis: 'token_empty', detail: 'auth[application_token]' },
  },
  {
    name: 'a verified delivery the store could not keep',
    delivery: { body: CRM_DEAL_ADD, contentType: FORM, storeFails: true },
    expected: { diagnosis: 'store_unavailable' },
  },
  {
    name: 'a handler URL configured as the token: the configuration is blamed, not the delivery',
    delivery: {
      body: CRM_DEAL_ADD,
      contentType: FORM,
      tokens: ['https://some-domain.bitrix24.com/rest/1/k3v9x2m7q1w8z4p6/'],
    },
    expected: {
      diagnosis: 'configured_token_malformed',
      detail:
        'BITRIX24_WEBHOOK_TOKENS entry 1 (t0): the token looks like a URL, not a token (a handler or REST URL pasted instead of the "Application token" field?)',
    },
  },
  {
    name: "the inbound webhook's 16-character secret configured instead of the outgoing token",
    delivery: { body: CRM_DEAL_ADD, contentType: FORM, tokens: [APP_TOKEN, 'k3v9x2m7q1w8z4p6'] },
    expected: {
      diagnosis: 'configured_token_malformed',
      detail:
        'BITRIX24_WEBHOOK_TOKENS entry 2 (t1): the token is 16 characters long, like the secret of an inbound webhook (the code in ' +
        'https://<portal>/rest/<user>/<secret>/); the outgoing webhook\'s "Application token" is 32 characters of 0-9 and a-z',
    },
  },
  {
    name: "a deal from another portal signed with a token bound to this portal's member_id",
    delivery: { body: CRM_DEAL_ADD, contentType: FORM, portal: { memberId: 'a223c6b3710f85df22e9377d6c4f7553' } },
    expected: {
      diagnosis: 'portal_mismatch',
      detail:
        'token t0 is bound to member_id a223c6b3710f85df22e9377d6c4f7553; the delivery names "d897063e1ce7c5eb9f04b9751eef5915"',
    },
  },
  {
    name: 'a deal naming no domain, signed with a token bound to a domain',
    delivery: {
      body: deal({ ...webhookAuth(WEBHOOK_TOKEN), domain: undefined }),
      contentType: FORM,
      portal: { domain: 'some-domain.bitrix24.com' },
    },
    expected: {
      diagnosis: 'portal_mismatch',
      detail: 'token t0 is bound to portal some-domain.bitrix24.com; the delivery names none',
    },
  },
  {
    name: "the chat-bot's own token configured instead of the outgoing webhook's",
    delivery: {
      body: chatBotMessage(APP_TOKEN, 'b0770ken0000000000000000000000aa'),
      contentType: FORM,
      tokens: ['b0770ken0000000000000000000000aa'],
    },
    expected: { diagnosis: 'bot_token_configured', detail: 'data[BOT][567][AUTH][application_token]' },
  },
  {
    name: 'a chat-bot event whose bot token is not configured either: an ordinary mismatch',
    delivery: { body: chatBotMessage(APP_TOKEN, 'b0770ken0000000000000000000000aa'), contentType: FORM },
    expected: { diagnosis: 'mismatch_bitrix24_shaped', detail: 'auth[application_token]' },
  },
  {
    name: 'a malformed configured token does not change a 401: the delivery held no token',
    delivery: { body: withoutToken(CRM_DEAL_ADD), contentType: FORM, tokens: ['k3v9x2m7q1w8z4p6'] },
    expected: { diagnosis: 'auth_without_token' },
  },
  {
    name: 'the deciding (first) token diagnosed, not the last one found: a Bitrix24 token in the body, a gateway JWT in a header',
    delivery: { body: TASK_ADD, contentType: FORM, headers: { authorization: `Bearer ${jwt}` } },
    expected: { diagnosis: 'mismatch_bitrix24_shaped', detail: 'auth[application_token]' },
  },
  {
    name: 'the deciding (first) token diagnosed: a placeholder on the URL decides before a Bitrix24 token in a header',
    delivery: {
      body: withoutToken(CRM_DEAL_ADD),
      contentType: FORM,
      query: 'token=YOUR_TOKEN_HERE',
      headers: { 'x-bitrix24-token': APP_TOKEN },
      sources: ['query', 'header'],
    },
    expected: { diagnosis: 'mismatch_not_bitrix24_shaped', detail: 'query token' },
  },
  {
    name: 'precedence: a JSON body labelled form holding application_token',
    delivery: { body: JSON.stringify({ event: 'ONCRMDEALADD', application_token: WEBHOOK_TOKEN }), contentType: FORM },
    expected: { diagnosis: 'json_body_labelled_form' },
  },
];

/** Every token the cases send or configure: none may appear in a detail. */
const TOKENS_SENT = [
  WEBHOOK_TOKEN,
  APP_TOKEN,
  jwt,
  'YOUR_TOKEN_HERE',
  'k3v9x2m7q1w8z4p6',
  's6p6eclrvim6da22ft9ch94ekreb52lv',
  '4s386p3q0tr8dy89xvmt96234v3dljg8',
];

describe('diagnosis of a refused delivery (pure)', () => {
  for (const { name, delivery, expected } of CASES) {
    it(`${name}: ${expected.diagnosis}${expected.detail ? ` (${expected.detail})` : ''}`, () => {
      expect(diagnose(refuse(delivery))).to.deep.equal(expected);
    });
  }

  it('produces every diagnosis of the set but `unknown` from a real-shaped delivery, and no other value', () => {
    const produced = new Set(CASES.map(({ delivery }) => diagnose(refuse(delivery)).diagnosis));
    expect([...produced].sort()).to.deep.equal(DIAGNOSES.filter((value) => value !== 'unknown').sort());
  });

  it('never puts a token, or any part of one, in a detail', () => {
    const pieces = TOKENS_SENT.flatMap((token) =>
      Array.from({ length: token.length - 7 }, (_, i) => token.slice(i, i + 8)),
    );
    const details = CASES.map(({ delivery }) => diagnose(refuse(delivery)).detail).filter(
      (detail) => detail !== undefined,
    );
    expect(details).to.have.length(CASES.filter(({ expected }) => expected.detail !== undefined).length);
    expect(details.filter((detail) => pieces.some((piece) => detail.includes(piece)))).to.deep.equal([]);
  });

  it('recognises a Bitrix24 body to a wrong path once parsed (JSON from a forwarder)', () => {
    const input: DiagnosisInput = {
      ...refuse({ body: CRM_DEAL_ADD, contentType: FORM, wrongPath: true }),
      contentType: JSON_TYPE,
      body: JSON.parse(dealAsJson()),
      rawPrefix: undefined,
    };
    expect(diagnose(input)).to.deep.equal({ diagnosis: 'wrong_path_bitrix24_body' });
    expect(
      diagnose({ ...input, body: { ...(JSON.parse(dealAsJson()) as object), event: 'deal.created' } }),
    ).to.deep.equal({ diagnosis: 'wrong_path' });
    expect(diagnose({ ...input, body: { event: 'ONCRMDEALADD', data: { FIELDS: { ID: '7405' } } } })).to.deep.equal({
      diagnosis: 'wrong_path',
    });
  });

  it('reads a token for its shape only: 32 characters of [0-9a-z]', () => {
    expect(looksLikeBitrix24Token(WEBHOOK_TOKEN)).to.equal(true);
    expect(looksLikeBitrix24Token(APP_TOKEN)).to.equal(true);
    for (const token of [
      WEBHOOK_TOKEN.slice(1),
      `${WEBHOOK_TOKEN}a`,
      WEBHOOK_TOKEN.toUpperCase(),
      `${WEBHOOK_TOKEN.slice(1)}-`,
      `${WEBHOOK_TOKEN.slice(1)}/`,
      `${WEBHOOK_TOKEN.slice(1)}:`,
      `${WEBHOOK_TOKEN.slice(1)}{`,
      '',
    ]) {
      expect(looksLikeBitrix24Token(token), token).to.equal(false);
    }
  });

  it('answers `unknown` only for an input no request can produce', () => {
    const missing = refuse({ body: withoutToken(CRM_DEAL_ADD), contentType: FORM });
    // A 403 with no token found, and a 401 with no body at all though one arrived.
    expect(diagnose({ ...missing, outcome: 'token_mismatch' })).to.deep.equal({ diagnosis: 'unknown' });
    expect(diagnose({ ...missing, body: undefined, rawPrefix: undefined })).to.deep.equal({ diagnosis: 'unknown' });
  });
});

// Real shapes, mutated the ways deliveries really go wrong, under any token sources and configuration.
describe('diagnosis of a refused delivery (property)', () => {
  const alphabet = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_.';
  const token = fc.string({ unit: fc.constantFrom(...alphabet.split('')), minLength: 1, maxLength: 40 });
  const shapes = [CRM_DEAL_ADD, TASK_ADD, chatBotMessage()];
  const withToken = (body: string, value: string) =>
    body.replace(/auth%5Bapplication_token%5D=[^&]*/, `auth%5Bapplication_token%5D=${encodeURIComponent(value)}`);
  const formJson = (body: string) => JSON.stringify(qs.parse(body, FORM_PARSE_OPTIONS));
  const MUTATIONS: Record<string, (body: string, value: string) => Delivery> = {
    as_sent: (body, value) => ({ body: withToken(body, value), contentType: FORM }),
    without_token: (body) => ({ body: withoutToken(body), contentType: FORM }),
    repeated: (body, value) => ({
      body: `${withToken(body, value)}&auth%5Bapplication_token%5D=${value}`,
      contentType: FORM,
    }),
    emptied: (body) => ({ body: withToken(body, ''), contentType: FORM }),
    double_encoded: (body, value) => ({
      body: withToken(body, value).replace('auth%5Bapplication_token%5D', 'auth%255Bapplication_token%255D'),
      contentType: FORM,
    }),
    upper_case: (body, value) => ({
      body: withToken(body, value).replace('auth%5Bapplication_token%5D', 'auth%5BAPPLICATION_TOKEN%5D'),
      contentType: FORM,
    }),
    top_level: (body, value) => ({ body: `${withoutToken(body)}&application_token=${value}`, contentType: FORM }),
    query_form_key: (body, value) => ({
      body: withoutToken(body),
      contentType: FORM,
      query: `auth%5Bapplication_token%5D=${value}`,
    }),
    query_parameter: (body, value) => ({
      body: withoutToken(body),
      contentType: FORM,
      query: `application_token=${value}`,
    }),
    header: (body, value) => ({ body: withoutToken(body), contentType: FORM, headers: { 'x-bitrix24-token': value } }),
    as_json: (body, value) => ({ body: formJson(withToken(body, value)), contentType: JSON_TYPE }),
    json_labelled_form: (body, value) => ({ body: formJson(withToken(body, value)), contentType: FORM }),
    form_labelled_json: (body, value) => ({ body: withToken(body, value), contentType: JSON_TYPE }),
    body_dropped: () => ({ body: '', contentType: FORM }),
    type_dropped: (body, value) => ({ body: withToken(body, value) }),
    wrong_path: (body, value) => ({ body: withToken(body, value), contentType: FORM, wrongPath: true }),
  };
  const sources = fc
    .subarray([...TOKEN_SOURCES], { minLength: 1 })
    .chain((subset) => fc.shuffledSubarray(subset, { minLength: subset.length }));

  it('never answers `unknown`, and never puts the token in a detail', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...shapes),
        fc.constantFrom(...Object.keys(MUTATIONS)),
        token,
        sources,
        fc.constantFrom<readonly string[]>([], [WEBHOOK_TOKEN], [APP_TOKEN, WEBHOOK_TOKEN]),
        (shape, mutation, value, checked, tokens) => {
          let input: DiagnosisInput;
          try {
            input = refuse({ ...MUTATIONS[mutation]!(shape, value), sources: checked, tokens });
          } catch {
            return; // accepted
          }
          const { diagnosis, detail } = diagnose(input);
          expect(DIAGNOSES).to.include(diagnosis);
          expect(diagnosis, mutation).not.to.equal('unknown');
          // Shorter values could be part of a place name by chance (`auth`, `token`).
          if (detail !== undefined && value.length >= 8) expect(detail).not.to.include(value);
        },
      ),
      { numRuns: 400 },
    );
  });
});

describe('docs/runbooks.md: the diagnoses', () => {
  // dist/test/unit → the repository root
  const markdown = readFileSync(path.resolve(__dirname, '../../../docs/runbooks.md'), 'utf8');
  /** GitHub's heading anchor: lower case, punctuation dropped, spaces to dashes. */
  const slug = (heading: string) =>
    heading
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
  const sections = new Map(
    markdown
      .split(/^### /m)
      .slice(1)
      .map((part) => [slug(part.slice(0, part.indexOf('\n'))), part.slice(part.indexOf('\n') + 1).split(/^##? /m)[0]!]),
  );

  it('has a section #diagnosis-<value> for every diagnosis, saying what it means, how to confirm it and the fix', () => {
    for (const value of DIAGNOSES) {
      const section = sections.get(`diagnosis-${value}`);
      expect(section, `#diagnosis-${value}`).to.be.a('string');
      for (const part of ['**What it means.**', '**Confirm.**', '**Fix.**'])
        expect(section, `${value}: ${part}`).to.include(part);
    }
    expect([...sections.keys()].filter((key) => key.startsWith('diagnosis-')).sort()).to.deep.equal(
      DIAGNOSES.map((value) => `diagnosis-${value}`).sort(),
    );
  });
});
