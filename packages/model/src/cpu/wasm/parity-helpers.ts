// Shared by the SIMD kernels' parity tests: random f32 operands and the relative difference between
// a kernel's result and the JavaScript loops' result.
import type { Rng } from '../../rng';

/** n values uniform in (-scale, scale). */
export function randomF32(n: number, rng: Rng, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (rng.uniform() * 2 - 1) * scale;
  return a;
}

/** max |actual - expected| over max |expected|. */
export function maxRelativeDiff(actual: Float32Array, expected: Float32Array): number {
  let diff = 0;
  let size = 0;
  for (let i = 0; i < actual.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    size = Math.max(size, Math.abs(expected[i]));
  }
  return diff / size;
}
