import { expect } from 'chai';
import fc from 'fast-check';
import { jsonText } from '../../src/store/json-text';

describe('jsonText: JSON.stringify without recursion (stored event data)', () => {
  it('writes exactly what JSON.stringify writes for any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => jsonText(value) === JSON.stringify(value)),
      { numRuns: 2000 },
    );
  });

  it('drops undefined and functions in objects, writes null for them in arrays, honours toJSON', () => {
    const value = {
      a: [1, undefined, () => 1, NaN],
      b: undefined,
      c: () => 1,
      d: new Date(0),
      e: Object.assign(Object.create(null) as object, { x: 'é"\n' }),
    };
    expect(jsonText(value)).to.equal(JSON.stringify(value));
  });

  it('writes a value nested 100 000 levels deep (JSON.stringify overflows the stack)', () => {
    let value: unknown = 1;
    for (let i = 0; i < 100_000; i++) value = i % 2 ? [value] : { k: value };
    expect(() => JSON.stringify(value)).to.throw(RangeError);
    const text = jsonText(value);
    expect(text.length).to.equal(1 + 50_000 * 2 + 50_000 * 6);
    expect(text.startsWith('[{"k":[{"k":')).to.equal(true);
  });
});
