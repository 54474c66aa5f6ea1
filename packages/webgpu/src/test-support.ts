// Helpers shared by the kernel parity tests: seeded data and a comparison that reports the first
// values and the largest difference when GPU and CPU disagree.

/** Uniform floats in [-1, 1) from a seeded mulberry32 stream. */
export function randomFloats(n: number, seed: number): Float32Array {
  let state = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    out[i] = (((z ^ (z >>> 14)) >>> 0) / 2 ** 32) * 2 - 1;
  }
  return out;
}

/** Throws unless |actual - expected| <= tolerance * (1 + |expected|) everywhere. */
export function assertClose(
  actual: Float32Array,
  expected: ArrayLike<number>,
  tolerance: number,
  what: string,
): void {
  if (actual.length !== expected.length) {
    throw new Error(`${what}: ${actual.length} values, expected ${expected.length}`);
  }
  let maxDiff = 0;
  let worst = -1;
  for (let i = 0; i < actual.length; i++) {
    const diff = Math.abs(actual[i] - expected[i]);
    if (!(diff <= tolerance * (1 + Math.abs(expected[i])))) {
      if (!(diff <= maxDiff)) {
        maxDiff = diff;
        worst = i;
      }
    }
  }
  if (worst >= 0) {
    const first = (values: ArrayLike<number>) =>
      Array.from({ length: Math.min(6, values.length) }, (_, i) => values[i].toFixed(5));
    throw new Error(
      `${what}: max difference ${maxDiff} at index ${worst} (got ${actual[worst]}, expected ${expected[worst]})\n` +
        `  got      ${first(actual).join(' ')}\n  expected ${first(expected).join(' ')}`,
    );
  }
}
