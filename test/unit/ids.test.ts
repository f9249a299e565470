import { expect } from 'chai';
import { newId } from '../../src/store/ids';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const timeOf = (id: string) => [...id.slice(0, 10)].reduce((time, char) => time * 32 + ALPHABET.indexOf(char), 0);

describe('store ids', () => {
  it('are 26 characters of Crockford base32 whose first 10 are the millisecond time', () => {
    const at = Date.UTC(2027, 2, 1, 8, 30, 0, 123);
    const id = newId(at);
    expect(id).to.match(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(timeOf(id)).to.equal(at);
  });

  it('increase strictly within one millisecond and when the clock steps back, keeping the last time', () => {
    const at = Date.UTC(2027, 2, 1, 8, 31, 0, 0);
    const ids = [newId(at)];
    for (let i = 0; i < 5000; i++) ids.push(newId(at));
    for (let i = 0; i < 100; i++) ids.push(newId(at - 1000));
    ids.push(newId(at + 1));
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!, `${ids[i]} after ${ids[i - 1]}`).to.equal(true);
    expect(new Set(ids.slice(0, -1).map(timeOf))).to.deep.equal(new Set([at]));
    expect(timeOf(ids[ids.length - 1]!)).to.equal(at + 1);
  });
});
