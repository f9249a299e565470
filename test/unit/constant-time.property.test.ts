// Issue #13: constant time as a property. Whatever the candidate (the first configured token, the last, none,
// one of any length, one padded with spaces), the matcher compares the candidate's SHA-256 digest with the
// digest of every configured token, in order, and nothing else: no early return on a match or on a length.

import { createHash, timingSafeEqual } from 'node:crypto';
import { expect } from 'chai';
import fc from 'fast-check';
import type { NamedToken } from '../../src/config/tokens';
import { createTokenMatcher, decide } from '../../src/verify/verify';

const sha256 = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/** The real comparison, recording every pair it was given. */
function countingComparison() {
  const calls: Array<[Buffer, Buffer]> = [];
  const compare = (a: Buffer, b: Buffer) => {
    calls.push([Buffer.from(a), Buffer.from(b)]);
    return timingSafeEqual(a, b);
  };
  return { calls, compare };
}

const tokenArbitrary = fc.stringMatching(/^[0-9a-z]{1,40}$/);
const configuredArbitrary = fc
  .uniqueArray(tokenArbitrary, { minLength: 1, maxLength: 6 })
  .chain((tokens) =>
    fc.tuple(
      fc.constant(tokens),
      fc.array(fc.constantFrom('crm', 'tasks', 'bot'), { minLength: tokens.length, maxLength: tokens.length }),
    ),
  )
  .map(([tokens, names]): NamedToken[] => tokens.map((token, index) => ({ name: names[index]!, token })));

/** Candidates: each configured token, each padded with spaces, prefixes, and arbitrary strings of any length. */
function candidateArbitrary(configured: NamedToken[]) {
  const real = fc.constantFrom(...configured.map(({ token }) => token));
  return fc.oneof(
    real,
    fc
      .tuple(real, fc.constantFrom(' ', '  ', '\t', '+'), fc.constantFrom('before', 'after', 'both'))
      .map(([token, space, where]) =>
        where === 'before' ? space + token : where === 'after' ? token + space : space + token + space,
      ),
    real.map((token) => token.slice(0, -1)),
    fc.string({ minLength: 0, maxLength: 300 }),
  );
}

describe('token comparison: constant time as a property', () => {
  it('compares the candidate digest with every configured digest, in order, whatever matches first and whatever the length', () => {
    fc.assert(
      fc.property(
        configuredArbitrary.chain((configured) => fc.tuple(fc.constant(configured), candidateArbitrary(configured))),
        ([configured, candidate]) => {
          const { calls, compare } = countingComparison();
          const match = createTokenMatcher(configured, compare);
          const name = match(candidate);

          expect(calls.length, 'comparisons').to.equal(configured.length);
          const candidateDigest = sha256(candidate);
          calls.forEach(([a, b], index) => {
            expect(a.equals(candidateDigest), `call ${index}: the candidate's digest`).to.equal(true);
            expect(b.equals(sha256(configured[index]!.token)), `call ${index}: configured digest ${index}`).to.equal(
              true,
            );
          });
          const first = configured.find(({ token }) => token === candidate);
          expect(name).to.equal(first?.name);

          // The request path: decide() hashes the deciding token once and matches by digest, with the same comparisons.
          calls.length = 0;
          const verdict = decide(
            [{ source: 'body', token: candidate, location: 'auth[application_token]', rejected: [] }],
            match,
          );
          expect(calls.length, 'comparisons in decide()').to.equal(configured.length);
          calls.forEach(([a, b], index) => {
            expect(a.equals(candidateDigest), `decide() call ${index}: the candidate's digest`).to.equal(true);
            expect(
              b.equals(sha256(configured[index]!.token)),
              `decide() call ${index}: configured digest ${index}`,
            ).to.equal(true);
          });
          expect(verdict.webhook).to.equal(first?.name ?? 'unknown');
          expect(verdict.result !== 'missing' && verdict.fingerprint).to.equal(
            candidateDigest.toString('hex').slice(0, 8),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('compares with every token when the first one matches, the last one matches, or none does', () => {
    const configured: NamedToken[] = [
      { name: 'crm', token: 'a'.repeat(32) },
      { name: 'tasks', token: 'b'.repeat(32) },
      { name: 'crm', token: 'short' },
    ];
    for (const [candidate, expected] of [
      ['a'.repeat(32), 'crm'],
      ['short', 'crm'],
      ['b'.repeat(32), 'tasks'],
      ['', undefined],
      ['x'.repeat(5000), undefined],
      [` ${'a'.repeat(32)} `, undefined],
    ] as const) {
      const { calls, compare } = countingComparison();
      expect(createTokenMatcher(configured, compare)(candidate), JSON.stringify(candidate.slice(0, 40))).to.equal(
        expected,
      );
      expect(
        calls.map(([a, b]) => [a.length, b.length]),
        JSON.stringify(candidate.slice(0, 40)),
      ).to.deep.equal([
        [32, 32],
        [32, 32],
        [32, 32],
      ]);
    }
  });

  it('matches exactly with the default comparison (production behaviour): no trimming, no prefix', () => {
    const match = createTokenMatcher([{ name: 'crm', token: 'secret' }]);
    expect(match('secret')).to.equal('crm');
    expect(match(' secret ')).to.equal(undefined);
    expect(match('secre')).to.equal(undefined);
  });
});
