import { createHmac } from 'node:crypto';

export interface SignatureHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/**
 * Standard Webhooks (https://www.standardwebhooks.com): `v1,` + base64 HMAC-SHA256 over
 * `${id}.${timestamp}.${body}` with the secret's bytes (the base64 after `whsec_`). The id is the stored
 * event id, the same on every retry and every replica, so the application can deduplicate on it.
 */
export function signatureHeaders(secret: Buffer, id: string, body: string, now: Date = new Date()): SignatureHeaders {
  const timestamp = String(Math.floor(now.getTime() / 1000));
  const signature = createHmac('sha256', secret).update(`${id}.${timestamp}.${body}`, 'utf8').digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${signature}` };
}
