// Test helpers: central finite differences in double precision against analytic gradients.
// Error measure: |analytic - numeric| / max(|analytic|, |numeric|, 1e-3), i.e. relative for
// gradients above 1e-3 and absolute (scaled by 1e-3) below, where rounding noise dominates.
import type { Rng } from '../rng';
import type { FloatArray } from '../tensor';

export const gradTolerance = 1e-6;

export function randomArray(n: number, rng: Rng, scale = 1): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = scale * rng.normal();
  return out;
}

/** sum(out * weights): a scalar loss whose gradient with respect to out is `weights`. */
export function dot(a: FloatArray, b: FloatArray): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

export function gradError(analytic: number, numeric: number): number {
  return Math.abs(analytic - numeric) / Math.max(Math.abs(analytic), Math.abs(numeric), 1e-3);
}

export interface GradCheckResult {
  maxError: number;
  /** Human-readable first coordinates and the worst one, for the failure message. */
  report: string;
}

/**
 * Compares analytic[i] with (loss(x[i] + h) - loss(x[i] - h)) / 2h for each index (default all).
 * `loss` must recompute from x; x is restored afterwards.
 */
export function gradCheck(
  analytic: FloatArray,
  x: FloatArray,
  loss: () => number,
  indices: Iterable<number> = x.keys(),
  h = 1e-5,
): GradCheckResult {
  let maxError = 0;
  let worst = '';
  const first: string[] = [];
  for (const i of indices) {
    const saved = x[i];
    x[i] = saved + h;
    const plus = loss();
    x[i] = saved - h;
    const minus = loss();
    x[i] = saved;
    const numeric = (plus - minus) / (2 * h);
    const raw = gradError(analytic[i], numeric);
    const error = Number.isNaN(raw) ? Number.POSITIVE_INFINITY : raw;
    const line = `[${i}] analytic ${analytic[i].toExponential(6)} numeric ${numeric.toExponential(6)}`;
    if (first.length < 4) first.push(line);
    if (error > maxError || worst === '') {
      maxError = error;
      worst = line;
    }
  }
  return {
    maxError,
    report: `first: ${first.join('; ')}; worst: ${worst} (error ${maxError.toExponential(2)})`,
  };
}

/** `count` distinct indices in [0, n), spread deterministically. */
export function sampleIndices(n: number, count: number, rng: Rng): number[] {
  if (count >= n) return [...Array(n).keys()];
  const chosen = new Set<number>();
  while (chosen.size < count) chosen.add(Math.floor(rng.uniform() * n));
  return [...chosen];
}
