import { expect } from 'chai';
import type { IncomingMessage } from 'node:http';
import { headerNames, tokenHeaders } from '../../src/receive/request-headers';

// The hot path reads the two token headers from rawHeaders instead of building headersDistinct.
describe('request headers read from rawHeaders', () => {
  it('keeps every value of the two token headers, whatever the case of their names, and nothing else', () => {
    const raw = [
      'Host',
      'x',
      'X-Bitrix24-Token',
      'one',
      'Authorization',
      'Bearer a',
      'x-bitrix24-token',
      'two',
      'Content-Type',
      'text/plain',
      'X-Bitrix24-Tokens',
      'no',
    ];
    expect(tokenHeaders(raw)).to.deep.equal({ 'x-bitrix24-token': ['one', 'two'], authorization: ['Bearer a'] });
  });

  it('has no entry for a header that was not sent, and keeps an empty value', () => {
    expect(tokenHeaders(['Host', 'x'])).to.deep.equal({});
    expect(tokenHeaders(['authorization', ''])).to.deep.equal({ authorization: [''] });
  });

  it('lists header names lower-cased, each once, in the order they first arrived', () => {
    const req = {
      rawHeaders: ['Host', 'x', 'Authorization', 'a', 'AUTHORIZATION', 'b', 'Content-Length', '3'],
    } as unknown as IncomingMessage;
    expect(headerNames(req)).to.deep.equal(['host', 'authorization', 'content-length']);
  });
});
