import { describe, expect, it } from 'vitest';
import { Rng } from '../rng';
import { dot, gradCheck, gradTolerance, randomArray } from './gradcheck';
import { type LoraLinearWeights, loraLinearBackward, loraLinearForward, matmulForward } from './linear';

// N rows, IN -> OUT features, rank R; OUT > 32 crosses a row block of the tiled loops.
const N = 3;
const IN = 5;
const OUT = 37;
const R = 2;
const scale = 1.5; // alpha / r

function setup() {
  const rng = new Rng(7);
  const x = randomArray(N * IN, rng); // (N, IN)
  const W = randomArray(OUT * IN, rng, 0.5); // (OUT, IN)
  const lora: LoraLinearWeights = {
    A: randomArray(R * IN, rng, 0.5), // (R, IN)
    B: randomArray(OUT * R, rng, 0.5), // (OUT, R)
    dA: new Float64Array(R * IN),
    dB: new Float64Array(OUT * R),
    R,
    scale,
  };
  const probe = randomArray(N * OUT, rng); // dL/dy of the loss sum(y * probe)
  return { x, W, lora, probe };
}

describe('matmul and LoRA linear', () => {
  it('forward equals x (W + scale B A)^T computed naively', () => {
    const { x, W, lora } = setup();
    const y = new Float64Array(N * OUT);
    loraLinearForward(y, new Float64Array(N * R), x, W, lora, N, IN, OUT);
    let maxDiff = 0;
    for (let n = 0; n < N; n++) {
      for (let o = 0; o < OUT; o++) {
        let expected = 0;
        for (let i = 0; i < IN; i++) {
          let merged = W[o * IN + i];
          for (let r = 0; r < R; r++) merged += scale * lora.B[o * R + r] * lora.A[r * IN + i];
          expected += x[n * IN + i] * merged;
        }
        maxDiff = Math.max(maxDiff, Math.abs(y[n * OUT + o] - expected));
      }
    }
    expect(maxDiff).toBeLessThan(1e-12);
  });

  it('accumulate adds scale * x W^T to the output', () => {
    const out = new Float64Array([10, 20]);
    // x (1, 2) = [1, 2]; W (2, 2) = [[1, 0], [3, 4]] -> x W^T = [1, 11]
    matmulForward(out, new Float64Array([1, 2]), new Float64Array([1, 0, 3, 4]), 1, 2, 2, 2, true);
    expect([...out]).toEqual([12, 42]);
  });

  it(`dx, dW, dA, dB match central differences (f64, error <= ${gradTolerance})`, () => {
    const { x, W, lora, probe } = setup();
    const y = new Float64Array(N * OUT);
    const u = new Float64Array(N * R);
    const loss = () => {
      loraLinearForward(y, u, x, W, lora, N, IN, OUT);
      return dot(y, probe);
    };
    loss();
    const dx = new Float64Array(N * IN);
    const dW = new Float64Array(OUT * IN);
    loraLinearBackward(dx, dW, new Float64Array(N * R), probe, u, x, W, lora, N, IN, OUT);
    for (const [name, analytic, param] of [
      ['dx', dx, x],
      ['dW', dW, W],
      ['dA', lora.dA!, lora.A],
      ['dB', lora.dB!, lora.B],
    ] as const) {
      const { maxError, report } = gradCheck(analytic, param, loss);
      expect(maxError, `${name}: ${report}`).toBeLessThanOrEqual(gradTolerance);
    }
  });

  it('without LoRA it is a plain linear layer whose backward skips null gradients', () => {
    const { x, W, probe } = setup();
    const y = new Float64Array(N * OUT);
    const loss = () => {
      loraLinearForward(y, null, x, W, null, N, IN, OUT);
      return dot(y, probe);
    };
    loss();
    const dx = new Float64Array(N * IN);
    loraLinearBackward(dx, null, null, probe, null, x, W, null, N, IN, OUT);
    const { maxError, report } = gradCheck(dx, x, loss);
    expect(maxError, report).toBeLessThanOrEqual(gradTolerance);
  });
});
