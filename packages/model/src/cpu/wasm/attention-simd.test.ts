import { describe, expect, it } from 'vitest';
import { Rng } from '../../rng';
import { attentionBackwardLoops, attentionForwardLoops } from '../attention';
import { simdAttentionBackward, simdAttentionForward } from './attention-simd';
import { maxRelativeDiff, randomF32 } from './parity-helpers';

// The shipped model's heads (4 query heads on 2 kv heads of 32), plain multi-head, and a short head.
const shapes = [
  { B: 2, T: 9, NH: 4, NKV: 2, HS: 32 },
  { B: 1, T: 5, NH: 2, NKV: 2, HS: 8 },
  { B: 1, T: 1, NH: 3, NKV: 1, HS: 4 },
];

describe('WebAssembly SIMD attention', () => {
  for (const { B, T, NH, NKV, HS } of shapes) {
    const tag = `B ${B} T ${T} NH ${NH} NKV ${NKV} HS ${HS}`;
    const rng = new Rng(B * 100 + T * 10 + NH);
    const q = randomF32(B * T * NH * HS, rng, 2);
    const k = randomF32(B * T * NKV * HS, rng, 2);
    const v = randomF32(B * T * NKV * HS, rng);

    it(`forward output and log-sum-exp equal the JavaScript loops, ${tag}`, () => {
      const [outE, lseE] = [new Float32Array(q.length), new Float32Array(B * NH * T)];
      const [outA, lseA] = [new Float32Array(q.length), new Float32Array(B * NH * T)];
      attentionForwardLoops(outE, lseE, q, k, v, new Float32Array(T), B, T, NH, NKV, HS);
      expect(simdAttentionForward(outA, lseA, q, k, v, B, T, NH, NKV, HS)).toBe(true);
      expect(maxRelativeDiff(outA, outE)).toBeLessThan(1e-5);
      expect(maxRelativeDiff(lseA, lseE)).toBeLessThan(1e-5);
    });

    it(`backward accumulates dq, dk, dv like the JavaScript loops, ${tag}`, () => {
      const out = new Float32Array(q.length);
      const lse = new Float32Array(B * NH * T);
      attentionForwardLoops(out, lse, q, k, v, new Float32Array(T), B, T, NH, NKV, HS);
      const dout = randomF32(q.length, rng);
      const start = [randomF32(q.length, rng), randomF32(k.length, rng), randomF32(v.length, rng)];
      const expected = start.map((a) => a.slice());
      const actual = start.map((a) => a.slice());
      attentionBackwardLoops(
        expected[0],
        expected[1],
        expected[2],
        dout,
        q,
        k,
        v,
        lse,
        new Float32Array(2 * T),
        B,
        T,
        NH,
        NKV,
        HS,
      );
      expect(
        simdAttentionBackward(actual[0], actual[1], actual[2], dout, q, k, v, lse, B, T, NH, NKV, HS),
      ).toBe(true);
      for (let i = 0; i < 3; i++) expect(maxRelativeDiff(actual[i], expected[i])).toBeLessThan(1e-5);
    });
  }

  it('declines f64 data and head sizes that are not a multiple of 4', () => {
    const a = new Float32Array(6);
    expect(simdAttentionForward(a, new Float32Array(2), a, a, a, 1, 2, 1, 1, 3)).toBe(false);
    const d = new Float64Array(8);
    expect(simdAttentionForward(d, new Float64Array(2), d, d, d, 1, 2, 1, 1, 4)).toBe(false);
  });
});
