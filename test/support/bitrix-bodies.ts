// Bitrix24 deliveries as they arrive on the wire: form bodies encoded the way PHP's http_build_query
// encodes them (brackets percent-encoded, spaces as +), from docs/bitrix24-delivery.md and built here.
import { httpBuildQuery } from '../../scripts/bench/deliveries';

export const WEBHOOK_TOKEN = 'jvh9y1ulvt2m6k5or90v9mg8nn32ozas';
export const APP_TOKEN = '51856fefc120afa4b628cc82d3935cce';

/** Verbatim from the shared facts (docs sample re-encoded): outgoing webhook, deal created. */
export const CRM_DEAL_ADD =
  'event=ONCRMDEALADD&event_handler_id=975&data%5BFIELDS%5D%5BID%5D=7405&ts=1766047124&auth%5Bdomain%5D=some-domain.bitrix24.com&auth%5Bclient_endpoint%5D=https%3A%2F%2Fsome-domain.bitrix24.com%2Frest%2F&auth%5Bserver_endpoint%5D=https%3A%2F%2Foauth.bitrix.info%2Frest%2F&auth%5Bmember_id%5D=d897063e1ce7c5eb9f04b9751eef5915&auth%5Bapplication_token%5D=jvh9y1ulvt2m6k5or90v9mg8nn32ozas';

/** Verbatim from the shared facts: application event, task added (token APP_TOKEN). */
export const TASK_ADD =
  'event=ONTASKADD&data%5BFIELDS_BEFORE%5D=undefined&data%5BFIELDS_AFTER%5D%5BID%5D=123&data%5BIS_ACCESSIBLE_BEFORE%5D=N&data%5BIS_ACCESSIBLE_AFTER%5D=undefined&ts=1466439714&auth%5Baccess_token%5D=s6p6eclrvim6da22ft9ch94ekreb52lv&auth%5Bexpires_in%5D=3600&auth%5Bscope%5D=task&auth%5Bdomain%5D=some-domain.bitrix24.com&auth%5Bserver_endpoint%5D=https%3A%2F%2Foauth.bitrix.info%2Frest%2F&auth%5Bstatus%5D=F&auth%5Bclient_endpoint%5D=https%3A%2F%2Fsome-domain.bitrix24.com%2Frest%2F&auth%5Bmember_id%5D=a223c6b3710f85df22e9377d6c4f7553&auth%5Brefresh_token%5D=4s386p3q0tr8dy89xvmt96234v3dljg8&auth%5Bapplication_token%5D=51856fefc120afa4b628cc82d3935cce';

// PHP's http_build_query and urlencode, shared with the benchmark's deliveries.
export { httpBuildQuery, phpUrlencode } from '../../scripts/bench/deliveries';

export function webhookAuth(
  token: string,
  domain = 'some-domain.bitrix24.com',
  memberId = 'd897063e1ce7c5eb9f04b9751eef5915',
) {
  return {
    domain,
    client_endpoint: `https://${domain}/rest/`,
    server_endpoint: 'https://oauth.bitrix.info/rest/',
    member_id: memberId,
    application_token: token,
  };
}

/** A deal updated with Cyrillic text in data (Bitrix24 sends UTF-8). */
export function crmDealUpdateCyrillic(token = WEBHOOK_TOKEN): string {
  return httpBuildQuery({
    event: 'ONCRMDEALUPDATE',
    event_handler_id: '976',
    data: { FIELDS: { ID: '7405', TITLE: 'Сделка №1: поставка «Ёлки»', COMMENTS: 'Привет, мир & друзья' } },
    ts: '1766047200',
    auth: webhookAuth(token),
  });
}

export const BOT_ID = '567';

