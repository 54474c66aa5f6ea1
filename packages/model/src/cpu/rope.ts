// Rotary position embedding, Hugging Face rotate-half convention: in each head of size HS, pair
// (i, i + HS/2) is rotated by angle pos * theta^(-2i/HS), positions 0..T-1.
import type { FloatArray } from '../tensor';

/** cos, sin (T, HS/2) of every position and pair. */
export function ropeTables(cos: FloatArray, sin: FloatArray, T: number, HS: number, theta: number): void {
  const half = HS / 2;
  for (let i = 0; i < half; i++) {
    const invFreq = theta ** ((-2 * i) / HS);
    for (let t = 0; t < T; t++) {
      cos[t * half + i] = Math.cos(t * invFreq);
      sin[t * half + i] = Math.sin(t * invFreq);
    }
  }
}

/** Rotates every head of x (B, T, H, HS) in place by sign * its angle. */
function rotate(
  x: FloatArray,
  cos: FloatArray,
  sin: FloatArray,
  B: number,
  T: number,
  H: number,
  HS: number,
  sign: number,
): void {
  const half = HS / 2;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const table = t * half;
      for (let h = 0; h < H; h++) {
        const head = ((b * T + t) * H + h) * HS;
        for (let i = 0; i < half; i++) {
          const c = cos[table + i];
          const s = sign * sin[table + i];
          const x1 = x[head + i];
          const x2 = x[head + i + half];
          x[head + i] = x1 * c - x2 * s;
          x[head + i + half] = x2 * c + x1 * s;
        }
      }
    }
  }
}

/** x (B, T, H, HS) in place: x * cos + rotate_half(x) * sin. */
export function ropeForward(
  x: FloatArray,
  cos: FloatArray,
  sin: FloatArray,
  B: number,
  T: number,
  H: number,
  HS: number,
): void {
  rotate(x, cos, sin, B, T, H, HS, 1);
}

/** dx (B, T, H, HS) in place: a rotation's gradient is the inverse rotation. */
export function ropeBackward(
  dx: FloatArray,
  cos: FloatArray,
  sin: FloatArray,
  B: number,
  T: number,
  H: number,
  HS: number,
): void {
  rotate(dx, cos, sin, B, T, H, HS, -1);
}
