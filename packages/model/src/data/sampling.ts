// Seeded sampling for the data pipeline on top of the shared Rng: a Fisher-Yates shuffle and
// Gamma / Dirichlet draws, so the build script, the server and every browser derive the same
// splits and client shards from a seed.
import type { Rng } from '../rng';

/** Shuffles `items` in place (Fisher-Yates) and returns it. */
export function shuffleInPlace<T>(items: T[], rng: Rng): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    const tmp = items[i];
    items[i] = items[j];
    items[j] = tmp;
  }
  return items;
}

/**
 * A Gamma(shape, 1) draw by Marsaglia and Tsang (2000). For shape < 1 it uses
 * Gamma(shape) = Gamma(shape + 1) * U^(1/shape), which keeps the rejection loop efficient.
 */
export function sampleGamma(shape: number, rng: Rng): number {
  if (shape < 1) {
    const boosted = sampleGamma(shape + 1, rng);
    return boosted * (1 - rng.uniform()) ** (1 / shape);
  }
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = rng.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - rng.uniform(); // (0, 1]: log(u) is finite
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

/** A draw from the symmetric Dirichlet(alpha, ..., alpha) over `k` outcomes, by normalised Gammas. */
export function sampleDirichlet(alpha: number, k: number, rng: Rng): number[] {
  const draws = Array.from({ length: k }, () => sampleGamma(alpha, rng));
  const total = draws.reduce((a, b) => a + b, 0);
  // With a tiny alpha every Gamma draw can underflow to 0: fall back to one random winner.
  if (total === 0) {
    const winner = Math.floor(rng.uniform() * k);
    return draws.map((_, i) => (i === winner ? 1 : 0));
  }
  return draws.map((g) => g / total);
}
