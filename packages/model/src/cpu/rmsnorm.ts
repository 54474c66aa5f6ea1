// RMSNorm as in LLaMA: out = x / sqrt(mean(x^2) + eps) * weight over the last dimension C.
import type { FloatArray } from '../tensor';

/** out (N, C), rstd (N) = 1 / sqrt(mean(inp^2) + eps) kept for the backward pass. */
export function rmsnormForward(
  out: FloatArray,
  rstd: FloatArray,
  inp: FloatArray,
  weight: FloatArray,
  N: number,
  C: number,
  eps: number,
): void {
  for (let n = 0; n < N; n++) {
    const x = n * C;
    let sumSq = 0;
    for (let c = 0; c < C; c++) sumSq += inp[x + c] * inp[x + c];
    const r = 1 / Math.sqrt(sumSq / C + eps);
    rstd[n] = r;
    for (let c = 0; c < C; c++) out[x + c] = inp[x + c] * r * weight[c];
  }
}

/**
 * Backward (accumulates): with g = dout * weight, dinp += rstd * g - rstd^3 / C * inp * sum(g * inp),
 * dweight += dout * inp * rstd. dweight null when the weight is frozen.
 */
export function rmsnormBackward(
  dinp: FloatArray,
  dweight: FloatArray | null,
  dout: FloatArray,
  inp: FloatArray,
  weight: FloatArray,
  rstd: FloatArray,
  N: number,
  C: number,
): void {
  for (let n = 0; n < N; n++) {
    const x = n * C;
    const r = rstd[n];
    let dot = 0;
    for (let c = 0; c < C; c++) dot += dout[x + c] * weight[c] * inp[x + c];
    const k = (r * r * r * dot) / C;
    for (let c = 0; c < C; c++) dinp[x + c] += r * dout[x + c] * weight[c] - k * inp[x + c];
    if (dweight !== null) for (let c = 0; c < C; c++) dweight[c] += dout[x + c] * inp[x + c] * r;
  }
}
