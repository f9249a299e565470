import { expect } from 'chai';
import qs from 'qs';
import { FORM_PARSE_OPTIONS } from '../../src/receive/form-options';
import { extractToken, type TokenCarrier } from '../../src/verify/extract';
import { fingerprint } from '../../src/verify/fingerprint';
import { createTokenMatcher, decide } from '../../src/verify/verify';
import { CRM_DEAL_ADD, httpBuildQuery, repeatedTokenKey, webhookAuth, WEBHOOK_TOKEN } from '../support/bitrix-bodies';

const carrier = (parts: Partial<TokenCarrier>): TokenCarrier => ({ body: {}, query: {}, headers: {}, ...parts });
const form = (body: string) => qs.parse(body, FORM_PARSE_OPTIONS);

describe('extraction (pure)', () => {
  it('finds auth[application_token] of a Bitrix24 form body parsed for nesting', () => {
    expect(extractToken('body', carrier({ body: form(CRM_DEAL_ADD) }))).to.deep.equal({
      source: 'body',
      token: WEBHOOK_TOKEN,
      location: 'auth[application_token]',
      rejected: [],
    });
  });

  it('finds the key a flat parser leaves behind', () => {
    const flat = Object.fromEntries(new URLSearchParams(CRM_DEAL_ADD));
    expect(extractToken('body', carrier({ body: flat })).location).to.equal('auth[application_token] (flat key)');
  });

  it('reports a repeated key as not a token, naming where', () => {
    expect(extractToken('body', carrier({ body: form(repeatedTokenKey()) }))).to.deep.equal({
      source: 'body',
      location: 'auth[application_token], auth[application_token] (flat key)',
      rejected: [{ location: 'auth[application_token]', reason: 'repeated' }],
    });
  });

  it('reports empty strings and non-strings as not tokens', () => {
    expect(extractToken('body', carrier({ body: { auth: { application_token: '' } } })).rejected).to.deep.equal([
      { location: 'auth[application_token]', reason: 'empty' },
    ]);
    expect(extractToken('body', carrier({ body: { auth: { application_token: 42 } } })).rejected).to.deep.equal([
      { location: 'auth[application_token]', reason: 'not_a_string' },
    ]);
    expect(extractToken('body', carrier({ body: { auth: { application_token: { a: 'b' } } } })).token).to.equal(
      undefined,
    );
  });

  it('ignores inherited properties and non-object bodies', () => {
    const inherited = Object.create({ application_token: WEBHOOK_TOKEN }) as object;
    expect(extractToken('body', carrier({ body: { auth: inherited } })).token).to.equal(undefined);
    expect(extractToken('body', carrier({ body: [WEBHOOK_TOKEN] })).token).to.equal(undefined);
    expect(extractToken('body', carrier({ body: 'text' })).token).to.equal(undefined);
  });

  it('reads ?application_token= before ?token=', () => {
    const both = carrier({ query: { application_token: 'first', token: 'second' } });
    expect(extractToken('query', both)).to.include({ token: 'first', location: 'query application_token' });
    expect(extractToken('query', carrier({ query: { token: 'second' } }))).to.include({
      token: 'second',
      location: 'query token',
    });
    expect(extractToken('query', carrier({ query: { token: ['a', 'b'] } })).rejected).to.deep.equal([
      { location: 'query token', reason: 'repeated' },
    ]);
  });

  it('reads X-Bitrix24-Token, then Authorization: Bearer; repeated headers are not tokens', () => {
    expect(extractToken('header', carrier({ headers: { 'x-bitrix24-token': ['abc'] } }))).to.include({ token: 'abc' });
    expect(extractToken('header', carrier({ headers: { authorization: ['Bearer abc'] } }))).to.include({
      token: 'abc',
      location: 'header authorization (Bearer)',
    });
    expect(extractToken('header', carrier({ headers: { authorization: ['bearer   abc  '] } })).token).to.equal('abc');
    expect(extractToken('header', carrier({ headers: { authorization: ['Basic abc'] } })).token).to.equal(undefined);
    expect(extractToken('header', carrier({ headers: { authorization: ['Bearer '] } })).rejected).to.deep.equal([
      { location: 'header authorization (Bearer)', reason: 'empty' },
    ]);
    expect(extractToken('header', carrier({ headers: { 'x-bitrix24-token': ['a', 'a'] } })).rejected).to.deep.equal([
      { location: 'header x-bitrix24-token', reason: 'repeated' },
    ]);
  });
});

describe('verification (pure)', () => {
  const match = createTokenMatcher([
    { name: 'crm', token: WEBHOOK_TOKEN },
    { name: 'tasks', token: 'short' },
    { name: 'crm', token: 'rotated-in' },
  ]);

  it('names the configured token a candidate equals, whatever its length', () => {
    expect(match(WEBHOOK_TOKEN)).to.equal('crm');
    expect(match('rotated-in')).to.equal('crm');
    expect(match('short')).to.equal('tasks');
    expect(match('shor')).to.equal(undefined);
    expect(match(`${WEBHOOK_TOKEN}x`)).to.equal(undefined);
    expect(match('')).to.equal(undefined);
  });

  it('fingerprints with the first 8 hex characters of SHA-256', () => {
    // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad (FIPS 180-2 example)
    expect(fingerprint('abc')).to.equal('ba7816bf');
  });

  it('decides from the first source holding a token, flagging a conflict', () => {
    const body = { source: 'body' as const, token: 'nope', location: 'x', rejected: [] };
    const query = { source: 'query' as const, token: WEBHOOK_TOKEN, location: 'y', rejected: [] };
    const header = { source: 'header' as const, location: 'z', rejected: [] };
    expect(decide([body, query, header], match)).to.deep.equal({
      result: 'mismatched',
      reason: 'token_mismatch',
      source: 'body',
      webhook: 'unknown',
      fingerprint: fingerprint('nope'),
      conflict: true,
    });
    expect(decide([header, query], match)).to.deep.equal({
      result: 'accepted',
      source: 'query',
      webhook: 'crm',
      fingerprint: fingerprint(WEBHOOK_TOKEN),
      conflict: false,
    });
    expect(decide([header], match)).to.deep.equal({
      result: 'missing',
      reason: 'token_missing',
      source: 'none',
      webhook: 'unknown',
      conflict: false,
    });
    expect(decide([query, { ...body, token: WEBHOOK_TOKEN }], match).conflict).to.equal(false);
  });
});

describe('the test bodies encoder', () => {
  it('encodes exactly as Bitrix24 (PHP http_build_query) does: reproduces the verbatim sample of the shared facts', () => {
    const encoded = httpBuildQuery({
      event: 'ONCRMDEALADD',
      event_handler_id: '975',
      data: { FIELDS: { ID: '7405' } },
      ts: '1766047124',
      auth: webhookAuth(WEBHOOK_TOKEN),
    });
    expect(encoded).to.equal(CRM_DEAL_ADD);
    expect(httpBuildQuery({ t: 'a b~*' })).to.equal('t=a+b%7E%2A');
  });
});
