import { describe, expect, it } from 'vitest';
import { Rng } from '../rng';
import { embeddingBackward, embeddingForward } from './embedding';
import { dot, gradCheck, gradTolerance, randomArray } from './gradcheck';

describe('embedding', () => {
  it('forward copies rows; dwte matches central differences, repeated tokens accumulating', () => {
    const rng = new Rng(9);
    const V = 5;
    const C = 3;
    const tokens = new Int32Array([4, 1, 4, 0]); // (N) token 4 twice
    const N = tokens.length;
    const wte = randomArray(V * C, rng); // (V, C)
    const probe = randomArray(N * C, rng);
    const out = new Float64Array(N * C);
    const loss = () => {
      embeddingForward(out, tokens, wte, N, C);
      return dot(out, probe);
    };
    loss();
    expect([...out.subarray(3, 6)]).toEqual([...wte.subarray(3, 6)]);
    const dwte = new Float64Array(V * C);
    embeddingBackward(dwte, probe, tokens, N, C);
    expect(dwte[4 * C]).toBeCloseTo(probe[0] + probe[2 * C], 14);
    const { maxError, report } = gradCheck(dwte, wte, loss);
    expect(maxError, `error <= ${gradTolerance}: ${report}`).toBeLessThanOrEqual(gradTolerance);
  });
});