/** A chat-bot message: numeric bot id as an object key, and a second token inside data[BOT][id]. */
export function chatBotMessage(token = APP_TOKEN, botToken = 'b0770ken0000000000000000000000aa'): string {
  return httpBuildQuery({
    event: 'ONIMBOTMESSAGEADD',
    data: {
      BOT: {
        [BOT_ID]: {
          access_token: 'x1y2z3',
          BOT_ID,
          BOT_CODE: 'helper',
          AUTH: { domain: 'some-domain.bitrix24.com', application_token: botToken },
        },
      },
      PARAMS: {
        DIALOG_ID: '1',
        MESSAGE: 'Добрый день! Где мой заказ?',
        FROM_USER_ID: '1',
        MESSAGE_ID: '4242',
        CHAT_TYPE: 'P',
      },
      USER: { ID: '1', NAME: 'Иван Петров', IS_EXTRANET: 'N' },
    },
    ts: '1766047300',
    auth: {
      access_token: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
      expires: '1766050900',
      expires_in: '3600',
      scope: 'imbot,im',
      domain: 'some-domain.bitrix24.com',
      server_endpoint: 'https://oauth.bitrix.info/rest/',
      status: 'L',
      client_endpoint: 'https://some-domain.bitrix24.com/rest/',
      member_id: 'a223c6b3710f85df22e9377d6c4f7553',
      user_id: '1',
      application_token: token,
    },
  });
}

/** ONAPPUNINSTALL: only domain, endpoints, member_id and application_token; no data. */
export function appUninstall(token = APP_TOKEN): string {
  return httpBuildQuery({
    event: 'ONAPPUNINSTALL',
    data: { LANGUAGE_ID: 'ru', CLEAN: '0' },
    ts: '1766047400',
    auth: {
      domain: 'some-domain.bitrix24.com',
      client_endpoint: 'https://some-domain.bitrix24.com/rest/',
      server_endpoint: 'https://oauth.bitrix.info/rest/',
      member_id: 'a223c6b3710f85df22e9377d6c4f7553',
      application_token: token,
    },
  });
}

/** What event.test makes the portal send: ONAPPTEST. */
export function appTest(token = APP_TOKEN): string {
  return httpBuildQuery({
    event: 'ONAPPTEST',
    event_handler_id: '12',
    data: { FIELDS: { QUERY: 'test' } },
    ts: '1766047500',
    auth: { ...webhookAuth(token, 'some-domain.bitrix24.com', 'a223c6b3710f85df22e9377d6c4f7553') },
  });
}

/** Every real event shape above, each with the token that belongs to it. */
export function everyShape(): Array<{ name: string; body: string; token: string; event: string }> {
  return [
    { name: 'CRM deal added (verbatim sample)', body: CRM_DEAL_ADD, token: WEBHOOK_TOKEN, event: 'ONCRMDEALADD' },
    { name: 'task added (verbatim sample)', body: TASK_ADD, token: APP_TOKEN, event: 'ONTASKADD' },
    {
      name: 'deal updated, Cyrillic text',
      body: crmDealUpdateCyrillic(),
      token: WEBHOOK_TOKEN,
      event: 'ONCRMDEALUPDATE',
    },
    { name: 'chat-bot message, numeric bot id', body: chatBotMessage(), token: APP_TOKEN, event: 'ONIMBOTMESSAGEADD' },
    { name: 'application uninstalled', body: appUninstall(), token: APP_TOKEN, event: 'ONAPPUNINSTALL' },
    { name: 'event.test (ONAPPTEST)', body: appTest(), token: APP_TOKEN, event: 'ONAPPTEST' },
  ];
}

/** The deal body with its token key repeated: a naive parser sees an array, not a string. */
export function repeatedTokenKey(first = WEBHOOK_TOKEN, second = WEBHOOK_TOKEN): string {
  return `${CRM_DEAL_ADD.replace(/&auth%5Bapplication_token%5D=[^&]*/, '')}&auth%5Bapplication_token%5D=${first}&auth%5Bapplication_token%5D=${second}`;
}

/** The deal body as a flat parser (URLSearchParams, querystring, Flask request.form) leaves it, re-sent as JSON. */
export function flatParsedAsJson(token = WEBHOOK_TOKEN): string {
  return JSON.stringify(Object.fromEntries(new URLSearchParams(CRM_DEAL_ADD.replace(WEBHOOK_TOKEN, token))));
}

/** The deal as a JSON body with nested auth (what the docs render). */
export function dealAsJson(token = WEBHOOK_TOKEN): string {
  return JSON.stringify({
    event: 'ONCRMDEALADD',
    data: { FIELDS: { ID: '7405' } },
    ts: '1766047124',
    auth: webhookAuth(token),
  });
}

export function withoutToken(body: string): string {
  return body.replace(/&?auth%5Bapplication_token%5D=[^&]*/g, '');
}
