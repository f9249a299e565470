// Realistic Bitrix24 deliveries, form-encoded exactly as Bitrix24 sends them (PHP `http_build_query`):
// nested keys in brackets, brackets percent-encoded, spaces as `+`, every value a string.
// Used by the benchmark (scripts/bench.ts) and by the robustness tests (test/robustness).
// Facts: docs/bitrix24-delivery.md

// One encoder for the self-test deliveries of `doctor`, the benchmark and the tests.
import { httpBuildQuery, phpUrlencode, type FormObject, type FormValue } from '../../src/cli/doctor/form-encode';
export { httpBuildQuery, phpUrlencode, type FormObject, type FormValue };

export interface PortalAuth {
  domain: string;
  memberId: string;
}

export const PORTALS: PortalAuth[] = [
  { domain: 'some-domain.bitrix24.com', memberId: 'd897063e1ce7c5eb9f04b9751eef5915' },
  { domain: 'torgovyi-dom.bitrix24.ru', memberId: 'a223c6b3710f85df22e9377d6c4f7553' },
  { domain: 'b24-k4x9qp.bitrix24.de', memberId: '0f6a1c2e9b7d4e5f8a3c2b1d0e9f8a7b' },
];

/** Outgoing-webhook `auth`: domain, endpoints, member_id, application_token only. */
export function webhookAuth(token: string | undefined, portal: PortalAuth = PORTALS[0]!): FormObject {
  return {
    domain: portal.domain,
    client_endpoint: `https://${portal.domain}/rest/`,
    server_endpoint: 'https://oauth.bitrix.info/rest/',
    member_id: portal.memberId,
    application_token: token,
  };
}

/** Application-event `auth` (event.bind): adds access/refresh tokens, scope, status, user id. */
export function applicationAuth(token: string | undefined, portal: PortalAuth = PORTALS[1]!): FormObject {
  return {
    access_token: 's6p6eclrvim6da22ft9ch94ekreb52lv',
    expires: '1766050724',
    expires_in: '3600',
    scope: 'crm,task,imbot',
    domain: portal.domain,
    server_endpoint: 'https://oauth.bitrix.info/rest/',
    status: 'F',
    client_endpoint: `https://${portal.domain}/rest/`,
    member_id: portal.memberId,
    user_id: '1',
    refresh_token: '4s386p3q0tr8dy89xvmt96234v3dljg8',
    application_token: token,
  };
}

const TS = 1766047124;

/** The event shapes Bitrix24 sends, as nested objects (before form encoding). */
export function deliveryShapes(token: string | undefined): Array<{ name: string; event: string; data: FormObject }> {
  return [
    {
      name: 'crm deal add (outgoing webhook)',
      event: 'ONCRMDEALADD',
      data: {
        event: 'ONCRMDEALADD',
        event_handler_id: '975',
        data: { FIELDS: { ID: '7405' } },
        ts: String(TS),
        auth: webhookAuth(token),
      },
    },
    {
      name: 'crm deal update (outgoing webhook, no handler id)',
      event: 'ONCRMDEALUPDATE',
      data: {
        event: 'ONCRMDEALUPDATE',
        data: { FIELDS: { ID: '7406' } },
        ts: String(TS + 3),
        auth: webhookAuth(token, PORTALS[2]),
      },
    },
    {
      name: 'crm lead add (outgoing webhook)',
      event: 'ONCRMLEADADD',
      data: {
        event: 'ONCRMLEADADD',
        event_handler_id: '976',
        data: { FIELDS: { ID: '311' } },
        ts: String(TS + 7),
        auth: webhookAuth(token),
      },
    },
    {
      name: 'task add (application event)',
      event: 'ONTASKADD',
      data: {
        event: 'ONTASKADD',
        data: {
          FIELDS_BEFORE: 'undefined',
          FIELDS_AFTER: { ID: '123' },
          IS_ACCESSIBLE_BEFORE: 'N',
          IS_ACCESSIBLE_AFTER: 'undefined',
        },
        ts: '1466439714',
        auth: applicationAuth(token),
      },
    },
    {
      name: 'chat-bot message (numeric bot id, Cyrillic text)',
      event: 'ONIMBOTMESSAGEADD',
      data: {
        event: 'ONIMBOTMESSAGEADD',
        event_handler_id: '31',
        data: {
          BOT: {
            '1245': {
              access_token: 'x9f0mzu6e5c2g8k1',
              expires: '1766050724',
              expires_in: '3600',
              scope: 'imbot',
              domain: PORTALS[1]!.domain,
              member_id: PORTALS[1]!.memberId,
              BOT_ID: '1245',
              BOT_CODE: 'helpdesk',
              application_token: token,
            },
          },
          PARAMS: {
            FROM_USER_ID: '7',
            MESSAGE: 'Здравствуйте! Когда будет готов счёт №42, с НДС?',
            TO_CHAT_ID: '18',
            MESSAGE_TYPE: 'P',
            SYSTEM: 'N',
            ID: '90211',
            CHAT_ID: '18',
            DIALOG_ID: '7',
            LANGUAGE: 'ru',
          },
          USER: {
            ID: '7',
            NAME: 'Анна Петрова',
            FIRST_NAME: 'Анна',
            LAST_NAME: 'Петрова',
            WORK_POSITION: 'менеджер',
            GENDER: 'F',
            IS_BOT: 'N',
            IS_CONNECTOR: 'N',
            IS_NETWORK: 'N',
            IS_EXTRANET: 'N',
          },
        },
        ts: String(TS + 11),
        auth: applicationAuth(token),
      },
    },
    {
      name: 'app uninstall',
      event: 'ONAPPUNINSTALL',
      data: {
        event: 'ONAPPUNINSTALL',
        data: { LANGUAGE_ID: 'ru', CLEAN: '0' },
        ts: String(TS + 13),
        auth: {
          domain: PORTALS[0]!.domain,
          client_endpoint: `https://${PORTALS[0]!.domain}/rest/`,
          server_endpoint: 'https://oauth.bitrix.info/rest/',
          member_id: PORTALS[0]!.memberId,
          application_token: token,
        },
      },
    },
  ];
}

/** A form-encoded delivery of the given shape index (wraps around). */
export function formDelivery(token: string | undefined, shape = 0): string {
  const shapes = deliveryShapes(token);
  return httpBuildQuery(shapes[shape % shapes.length]!.data);
}

export const FORM_CONTENT_TYPE = 'application/x-www-form-urlencoded';

/** A random-looking but fixed outgoing-webhook token (32 chars of [0-9a-z]). */
export function makeToken(seed: number): string {
  const alphabet = '0123456789abcdefghijklmnopqrstuvwxyz';
  let x = (seed * 2654435761) >>> 0 || 1;
  let out = '';
  for (let i = 0; i < 32; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out += alphabet[x % alphabet.length];
  }
  return out;
}
