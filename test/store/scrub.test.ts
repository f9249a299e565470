import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { scrubBody } from '../../src/secrets/scrub';
import {
  APP_TOKEN,
  appUninstall,
  chatBotMessage,
  CRM_DEAL_ADD,
  dealAsJson,
  flatParsedAsJson,
  repeatedTokenKey,
  TASK_ADD,
  WEBHOOK_TOKEN,
  withoutToken,
} from '../support/bitrix-bodies';

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest('hex');
const BOT_TOKEN = 'b0770ken0000000000000000000000aa';

describe('secrets scrubber', () => {
  it('replaces the token of the verbatim deal body and keeps every other byte', () => {
    expect(scrubBody(CRM_DEAL_ADD)).to.deep.equal({
      body: CRM_DEAL_ADD.replace(
        'auth%5Bapplication_token%5D=jvh9y1ulvt2m6k5or90v9mg8nn32ozas',
        'auth%5Bapplication_token%5D=REDACTED',
      ),
      candidates: [{ location: 'raw body auth[application_token]', digest: digest(WEBHOOK_TOKEN) }],
    });
  });

  it('replaces access_token, refresh_token and application_token of the verbatim task body', () => {
    const expected = TASK_ADD.replace(
      'auth%5Baccess_token%5D=s6p6eclrvim6da22ft9ch94ekreb52lv',
      'auth%5Baccess_token%5D=REDACTED',
    )
      .replace('auth%5Brefresh_token%5D=4s386p3q0tr8dy89xvmt96234v3dljg8', 'auth%5Brefresh_token%5D=REDACTED')
      .replace(`auth%5Bapplication_token%5D=${APP_TOKEN}`, 'auth%5Bapplication_token%5D=REDACTED');
    expect(expected).to.not.equal(TASK_ADD);
    expect(scrubBody(TASK_ADD)).to.deep.equal({
      body: expected,
      candidates: [{ location: 'raw body auth[application_token]', digest: digest(APP_TOKEN) }],
    });
  });

  it('replaces the chat-bot tokens inside data[BOT][567] too, and reports both application tokens', () => {
    const body = chatBotMessage();
    const expected = body
      .replace('data%5BBOT%5D%5B567%5D%5Baccess_token%5D=x1y2z3', 'data%5BBOT%5D%5B567%5D%5Baccess_token%5D=REDACTED')
      .replace(
        `data%5BBOT%5D%5B567%5D%5BAUTH%5D%5Bapplication_token%5D=${BOT_TOKEN}`,
        'data%5BBOT%5D%5B567%5D%5BAUTH%5D%5Bapplication_token%5D=REDACTED',
      )
      .replace('auth%5Baccess_token%5D=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'auth%5Baccess_token%5D=REDACTED')
      .replace(`auth%5Bapplication_token%5D=${APP_TOKEN}`, 'auth%5Bapplication_token%5D=REDACTED');
    expect(scrubBody(body)).to.deep.equal({
      body: expected,
      candidates: [
        { location: 'raw body data[BOT][567][AUTH][application_token]', digest: digest(BOT_TOKEN) },
        { location: 'raw body auth[application_token]', digest: digest(APP_TOKEN) },
      ],
    });
  });

  it('leaves a body without secrets exactly as it came, with no candidate', () => {
    const body = withoutToken(appUninstall());
    expect(scrubBody(body)).to.deep.equal({ body, candidates: [] });
  });

  it('replaces both values of a repeated token key and reports both', () => {
    expect(scrubBody(repeatedTokenKey(WEBHOOK_TOKEN, 'other'))).to.deep.equal({
      body: `${withoutToken(CRM_DEAL_ADD)}&auth%5Bapplication_token%5D=REDACTED&auth%5Bapplication_token%5D=REDACTED`,
      candidates: [
        { location: 'raw body auth[application_token]', digest: digest(WEBHOOK_TOKEN) },
        { location: 'raw body auth[application_token]', digest: digest('other') },
      ],
    });
  });

  it('decodes a + and percent-encoded token before taking its digest', () => {
    expect(scrubBody('auth[application_token]=a%2Bb+c&x=1')).to.deep.equal({
      body: 'auth[application_token]=REDACTED&x=1',
      candidates: [{ location: 'raw body auth[application_token]', digest: digest('a+b c') }],
    });
  });

  it('replaces the token of a nested JSON body, keeping its formatting', () => {
    const body = JSON.stringify(JSON.parse(dealAsJson()), null, 2);
    expect(scrubBody(body)).to.deep.equal({
      body: body.replace(`"application_token": "${WEBHOOK_TOKEN}"`, '"application_token": "REDACTED"'),
      candidates: [{ location: 'raw body auth.application_token', digest: digest(WEBHOOK_TOKEN) }],
    });
  });

  it('replaces the flat key of a body a flat parser re-sent as JSON', () => {
    expect(scrubBody(flatParsedAsJson())).to.deep.equal({
      body: flatParsedAsJson().replace(
        `"auth[application_token]":"${WEBHOOK_TOKEN}"`,
        '"auth[application_token]":"REDACTED"',
      ),
      candidates: [{ location: 'raw body auth[application_token]', digest: digest(WEBHOOK_TOKEN) }],
    });
  });

  it('replaces every string inside an array or object under a secret key, and an escaped key name', () => {
    const body =
      '{"auth":{"application_token":["a","b\\"c"],"access_token":{"x":"y","n":1}},"data":{"AUTH":{"refresh\\u005ftoken":"r"}},"k":"v"}';
    expect(scrubBody(body)).to.deep.equal({
      body: '{"auth":{"application_token":["REDACTED","REDACTED"],"access_token":{"x":"REDACTED","n":1}},"data":{"AUTH":{"refresh\\u005ftoken":"REDACTED"}},"k":"v"}',
      candidates: [],
    });
  });

  it('replaces a token in malformed JSON (a quarantined body) up to where it breaks off', () => {
    expect(scrubBody('{"auth":{"application_token":"tok')).to.deep.equal({
      body: '{"auth":{"application_token":"REDACTED"',
      candidates: [{ location: 'raw body auth.application_token', digest: digest('tok') }],
    });
    expect(scrubBody('{"auth":{"application_token":"tok"}, ,, }}]]')).to.deep.equal({
      body: '{"auth":{"application_token":"REDACTED"}, ,, }}]]',
      candidates: [{ location: 'raw body auth.application_token', digest: digest('tok') }],
    });
  });

  it('finds the token of JSON behind a garbage prefix, and of a form pair after a stray quote', () => {
    expect(scrubBody('xx{"auth":{"application_token":"tok"}}')).to.deep.equal({
      body: 'xx{"auth":{"application_token":"REDACTED"}}',
      candidates: [{ location: 'raw body auth.application_token', digest: digest('tok') }],
    });
    expect(scrubBody('data[X]=say "hi&auth[application_token]=tok&z=1')).to.deep.equal({
      body: 'data[X]=say "hi&auth[application_token]=REDACTED&z=1',
      candidates: [{ location: 'raw body auth[application_token]', digest: digest('tok') }],
    });
  });

  it('keeps at most 16 candidates per body', () => {
    const body = Array.from({ length: 40 }, (_, i) => `auth%5Bapplication_token%5D=t${i}`).join('&');
    const result = scrubBody(body);
    expect(result.candidates.map((candidate) => candidate.digest)).to.deep.equal(
      Array.from({ length: 16 }, (_, i) => digest(`t${i}`)),
    );
    expect(result.body).to.equal(Array.from({ length: 40 }, () => 'auth%5Bapplication_token%5D=REDACTED').join('&'));
  });

  it('scrubs hostile 256 KiB bodies about as fast as a real one of that size (no quadratic shape)', () => {
    const size = 256 * 1024;
    const fill = (unit: string) => unit.repeat(Math.ceil(size / unit.length)).slice(0, size);
    const reference = fill(`${CRM_DEAL_ADD}&`);
    const shapes = [
      fill('{"a":'),
      fill('{"application_token":['),
      `{"x":"${fill('\\')}`,
      `${fill('a[b]=')}&`,
      fill('&'),
      fill('{"access_token":{"application_token":"t","b":['),
      fill('{"auth":{"application_token":"t"},'),
    ];
    const measure = (body: string) => {
      let best = Infinity;
      for (let round = 0; round < 5; round++) {
        const start = process.hrtime.bigint();
        scrubBody(body);
        best = Math.min(best, Number(process.hrtime.bigint() - start));
      }
      return best;
    };
    measure(reference);
    const referenceNs = measure(reference);
    for (const shape of shapes) {
      expect(measure(shape) / referenceNs, shape.slice(0, 40)).to.be.below(20);
    }
  });
});
