import { describe, expect, it } from 'vitest';
import { Rng } from '../../rng';
import { matmulBackwardLoops, matmulForwardLoops } from '../linear';
import { simdMatmulAvailable, simdMatmulBackward, simdMatmulForward } from './matmul-simd';
import { maxRelativeDiff, randomF32 } from './parity-helpers';

// Odd row counts, OUT off the 4-row and 32/64-row blocks, and N = 1 / OUT = 1 edges.
const shapes = [
  { N: 7, IN: 48, OUT: 70 },
  { N: 8, IN: 128, OUT: 64 },
  { N: 1, IN: 16, OUT: 1 },
  { N: 5, IN: 384, OUT: 131 },
];

describe('WebAssembly SIMD matmul kernels', () => {
  it('are available in Node', () => {
    expect(simdMatmulAvailable).toBe(true);
  });

  for (const { N, IN, OUT } of shapes) {
    it(`forward (plain and accumulating) equals the JavaScript loops, N ${N} IN ${IN} OUT ${OUT}`, () => {
      const rng = new Rng(N * 1000 + OUT);
      const x = randomF32(N * IN, rng);
      const w = randomF32(OUT * IN, rng);
      for (const accumulate of [false, true]) {
        const start = randomF32(N * OUT, rng);
        const expected = start.slice();
        const actual = start.slice();
        matmulForwardLoops(expected, x, w, N, IN, OUT, 0.75, accumulate);
        expect(simdMatmulForward(actual, x, w, N, IN, OUT, 0.75, accumulate)).toBe(true);
        expect(maxRelativeDiff(actual, expected)).toBeLessThan(1e-5);
      }
    });

    it(`backward accumulates dinp and dweight like the JavaScript loops, N ${N} IN ${IN} OUT ${OUT}`, () => {
      const rng = new Rng(N * 7 + OUT);
      const x = randomF32(N * IN, rng);
      const w = randomF32(OUT * IN, rng);
      const dout = randomF32(N * OUT, rng);
      const dinp0 = randomF32(N * IN, rng);
      const dw0 = randomF32(OUT * IN, rng);
      const [dinpE, dwE, dinpA, dwA] = [dinp0.slice(), dw0.slice(), dinp0.slice(), dw0.slice()];
      matmulBackwardLoops(dinpE, dwE, dout, x, w, N, IN, OUT, 1.5);
      expect(simdMatmulBackward(dinpA, dwA, dout, x, w, N, IN, OUT, 1.5)).toBe(true);
      expect(maxRelativeDiff(dinpA, dinpE)).toBeLessThan(1e-5);
      expect(maxRelativeDiff(dwA, dwE)).toBeLessThan(1e-5);
      // Either gradient alone leaves the other untouched.
      const onlyInput = dinp0.slice();
      expect(simdMatmulBackward(onlyInput, null, dout, x, w, N, IN, OUT, 1.5)).toBe(true);
      expect(maxRelativeDiff(onlyInput, dinpE)).toBeLessThan(1e-5);
      const onlyWeight = dw0.slice();
      expect(simdMatmulBackward(null, onlyWeight, dout, x, w, N, IN, OUT, 1.5)).toBe(true);
      expect(maxRelativeDiff(onlyWeight, dwE)).toBeLessThan(1e-5);
    });
  }

  it('decline f64 data and inner dimensions that are not a multiple of 16', () => {
    const rng = new Rng(3);
    expect(
      simdMatmulForward(new Float32Array(8), randomF32(8, rng), randomF32(8, rng), 1, 8, 1, 1, false),
    ).toBe(false);
    const f64 = new Float64Array(16);
    expect(simdMatmulForward(new Float32Array(1), f64, f64, 1, 16, 1, 1, false)).toBe(false);
    expect(simdMatmulBackward(null, null, f64, f64, f64, 1, 16, 1, 1)).toBe(false);
  });
});
