// Issue #16, items 1 and 7: secrets scrubbed by structure, user text kept byte for byte, the configured token
// replaced in any encoding as a last guard, and object keys kept in their order.
import { expect } from 'chai';
import { isSecretKey, scrubBody } from '../../src/secrets/scrub';
import { createSecretGuard } from '../../src/secrets/secret-guard';
import { scrubSecrets } from '../../src/secrets/fields';
import { jsonText } from '../../src/store/json-text';

const T = 'jvh9y1ulvt2m6k5or90v9mg8nn32ozas';

describe('scrubbing by structure', () => {
  it('calls a token every key shape the extractor reads or the diagnosis recognises', () => {
    for (const key of [
      'auth[application_token]',
      'auth[APPLICATION_TOKEN]',
      'AUTH[application_token]',
      'auth%5Bapplication_token%5D',
      'auth%255Bapplication_token%255D',
      'auth%25255Bapplication%25255Ftoken%25255D',
      'auth[application_token][]',
      'auth[application_token][0]',
      'auth.application_token',
      'Application_Token',
      'data[BOT][567][access_token]',
      'REFRESH_TOKEN',
    ]) {
      expect(isSecretKey(key), key).to.equal(true);
    }
    for (const key of ['auth[domain]', 'data[FIELDS][ID]', 'token_type', 'MESSAGE'])
      expect(isSecretKey(key), key).to.equal(false);
  });

  it('keeps a JSON message text containing &access_token= byte for byte, and the body parseable', () => {
    const message = 'look: https://x.example/?a=1&access_token=abc&b="q"\\n';
    const body = JSON.stringify({
      event: 'ONIMBOTMESSAGEADD',
      data: { PARAMS: { MESSAGE: message } },
      auth: { application_token: T },
    });
    const scrubbed = scrubBody(body).body;
    expect(scrubbed).to.equal(body.replace(T, 'REDACTED'));
    expect(JSON.parse(scrubbed).data.PARAMS.MESSAGE).to.equal(message);
  });

  it('replaces the values of wrong-case, double-encoded and array-shaped form keys, and a JSON Application_Token', () => {
    expect(scrubBody(`a=1&auth%5BAPPLICATION_TOKEN%5D=${T}&b=2`).body).to.equal(
      'a=1&auth%5BAPPLICATION_TOKEN%5D=REDACTED&b=2',
    );
    expect(scrubBody(`a=1&auth%255Bapplication_token%255D=${T}`).body).to.equal(
      'a=1&auth%255Bapplication_token%255D=REDACTED',
    );
    expect(scrubBody(`auth%5Bapplication_token%5D%5B%5D=${T}&b=2`).body).to.equal(
      'auth%5Bapplication_token%5D%5B%5D=REDACTED&b=2',
    );
    expect(scrubBody(`{"auth":{"Application_Token":"${T}"}}`).body).to.equal(
      '{"auth":{"Application_Token":"REDACTED"}}',
    );
    expect(scrubBody(`{"auth":{"application_token":["${T}"]}}`).body).to.equal(
      '{"auth":{"application_token":["REDACTED"]}}',
    );
  });

  it('removes the same keys from a parsed structure and keeps the order of the rest', () => {
    const data = {
      Z: 1,
      A: { second: 2, first: 1, Access_Token: T },
      M: [{ y: 1, x: 2 }],
      'x[application_token][]': T,
    };
    expect(jsonText(scrubSecrets(data))).to.equal('{"Z":1,"A":{"second":2,"first":1},"M":[{"y":1,"x":2}]}');
  });
});

describe('the last guard over what is written', () => {
  it('replaces the token raw, URL-encoded, form-encoded and JSON-escaped', () => {
    const secret = 'se cret/+"token"\\x';
    const guard = createSecretGuard([secret]);
    const text = [
      secret,
      encodeURIComponent(secret),
      encodeURIComponent(secret).replace(/%20/g, '+'),
      JSON.stringify(secret).slice(1, -1),
    ].join('|');
    expect(guard(text)).to.equal('REDACTED|REDACTED|REDACTED|REDACTED');
    expect(createSecretGuard([T])(`upstream said: bad token ${T.slice(0, 20)}…`)).to.equal(
      `upstream said: bad token ${T.slice(0, 20)}…`,
    );
  });
});
