import { describe, expect, it } from 'vitest';
import { Rng } from '../rng';
import { attentionBackward, attentionForward } from './attention';
import { dot, gradCheck, gradTolerance, randomArray } from './gradcheck';

// Grouped-query attention: 4 query heads share 2 kv heads.
const B = 2;
const T = 4;
const NH = 4;
const NKV = 2;
const HS = 3;

function setup(seed: number) {
  const rng = new Rng(seed);
  return {
    q: randomArray(B * T * NH * HS, rng), // (B, T, NH, HS)
    k: randomArray(B * T * NKV * HS, rng), // (B, T, NKV, HS)
    v: randomArray(B * T * NKV * HS, rng), // (B, T, NKV, HS)
    probe: randomArray(B * T * NH * HS, rng),
  };
}

function forward(q: Float64Array, k: Float64Array, v: Float64Array) {
  const out = new Float64Array(B * T * NH * HS);
  const lse = new Float64Array(B * NH * T);
  attentionForward(out, lse, q, k, v, new Float64Array(T), B, T, NH, NKV, HS);
  return { out, lse };
}

describe('causal GQA attention', () => {
  it('forward equals a naive reference with repeat_kv, a -inf causal mask and softmax', () => {
    const { q, k, v } = setup(5);
    const { out } = forward(q, k, v);
    let maxDiff = 0;
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < NH; h++) {
        const kvh = h >> 1; // repeat_kv: heads 0,1 -> kv 0; heads 2,3 -> kv 1
        for (let t = 0; t < T; t++) {
          const scores = Array.from({ length: T }, (_, s) => {
            if (s > t) return Number.NEGATIVE_INFINITY;
            let d = 0;
            for (let i = 0; i < HS; i++)
              d += q[((b * T + t) * NH + h) * HS + i] * k[((b * T + s) * NKV + kvh) * HS + i];
            return d / Math.sqrt(HS);
          });
          const exps = scores.map((s) => Math.exp(s));
          const total = exps.reduce((a, c) => a + c, 0);
          for (let i = 0; i < HS; i++) {
            let expected = 0;
            for (let s = 0; s < T; s++) expected += (exps[s] / total) * v[((b * T + s) * NKV + kvh) * HS + i];
            maxDiff = Math.max(maxDiff, Math.abs(out[((b * T + t) * NH + h) * HS + i] - expected));
          }
        }
      }
    }
    expect(maxDiff).toBeLessThan(1e-12);
  });

  it('is causal: the last position of k and v does not change earlier outputs', () => {
    const { q, k, v } = setup(6);
    const before = forward(q, k, v).out;
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < NKV * HS; i++) {
        k[(b * T + T - 1) * NKV * HS + i] += 1;
        v[(b * T + T - 1) * NKV * HS + i] += 1;
      }
    }
    const after = forward(q, k, v).out;
    for (let b = 0; b < B; b++) {
      const start = b * T * NH * HS;
      const end = start + (T - 1) * NH * HS;
      expect([...after.subarray(start, end)]).toEqual([...before.subarray(start, end)]);
    }
  });

  it(`dq, dk, dv match central differences (f64, error <= ${gradTolerance})`, () => {
    const { q, k, v, probe } = setup(7);
    const loss = () => dot(forward(q, k, v).out, probe);
    const { lse } = forward(q, k, v);
    const dq = new Float64Array(q.length);
    const dk = new Float64Array(k.length);
    const dv = new Float64Array(v.length);
    attentionBackward(dq, dk, dv, probe, q, k, v, lse, new Float64Array(2 * T), B, T, NH, NKV, HS);
    for (const [name, analytic, param] of [
      ['dq', dq, q],
      ['dk', dk, k],
      ['dv', dv, v],
    ] as const) {
      const { maxError, report } = gradCheck(analytic, param, loss);
      expect(maxError, `${name}: ${report}`).toBeLessThanOrEqual(gradTolerance);
    }
  });
});
