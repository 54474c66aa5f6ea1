// Causal multi-head attention with grouped-query attention: query head h reads kv head
// floor(h / (NH / NKV)); scores are scaled by 1/sqrt(HS). Only the log-sum-exp of each score row is
// kept for the backward pass, which recomputes the probabilities row by row (memory O(T), not O(T^2)).
// f32 data runs on WebAssembly SIMD kernels (wasm/attention-simd.ts); these loops are their
// reference and serve f64 (gradient checks).
import type { FloatArray } from '../tensor';
import { simdAttentionBackward, simdAttentionForward } from './wasm/attention-simd';

/** Scaled causal scores of query row (b, t, h) against keys 0..t, into scores[0..t]. */
function scoreRow(
  scores: FloatArray,
  q: FloatArray,
  k: FloatArray,
  qRow: number,
  b: number,
  t: number,
  kvh: number,
  T: number,
  NKV: number,
  HS: number,
): void {
  const scale = 1 / Math.sqrt(HS);
  for (let t2 = 0; t2 <= t; t2++) {
    const kRow = ((b * T + t2) * NKV + kvh) * HS;
    let dot = 0;
    for (let i = 0; i < HS; i++) dot += q[qRow + i] * k[kRow + i];
    scores[t2] = dot * scale;
  }
}

/**
 * out (B, T, NH, HS) = softmax(q k^T / sqrt(HS), causal) v; lse (B, NH, T) the log-sum-exp of each
 * score row. q (B, T, NH, HS), k and v (B, T, NKV, HS); scratch holds at least T values.
 */
export function attentionForward(
  out: FloatArray,
  lse: FloatArray,
  q: FloatArray,
  k: FloatArray,
  v: FloatArray,
  scratch: FloatArray,
  B: number,
  T: number,
  NH: number,
  NKV: number,
  HS: number,
): void {
  if (simdAttentionForward(out, lse, q, k, v, B, T, NH, NKV, HS)) return;
  attentionForwardLoops(out, lse, q, k, v, scratch, B, T, NH, NKV, HS);
}

/** attentionForward in plain JavaScript (any precision). */
export function attentionForwardLoops(
  out: FloatArray,
  lse: FloatArray,
  q: FloatArray,
  k: FloatArray,
  v: FloatArray,
  scratch: FloatArray,
  B: number,
  T: number,
  NH: number,
  NKV: number,
  HS: number,
): void {
  const group = NH / NKV;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < NH; h++) {
        const kvh = Math.floor(h / group);
        const row = ((b * T + t) * NH + h) * HS;
        scoreRow(scratch, q, k, row, b, t, kvh, T, NKV, HS);
        let max = Number.NEGATIVE_INFINITY;
        for (let t2 = 0; t2 <= t; t2++) max = Math.max(max, scratch[t2]);
        let sum = 0;
        for (let t2 = 0; t2 <= t; t2++) {
          scratch[t2] = Math.exp(scratch[t2] - max);
          sum += scratch[t2];
        }
        lse[(b * NH + h) * T + t] = max + Math.log(sum);
        for (let i = 0; i < HS; i++) out[row + i] = 0;
        for (let t2 = 0; t2 <= t; t2++) {
          const p = scratch[t2] / sum;
          const vRow = ((b * T + t2) * NKV + kvh) * HS;
          for (let i = 0; i < HS; i++) out[row + i] += p * v[vRow + i];
        }
      }
    }
  }
}

/**
 * Backward (accumulates into dq (B, T, NH, HS), dk and dv (B, T, NKV, HS)): with probabilities p and
 * dp = dout . v, the score gradient is p * (dp - sum(p * dp)). scratch holds at least 2T values.
 */
export function attentionBackward(
  dq: FloatArray,
  dk: FloatArray,
  dv: FloatArray,
  dout: FloatArray,
  q: FloatArray,
  k: FloatArray,
  v: FloatArray,
  lse: FloatArray,
  scratch: FloatArray,
  B: number,
  T: number,
  NH: number,
  NKV: number,
  HS: number,
): void {
  if (simdAttentionBackward(dq, dk, dv, dout, q, k, v, lse, B, T, NH, NKV, HS)) return;
  attentionBackwardLoops(dq, dk, dv, dout, q, k, v, lse, scratch, B, T, NH, NKV, HS);
}

/** attentionBackward in plain JavaScript (any precision). */
export function attentionBackwardLoops(
  dq: FloatArray,
  dk: FloatArray,
  dv: FloatArray,
  dout: FloatArray,
  q: FloatArray,
  k: FloatArray,
  v: FloatArray,
  lse: FloatArray,
  scratch: FloatArray,
  B: number,
  T: number,
  NH: number,
  NKV: number,
  HS: number,
): void {
  const group = NH / NKV;
  const scale = 1 / Math.sqrt(HS);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < NH; h++) {
        const kvh = Math.floor(h / group);
        const row = ((b * T + t) * NH + h) * HS;
        const rowLse = lse[(b * NH + h) * T + t];
        // scratch[0..t]: probabilities p; scratch[T..T+t]: dp.
        scoreRow(scratch, q, k, row, b, t, kvh, T, NKV, HS);
        let pDotDp = 0;
        for (let t2 = 0; t2 <= t; t2++) {
          const p = Math.exp(scratch[t2] - rowLse);
          scratch[t2] = p;
          const vRow = ((b * T + t2) * NKV + kvh) * HS;
          let dp = 0;
          for (let i = 0; i < HS; i++) {
            dp += dout[row + i] * v[vRow + i];
            dv[vRow + i] += p * dout[row + i];
          }
          scratch[T + t2] = dp;
          pDotDp += p * dp;
        }
        for (let t2 = 0; t2 <= t; t2++) {
          const dscore = scratch[t2] * (scratch[T + t2] - pDotDp) * scale;
          const kRow = ((b * T + t2) * NKV + kvh) * HS;
          for (let i = 0; i < HS; i++) {
            dq[row + i] += dscore * k[kRow + i];
            dk[kRow + i] += dscore * q[row + i];
          }
        }
      }
    }
  }
}
