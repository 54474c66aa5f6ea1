import { describe, expect, it } from 'vitest';
import { Rng } from '../rng';
import { dot, gradCheck, gradTolerance, randomArray } from './gradcheck';
import { swigluBackward, swigluForward } from './swiglu';

describe('swiglu', () => {
  it('forward is silu(gate) * up', () => {
    const out = new Float64Array(2);
    swigluForward(out, new Float64Array([0, 2]), new Float64Array([5, 3]), 2);
    expect(out[0]).toBe(0);
    expect(out[1]).toBeCloseTo((2 / (1 + Math.exp(-2))) * 3, 14);
  });

  it(`dgate and dup match central differences (f64, error <= ${gradTolerance})`, () => {
    const rng = new Rng(8);
    const n = 12;
    const gate = randomArray(n, rng, 2);
    const up = randomArray(n, rng);
    const probe = randomArray(n, rng);
    const out = new Float64Array(n);
    const loss = () => {
      swigluForward(out, gate, up, n);
      return dot(out, probe);
    };
    const dgate = new Float64Array(n);
    const dup = new Float64Array(n);
    swigluBackward(dgate, dup, probe, gate, up, n);
    for (const [name, analytic, param] of [
      ['dgate', dgate, gate],
      ['dup', dup, up],
    ] as const) {
      const { maxError, report } = gradCheck(analytic, param, loss);
      expect(maxError, `${name}: ${report}`).toBeLessThanOrEqual(gradTolerance);
    }
  });
});
