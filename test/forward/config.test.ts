import { expect } from 'chai';
import { ConfigError } from '../../src/config/errors';
import { parseForwardConfig, upstreamFor } from '../../src/forward/config';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const noFile = () => {
  throw Object.assign(new Error('nope'), { code: 'ENOENT' });
};

describe('forward: configuration', () => {
  it('nothing configured: no forwarding', () => {
    expect(parseForwardConfig({ FORWARD_SIGNING_SECRET: SECRET }, noFile)).to.equal(undefined);
  });

  it('FORWARD_URL with the documented defaults', () => {
    const config = parseForwardConfig(
      { FORWARD_URL: 'https://app.example.com/hooks', FORWARD_SIGNING_SECRET: SECRET },
      noFile,
    )!;
    expect({ ...config, urls: [...config.urls], secret: config.secret.toString('base64') }).to.deep.equal({
      defaultUrl: 'https://app.example.com/hooks',
      urls: [],
      secret: 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      format: 'json',
      maxAttempts: 15,
      maxAgeMs: 259_200_000,
      timeoutMs: 10_000,
      backoffBaseMs: 1000,
      backoffMaxMs: 600_000,
      concurrency: 4,
      ratePerSecond: 20,
      pollMs: 1000,
      leaseMs: 25_000,
    });
  });

  it('FORWARD_URLS per token name, FORWARD_URL for the others; secret from a file', () => {
    const config = parseForwardConfig(
      {
        FORWARD_URLS: 'crm=https://crm.example.com/in,\ntasks = http://tasks:8080/b24',
        FORWARD_URL: 'https://all.example.com/',
        FORWARD_SIGNING_SECRET_FILE: '/run/secrets/s',
        FORWARD_FORMAT: 'bitrix24',
      },
      (path) => (path === '/run/secrets/s' ? `${SECRET}\n` : noFile()),
    )!;
    expect([upstreamFor(config, 'crm'), upstreamFor(config, 'tasks'), upstreamFor(config, 'default')]).to.deep.equal([
      'https://crm.example.com/in',
      'http://tasks:8080/b24',
      'https://all.example.com/',
    ]);
    expect(config.format).to.equal('bitrix24');
  });

  const refusals: Array<[Record<string, string>, string]> = [
    [{ FORWARD_URL: 'https://a.example/' }, 'FORWARD_SIGNING_SECRET: is required when forwarding'],
    [
      { FORWARD_URL: 'https://a.example/', FORWARD_SIGNING_SECRET: 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' },
      'FORWARD_SIGNING_SECRET: must start with whsec_',
    ],
    [
      { FORWARD_URL: 'https://a.example/', FORWARD_SIGNING_SECRET: 'whsec_c2hvcnQ=' },
      'FORWARD_SIGNING_SECRET: after whsec_ must come standard base64 of at least 16 bytes',
    ],
    [
      { FORWARD_URL: 'https://a.example/', FORWARD_SIGNING_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS!' },
      'FORWARD_SIGNING_SECRET: after whsec_ must come standard base64',
    ],
    [
      { FORWARD_URL: 'ftp://a.example/?key=s3cret', FORWARD_SIGNING_SECRET: SECRET },
      'FORWARD_URL: the scheme "ftp:" is not http: or https:',
    ],
    [
      { FORWARD_URL: 'not a url s3cret', FORWARD_SIGNING_SECRET: SECRET },
      'FORWARD_URL: is not a URL (expected https://app.example.com/hooks/bitrix; the value is not shown)',
    ],
    [
      { FORWARD_URLS: 'CRM=https://a.example/', FORWARD_SIGNING_SECRET: SECRET },
      'FORWARD_URLS entry 1: the name "CRM" must match [a-z0-9_-]{1,32}',
    ],
    [
      { FORWARD_URLS: 'crm=https://a.example/,crm=https://b.example/', FORWARD_SIGNING_SECRET: SECRET },
      'FORWARD_URLS entry 2: the name crm appears twice',
    ],
    [
      { FORWARD_URL: 'https://a.example/', FORWARD_SIGNING_SECRET: SECRET, FORWARD_FORMAT: 'xml' },
      'FORWARD_FORMAT: "xml" is not one of json, bitrix24',
    ],
    [
      { FORWARD_URL: 'https://a.example/', FORWARD_SIGNING_SECRET: SECRET, FORWARD_MAX_ATTEMPTS: '0' },
      'FORWARD_MAX_ATTEMPTS: "0" must be a whole number from 1 to 1000',
    ],
    [
      {
        FORWARD_URL: 'https://a.example/',
        FORWARD_SIGNING_SECRET: SECRET,
        FORWARD_BACKOFF_BASE_SECONDS: '10',
        FORWARD_BACKOFF_MAX_SECONDS: '5',
      },
      'FORWARD_BACKOFF_MAX_SECONDS: must be at least FORWARD_BACKOFF_BASE_SECONDS',
    ],
  ];
  for (const [env, message] of refusals) {
    it(`refuses ${JSON.stringify(env).slice(0, 90)}`, () => {
      let caught: unknown;
      try {
        parseForwardConfig(env, noFile);
      } catch (error) {
        caught = error;
      }
      expect(caught).to.be.instanceOf(ConfigError);
      expect((caught as Error).message).to.match(new RegExp(`^${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
      expect((caught as Error).message).not.to.include('s3cret');
      expect((caught as Error).message).not.to.include('MfKQ9r8G');
    });
  }
});
