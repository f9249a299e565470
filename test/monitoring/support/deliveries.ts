// Bitrix24 deliveries for the live tests (form-encoded exactly as the portal sends them).
export const WEBHOOK_PATH = '/api/bitrix/webhook';
export const TOKEN = 'jvh9y1ulvt2m6k5or90v9mg8nn32ozas';
export const FORM = 'application/x-www-form-urlencoded';

const withoutToken =
  'event=ONCRMDEALADD&event_handler_id=975&data%5BFIELDS%5D%5BID%5D=7405&ts=1766047124&auth%5Bdomain%5D=some-domain.bitrix24.com' +
  '&auth%5Bclient_endpoint%5D=https%3A%2F%2Fsome-domain.bitrix24.com%2Frest%2F&auth%5Bserver_endpoint%5D=https%3A%2F%2Foauth.bitrix.info%2Frest%2F' +
  '&auth%5Bmember_id%5D=d897063e1ce7c5eb9f04b9751eef5915';

export const BODY = {
  /** Outgoing webhook, deal created, with the configured token. */
  accepted: `${withoutToken}&auth%5Bapplication_token%5D=${TOKEN}`,
  /** The same delivery after something dropped the token field: "received: None". */
  missing: withoutToken,
  /** A token this service does not know (a re-created webhook). */
  mismatched: `${withoutToken}&auth%5Bapplication_token%5D=0000000000aaaaaaaaaa1111111111bb`,
  withoutToken,
} as const;

export interface Delivery {
  path?: string;
  body: string;
  contentType?: string;
  headers?: Record<string, string>;
}

export async function deliver(baseUrl: string, delivery: Delivery): Promise<number> {
  const response = await fetch(`${baseUrl}${delivery.path ?? WEBHOOK_PATH}`, {
    method: 'POST',
    headers: { 'content-type': delivery.contentType ?? FORM, ...delivery.headers },
    body: delivery.body,
    signal: AbortSignal.timeout(5000),
  });
  await response.arrayBuffer();
  return response.status;
}

export async function scrape(baseUrl: string): Promise<string> {
  const response = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
  return response.text();
}
