import { describe, expect, it } from 'vitest';
import { argmaxAllowed, repeatedNgramBans } from './decode-rules';

describe('repeatedNgramBans', () => {
  it('bans the token that would repeat a trigram of the answer', () => {
    // "a person who is a person" -> next "who" would repeat "a person who"
    const [a, person, who, is] = [1, 2, 3, 4];
    expect([...repeatedNgramBans([a, person, who, is, a, person], 3)]).toEqual([who]);
  });

  it('collects every continuation of an n-1 prefix seen more than once', () => {
    expect([...repeatedNgramBans([5, 6, 5, 7, 5], 2)].sort()).toEqual([6, 7]);
  });

  it('bans nothing for n < 1, for answers shorter than n - 1, and without a repeated prefix', () => {
    expect(repeatedNgramBans([1, 1, 1], 0).size).toBe(0);
    expect(repeatedNgramBans([1], 3).size).toBe(0);
    expect(repeatedNgramBans([1, 2, 3, 4], 3).size).toBe(0);
  });

  it('n = 1 bans every generated token; the empty answer bans nothing', () => {
    expect([...repeatedNgramBans([3, 1, 3], 1)].sort()).toEqual([1, 3]);
    expect(repeatedNgramBans([], 2).size).toBe(0);
  });

  it('matches a brute-force enumeration of n-grams on random sequences', () => {
    let state = 7;
    const next = () => {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      return state % 3;
    };
    for (let trial = 0; trial < 200; trial++) {
      const ids = Array.from({ length: trial % 12 }, next);
      const n = 1 + (trial % 4);
      const expected = new Set<number>();
      for (let t = 0; t < 3; t++) {
        const candidate = [...ids, t];
        const grams = new Set<string>();
        for (let s = 0; s + n <= ids.length; s++) grams.add(ids.slice(s, s + n).join(','));
        if (candidate.length >= n && grams.has(candidate.slice(-n).join(','))) expected.add(t);
      }
      expect(repeatedNgramBans(ids, n)).toEqual(expected);
    }
  });
});

describe('argmaxAllowed', () => {
  it('takes the largest allowed logit, the lowest index on ties, -1 when all are banned', () => {
    expect(argmaxAllowed([0.5, 2, 2, 1])).toBe(1);
    expect(argmaxAllowed([0.5, 2, 2, 1], new Set([1]))).toBe(2);
    expect(argmaxAllowed([0.5, 2], new Set([0, 1]))).toBe(-1);
  });
});
