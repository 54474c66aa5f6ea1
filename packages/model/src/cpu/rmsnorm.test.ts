import { describe, expect, it } from 'vitest';
import { Rng } from '../rng';
import { dot, gradCheck, gradTolerance, randomArray } from './gradcheck';
import { rmsnormBackward, rmsnormForward } from './rmsnorm';

describe('rmsnorm', () => {
  it('forward matches a hand-computed row', () => {
    // x = [1, 2, 3, 4]: mean(x^2) = 7.5, eps 0 -> x / sqrt(7.5) * w
    const out = new Float64Array(4);
    const rstd = new Float64Array(1);
    rmsnormForward(out, rstd, new Float64Array([1, 2, 3, 4]), new Float64Array([1, 2, 1, 0.5]), 1, 4, 0);
    const r = 1 / Math.sqrt(7.5);
    expect(rstd[0]).toBeCloseTo(r, 14);
    [1 * r, 4 * r, 3 * r, 2 * r].forEach((v, i) => {
      expect(out[i]).toBeCloseTo(v, 14);
    });
  });

  it(`dx and dweight match central differences (f64, error <= ${gradTolerance})`, () => {
    const rng = new Rng(1);
    const N = 3;
    const C = 6;
    const x = randomArray(N * C, rng); // (N, C)
    const w = randomArray(C, rng); // (C)
    const probe = randomArray(N * C, rng);
    const out = new Float64Array(N * C);
    const rstd = new Float64Array(N);
    const loss = () => {
      rmsnormForward(out, rstd, x, w, N, C, 1e-5);
      return dot(out, probe);
    };
    loss();
    const dx = new Float64Array(N * C);
    const dw = new Float64Array(C);
    rmsnormBackward(dx, dw, probe, x, w, rstd, N, C);
    for (const [name, analytic, param] of [
      ['dx', dx, x],
      ['dweight', dw, w],
    ] as const) {
      const { maxError, report } = gradCheck(analytic, param, loss);
      expect(maxError, `${name}: ${report}`).toBeLessThanOrEqual(gradTolerance);
    }
  });
});
