import { expect } from 'chai';
import { ConfigError } from '../../src/config/errors';
import type { Env } from '../../src/config/env';
import { loadConfig } from '../../src/config/load';
import { closestName, levenshtein, tokenShapeProblem } from '../../src/config/hygiene';
import { parseTokenList } from '../../src/config/tokens';

const TOKEN = 'jvh9y1ulvt2m6k5or90v9mg8nn32ozas';
const OTHER = '51856fefc120afa4b628cc82d3935cce';
const THIRD = '0123456789abcdefghijklmnopqrstuv';
const noFiles = (path: string): string => {
  throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
};
const load = (env: Env, files: Record<string, string> = {}) =>
  loadConfig(env, (path) => (path in files ? files[path]! : noFiles(path)));

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    expect(error).to.be.instanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('has the contract defaults', () => {
    const config = load({});
    expect(config).to.deep.include({
      tokens: [],
      sources: ['body', 'query', 'header'],
      port: 3000,
      host: '0.0.0.0',
      webhookPath: '/api/bitrix/webhook',
      bodyLimit: '256kb',
      bodyLimitBytes: 256 * 1024,
      logLevel: 'info',
      warnings: [],
    });
  });

  it('names the single token "default"', () => {
    expect(load({ BITRIX24_OUTGOING_WEBHOOK_TOKEN: TOKEN }).tokens).to.deep.equal([{ name: 'default', token: TOKEN }]);
  });

  for (const raw of [` ${TOKEN}\n`, `"${TOKEN}"`, `'${TOKEN}' `, `\t"${TOKEN}"\r\n`]) {
    it(`cleans ${JSON.stringify(raw.replace(TOKEN, '<token>'))} and warns without showing the token`, () => {
      const config = load({ BITRIX24_OUTGOING_WEBHOOK_TOKEN: raw });
      expect(config.tokens).to.deep.equal([{ name: 'default', token: TOKEN }]);
      expect(config.warnings).to.have.length(1);
      expect(config.warnings[0]).to.include('BITRIX24_OUTGOING_WEBHOOK_TOKEN').and.include('whitespace or quotes');
      expect(config.warnings[0]).not.to.include(TOKEN);
    });
  }

  for (const raw of ['', '   ', '""', "' '"]) {
    it(`refuses an empty token ${JSON.stringify(raw)}, naming the variable`, () => {
      const error = configError(() => load({ BITRIX24_OUTGOING_WEBHOOK_TOKEN: raw }));
      expect(error.variable).to.equal('BITRIX24_OUTGOING_WEBHOOK_TOKEN');
      expect(error.message).to.include('empty');
    });
  }

  it('refuses whitespace inside a token', () => {
    expect(configError(() => load({ BITRIX24_OUTGOING_WEBHOOK_TOKEN: 'abc def' })).message).to.include('inside');
  });

  it('reads named tokens separated by commas or newlines, two per name for a rotation', () => {
    const config = load({ BITRIX24_WEBHOOK_TOKENS: `crm=${TOKEN},\n# the new one\ncrm=${OTHER}\ntasks-2=${OTHER}` });
    expect(config.tokens).to.deep.equal([
      { name: 'crm', token: TOKEN },
      { name: 'crm', token: OTHER },
      { name: 'tasks-2', token: OTHER },
    ]);
    expect(config.warnings).to.deep.equal([]);
  });

  it('warns of a token configured twice under one name, and of more than two per name', () => {
    expect(load({ BITRIX24_WEBHOOK_TOKENS: `crm=${TOKEN},crm=${TOKEN}` }).warnings).to.deep.equal([
      'token name crm: the same token is configured twice',
    ]);
    expect(load({ BITRIX24_WEBHOOK_TOKENS: `crm=${TOKEN},crm=${OTHER},crm=${THIRD}` }).warnings).to.deep.equal([
      'token name crm: 3 tokens configured; a rotation needs two',
    ]);
  });

  for (const [list, expected] of [
    [`crm:${TOKEN}`, 'entry 1: expected name=token'],
    [`crm=${TOKEN},${OTHER}`, 'entry 2: expected name=token'],
    [`CRM=${TOKEN}`, 'must match [a-z0-9_-]{1,32}'],
    [`=${TOKEN}`, 'must match [a-z0-9_-]{1,32}'],
    [`${'a'.repeat(33)}=${TOKEN}`, 'must match [a-z0-9_-]{1,32}'],
    ['crm=', 'entry 1 (crm): the token is empty'],
    [' , \n', 'holds no name=token entry'],
  ] as const) {
    it(`refuses the malformed list ${JSON.stringify(list.replace(TOKEN, '<token>').replace(OTHER, '<token>'))}`, () => {
      const error = configError(() => load({ BITRIX24_WEBHOOK_TOKENS: list }));
      expect(error.message).to.include('BITRIX24_WEBHOOK_TOKENS').and.include(expected);
      expect(error.message).not.to.include(TOKEN).and.not.to.include(OTHER);
    });
  }

  it('reads tokens from *_FILE variables, a trailing newline being no mistake', () => {
    const config = load(
      {
        BITRIX24_OUTGOING_WEBHOOK_TOKEN_FILE: '/run/secrets/token',
        BITRIX24_WEBHOOK_TOKENS_FILE: '/run/secrets/tokens',
      },
      { '/run/secrets/token': `${TOKEN}\n`, '/run/secrets/tokens': `tasks=${OTHER}\n` },
    );
    expect(config.tokens).to.deep.equal([
      { name: 'default', token: TOKEN },
      { name: 'tasks', token: OTHER },
    ]);
    expect(config.warnings).to.deep.equal([]);
  });

  it('names the unreadable file and its variable', () => {
    const error = configError(() => load({ BITRIX24_OUTGOING_WEBHOOK_TOKEN_FILE: '/run/secrets/nope' }));
    expect(error.variable).to.equal('BITRIX24_OUTGOING_WEBHOOK_TOKEN_FILE');
    expect(error.message).to.include('"/run/secrets/nope"').and.include('ENOENT');
  });

  it('refuses a variable and its _FILE twin set together', () => {
    const error = configError(() =>
      load({ BITRIX24_OUTGOING_WEBHOOK_TOKEN: TOKEN, BITRIX24_OUTGOING_WEBHOOK_TOKEN_FILE: '/x' }, { '/x': TOKEN }),
    );
    expect(error.message).to.include('set only one');
  });

  it('reads token sources in order, and refuses unknown or repeated ones', () => {
    expect(load({ BITRIX24_TOKEN_SOURCES: ' header , BODY' }).sources).to.deep.equal(['header', 'body']);
    expect(configError(() => load({ BITRIX24_TOKEN_SOURCES: 'body,cookie' })).message).to.include('"cookie"');
    expect(configError(() => load({ BITRIX24_TOKEN_SOURCES: 'body,body' })).message).to.include('twice');
  });

  it('checks PORT, WEBHOOK_PATH, BODY_LIMIT and LOG_LEVEL', () => {
    expect(load({ PORT: '8080', WEBHOOK_PATH: '/hooks/b24', BODY_LIMIT: '1mb', LOG_LEVEL: 'DEBUG' })).to.deep.include({
      port: 8080,
      webhookPath: '/hooks/b24',
      bodyLimitBytes: 1024 * 1024,
      logLevel: 'debug',
    });
    expect(configError(() => load({ PORT: '80a' })).variable).to.equal('PORT');
    expect(configError(() => load({ PORT: '70000' })).variable).to.equal('PORT');
    expect(configError(() => load({ WEBHOOK_PATH: 'no-slash' })).variable).to.equal('WEBHOOK_PATH');
    expect(configError(() => load({ BODY_LIMIT: 'lots' })).variable).to.equal('BODY_LIMIT');
    expect(configError(() => load({ BODY_LIMIT: '0kb' })).variable).to.equal('BODY_LIMIT');
    expect(configError(() => load({ LOG_LEVEL: 'loud' })).variable).to.equal('LOG_LEVEL');
  });

  it('has documented defaults for the load bounds and the shutdown drain', () => {
    expect(load({})).to.deep.include({
      maxConnections: 2048,
      bodyMemoryLimitBytes: 64 * 1024 * 1024,
      bodyTimeoutMs: 10_000,
      bodyMinBytesPerSecond: 1024,
      shutdownDrainMs: 5_000,
    });
    expect(load({ BODY_MIN_BYTES_PER_SECOND: '0' }).bodyMinBytesPerSecond).to.equal(0);
    expect(configError(() => load({ BODY_MIN_BYTES_PER_SECOND: 'fast' })).variable).to.equal(
      'BODY_MIN_BYTES_PER_SECOND',
    );
  });

  it('checks MAX_CONNECTIONS, BODY_MEMORY_LIMIT, BODY_TIMEOUT_SECONDS and SHUTDOWN_DRAIN_SECONDS', () => {
    expect(
      load({
        MAX_CONNECTIONS: '500',
        BODY_MEMORY_LIMIT: '8mb',
        BODY_TIMEOUT_SECONDS: '2.5',
        SHUTDOWN_DRAIN_SECONDS: '0',
      }),
    ).to.deep.include({
      maxConnections: 500,
      bodyMemoryLimitBytes: 8 * 1024 * 1024,
      bodyTimeoutMs: 2_500,
      shutdownDrainMs: 0,
    });
    for (const [variable, value] of [
      ['MAX_CONNECTIONS', '0'],
      ['MAX_CONNECTIONS', '1e3'],
      ['MAX_CONNECTIONS', '-5'],
      ['BODY_MEMORY_LIMIT', 'much'],
      ['BODY_TIMEOUT_SECONDS', '0'],
      ['BODY_TIMEOUT_SECONDS', 'ten'],
      ['BODY_TIMEOUT_SECONDS', '301'],
      ['SHUTDOWN_DRAIN_SECONDS', '-1'],
      ['SHUTDOWN_DRAIN_SECONDS', '5s'],
    ] as const) {
      expect(configError(() => load({ [variable]: value })).variable, `${variable}=${value}`).to.equal(variable);
    }
    const tooSmall = configError(() => load({ BODY_LIMIT: '1mb', BODY_MEMORY_LIMIT: '1mb' }));
    expect(tooSmall.variable).to.equal('BODY_MEMORY_LIMIT');
    expect(tooSmall.message).to.include('at least twice BODY_LIMIT (1mb)');
  });

  it('parses a token list on its own, purely', () => {
    expect(parseTokenList(`a=${TOKEN}`, 'X')).to.deep.equal({
      tokens: [{ name: 'a', token: TOKEN }],
      warnings: [],
      faults: [],
    });
  });

  describe('hygiene warnings (never refusals)', () => {
    const CONTRACT =
      'BITRIX24_OUTGOING_WEBHOOK_TOKEN, BITRIX24_OUTGOING_WEBHOOK_TOKEN_FILE, BITRIX24_WEBHOOK_TOKENS, BITRIX24_WEBHOOK_TOKENS_FILE, BITRIX24_TOKEN_SOURCES, BITRIX24_TRACES_ACCEPTED_RATIO, BITRIX24_TRACES_SERVER_SPAN';
    for (const [name, expected] of [
      [
        'BITRIX24_OUTGOING_WEBHOOK_TOKN',
        'BITRIX24_OUTGOING_WEBHOOK_TOKN is not a variable this service reads; did you mean BITRIX24_OUTGOING_WEBHOOK_TOKEN?',
      ],
      [
        'BITRIX24_WEBHOOK_TOKEN',
        'BITRIX24_WEBHOOK_TOKEN is not a variable this service reads; did you mean BITRIX24_WEBHOOK_TOKENS?',
      ],
      [
        'BITRIX_OUTGOING_WEBHOOK_TOKEN',
        'BITRIX_OUTGOING_WEBHOOK_TOKEN is not a variable this service reads; did you mean BITRIX24_OUTGOING_WEBHOOK_TOKEN?',
      ],
      [
        'bitrix24_outgoing_webhook_token',
        'bitrix24_outgoing_webhook_token is not a variable this service reads; did you mean BITRIX24_OUTGOING_WEBHOOK_TOKEN?',
      ],
      [
        'BITRIX24_TOKEN_SOURCE',
        'BITRIX24_TOKEN_SOURCE is not a variable this service reads; did you mean BITRIX24_TOKEN_SOURCES?',
      ],
      [
        'BITRIX24_PORTAL_DOMAIN_NAME',
        `BITRIX24_PORTAL_DOMAIN_NAME is not a variable this service reads; it reads ${CONTRACT}`,
      ],
    ] as const) {
      it(`warns of ${name}, with the closest known name when there is one`, () => {
        const config = load({ [name]: TOKEN, BITRIX24_OUTGOING_WEBHOOK_TOKEN: TOKEN });
        expect(config.warnings).to.deep.equal([expected]);
        expect(config.tokens).to.deep.equal([{ name: 'default', token: TOKEN }]);
      });
    }

    it('does not warn of contract variables, unset ones, or unrelated ones', () => {
      expect(
        load({
          BITRIX24_TOKEN_SOURCES: 'body',
          BITRIX24_WEBHOOK_TOKENS: `crm=${TOKEN}`,
          BITRIX24_TRACES_ACCEPTED_RATIO: '0.5',
          BITRIX24_TRACES_SERVER_SPAN: 'service',
          BITRIX24_X: undefined,
          HOME: '/root',
          OTEL_SERVICE_NAME: 'x',
        }).warnings,
      ).to.deep.equal([]);
    });

    for (const [what, value, expected] of [
      [
        'a pasted handler URL',
        'https://example.bitrix24.ru/rest/1/jvh9y1ulvt2m6k5or/',
        'looks like a URL, not a token (a handler or REST URL pasted instead of the "Application token" field?)',
      ],
      [
        'a token one character short',
        TOKEN.slice(1),
        'is 31 characters long; a Bitrix24 token is 32 characters of 0-9 and a-z',
      ],
      [
        'a token in uppercase',
        TOKEN.toUpperCase(),
        'contains uppercase letters; a Bitrix24 token is 32 characters of 0-9 and a-z',
      ],
      [
        'a token with other characters',
        `${TOKEN.slice(0, 30)}-_`,
        'contains characters other than letters and digits; a Bitrix24 token is 32 characters of 0-9 and a-z',
      ],
      [
        'a short mixed-case value with punctuation',
        'Abc.def',
        'is 7 characters long and contains uppercase letters and characters other than letters and digits; a Bitrix24 token is 32 characters of 0-9 and a-z',
      ],
    ] as const) {
      it(`warns of ${what} without showing it`, () => {
        const config = load({ BITRIX24_OUTGOING_WEBHOOK_TOKEN: value });
        expect(config.tokens).to.deep.equal([{ name: 'default', token: value }]);
        expect(config.warnings).to.deep.equal([`BITRIX24_OUTGOING_WEBHOOK_TOKEN: the token ${expected}`]);
        expect(config.warnings.join()).not.to.include(value);
      });
    }

    it('names the entry of a token list whose token does not look like one', () => {
      expect(load({ BITRIX24_WEBHOOK_TOKENS: `crm=${TOKEN}\ntasks=${OTHER.slice(0, 20)}` }).warnings).to.deep.equal([
        'BITRIX24_WEBHOOK_TOKENS entry 2 (tasks): the token is 20 characters long; a Bitrix24 token is 32 characters of 0-9 and a-z',
      ]);
    });

    it("names each malformed token's variable and fault for the diagnoses (the inbound webhook's 16-character secret too)", () => {
      const config = load({
        BITRIX24_OUTGOING_WEBHOOK_TOKEN: 'k3v9x2m7q1w8z4p6',
        BITRIX24_WEBHOOK_TOKENS: `crm=${TOKEN}\ntasks=https://x.bitrix24.ru/rest/1/k3v9x2m7q1w8z4p6/`,
      });
      expect(config.tokenFaults).to.deep.equal([
        {
          name: 'default',
          where: 'BITRIX24_OUTGOING_WEBHOOK_TOKEN',
          problem:
            'is 16 characters long, like the secret of an inbound webhook (the code in https://<portal>/rest/<user>/<secret>/); ' +
            'the outgoing webhook\'s "Application token" is 32 characters of 0-9 and a-z',
        },
        {
          name: 'tasks',
          where: 'BITRIX24_WEBHOOK_TOKENS entry 2 (tasks)',
          problem:
            'looks like a URL, not a token (a handler or REST URL pasted instead of the "Application token" field?)',
        },
      ]);
      expect(load({ BITRIX24_OUTGOING_WEBHOOK_TOKEN: TOKEN }).tokenFaults).to.deep.equal([]);
    });

    it('binds a token to a portal: @member_id, @domain, or both; a URL stays a (malformed) token', () => {
      const config = load({
        BITRIX24_WEBHOOK_TOKENS: `crm=${TOKEN}@d897063e1ce7c5eb9f04b9751eef5915\ntasks=${OTHER}@Some-Domain.Bitrix24.com@a223c6b3710f85df22e9377d6c4f7553\nplain=${THIRD}`,
      });
      expect(config.tokens).to.deep.equal([
        { name: 'crm', token: TOKEN, portal: { memberId: 'd897063e1ce7c5eb9f04b9751eef5915' } },
        {
          name: 'tasks',
          token: OTHER,
          portal: { domain: 'some-domain.bitrix24.com', memberId: 'a223c6b3710f85df22e9377d6c4f7553' },
        },
        { name: 'plain', token: THIRD },
      ]);
      expect(config.warnings).to.deep.equal([]);
      expect(() => load({ BITRIX24_WEBHOOK_TOKENS: `crm=${TOKEN}@not_a_member!` })).to.throw(
        'BITRIX24_WEBHOOK_TOKENS entry 1 (crm): the member_id after @ must be 8 to 64 characters of 0-9 and a-z',
      );
      expect(() =>
        load({ BITRIX24_WEBHOOK_TOKENS: `crm=${TOKEN}@d897063e1ce7c5eb9f04b9751eef5915\ncrm=${OTHER}` }),
      ).to.throw('bound to different portals');
    });

    it('takes both kinds of Bitrix24 token (webhook [0-9a-z], application hex) as they are', () => {
      expect(tokenShapeProblem(TOKEN)).to.equal(undefined);
      expect(tokenShapeProblem(OTHER)).to.equal(undefined);
    });

    it('reports a *_FILE ending in a Windows line ending instead of taking it silently', () => {
      const config = load(
        {
          BITRIX24_OUTGOING_WEBHOOK_TOKEN_FILE: '/run/secrets/token',
          BITRIX24_WEBHOOK_TOKENS_FILE: '/run/secrets/tokens',
        },
        { '/run/secrets/token': `${TOKEN}\r\n`, '/run/secrets/tokens': `crm=${OTHER}\r\ntasks=${THIRD}\r\n` },
      );
      expect(config.tokens).to.deep.equal([
        { name: 'default', token: TOKEN },
        { name: 'crm', token: OTHER },
        { name: 'tasks', token: THIRD },
      ]);
      expect(config.warnings).to.deep.equal([
        'BITRIX24_OUTGOING_WEBHOOK_TOKEN_FILE (/run/secrets/token): the file has Windows line endings (\\r\\n); the \\r was removed (save it with Unix line endings)',
        'BITRIX24_WEBHOOK_TOKENS_FILE (/run/secrets/tokens): the file has Windows line endings (\\r\\n); the \\r was removed (save it with Unix line endings)',
      ]);
    });

    it('measures edit distance, and suggests only a near name', () => {
      expect(levenshtein('kitten', 'sitting')).to.equal(3);
      expect(levenshtein('', 'abc')).to.equal(3);
      expect(levenshtein('same', 'same')).to.equal(0);
      expect(closestName('BITRIX24_TOKEN_SOURCSE', ['BITRIX24_TOKEN_SOURCES', 'BITRIX24_WEBHOOK_TOKENS'])).to.equal(
        'BITRIX24_TOKEN_SOURCES',
      );
      expect(closestName('BITRIX24_ZZZZZZZZZZZZZZZZZZ', ['BITRIX24_TOKEN_SOURCES'])).to.equal(undefined);
    });
  });
});
