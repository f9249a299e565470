import { expect } from 'chai';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { signatureHeaders } from '../../src/forward/sign';

// The signature is checked by an independent implementation: the `standardwebhooks` package.
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const KEY = Buffer.from(SECRET.slice('whsec_'.length), 'base64');
const ID = '01KB0W7Z5X0000000000000000';
const BODY = JSON.stringify({
  id: ID,
  event: 'ONCRMDEALADD',
  data: { FIELDS: { ID: '7405', TITLE: 'Сделка «Ёлки»' } },
});

describe('forward: Standard Webhooks signature', () => {
  it('is accepted by the standardwebhooks package, which returns the parsed body', () => {
    const headers = signatureHeaders(KEY, ID, BODY);
    expect(new Webhook(SECRET).verify(BODY, { ...headers })).to.deep.equal(JSON.parse(BODY));
  });

  it('is exactly the one the standardwebhooks package computes for the same id, time and body', () => {
    const now = new Date(Date.UTC(2026, 0, 10, 12, 0, 0));
    const headers = signatureHeaders(KEY, ID, BODY, now);
    expect(headers).to.deep.equal({
      'webhook-id': ID,
      'webhook-timestamp': String(now.getTime() / 1000),
      'webhook-signature': new Webhook(SECRET).sign(ID, now, BODY),
    });
  });

  it('fails there for a tampered body, another id, another secret and an old timestamp', () => {
    const headers = signatureHeaders(KEY, ID, BODY);
    const verify =
      (body: string, h: Record<string, string>, secret = SECRET) =>
      () =>
        new Webhook(secret).verify(body, h);
    expect(verify(BODY.replace('7405', '7406'), { ...headers })).to.throw(
      WebhookVerificationError,
      'No matching signature found',
    );
    expect(verify(BODY, { ...headers, 'webhook-id': '01KB0W7Z5X0000000000000001' })).to.throw(
      WebhookVerificationError,
      'No matching signature found',
    );
    expect(verify(BODY, { ...headers }, `whsec_${Buffer.alloc(24, 7).toString('base64')}`)).to.throw(
      WebhookVerificationError,
      'No matching signature found',
    );
    const old = signatureHeaders(KEY, ID, BODY, new Date(Date.now() - 10 * 60 * 1000));
    expect(verify(BODY, { ...old })).to.throw(WebhookVerificationError, 'Message timestamp too old');
  });
});
