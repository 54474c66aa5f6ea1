// Token embedding lookup: row tokens[n] of the table wte (V, C).
import type { FloatArray } from '../tensor';

/** out (N, C) = wte[tokens] with tokens (N) already checked to lie in [0, V). */
export function embeddingForward(
  out: FloatArray,
  tokens: Int32Array,
  wte: FloatArray,
  N: number,
  C: number,
): void {
  for (let n = 0; n < N; n++) {
    const row = tokens[n] * C;
    for (let c = 0; c < C; c++) out[n * C + c] = wte[row + c];
  }
}

/** Backward (accumulates): dwte[tokens[n]] += dout[n]. */
export function embeddingBackward(
  dwte: FloatArray,
  dout: FloatArray,
  tokens: Int32Array,
  N: number,
  C: number,
): void {
  for (let n = 0; n < N; n++) {
    const row = tokens[n] * C;
    for (let c = 0; c < C; c++) dwte[row + c] += dout[n * C + c];
  }
}
