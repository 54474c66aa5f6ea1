// Causal grouped-query attention on the WebAssembly SIMD kernels of attention.wat: the dot
// products and weighted sums over a head (HS lanes) run in WebAssembly, the softmax of each score
// row in JavaScript on a view of the module's memory. Same algorithm and layouts as the JavaScript
// loops in ../attention.ts (their reference); f32 only, HS a multiple of 4, otherwise false.
import type { FloatArray } from '../../tensor';
import { wasmBase64 } from './attention-wasm';
import {
  allFloat32,
  f32Prefix,
  instantiateKernels,
  type KernelMemory,
  memoryView,
  placeArrays,
} from './instance';

interface AttentionExports extends KernelMemory {
  scores(s: number, q: number, k: number, count: number, stride: number, HS: number, scale: number): void;
  mix(out: number, p: number, v: number, count: number, stride: number, HS: number, scale: number): void;
  dpdv(
    dp: number,
    p: number,
    dout: number,
    v: number,
    dv: number,
    count: number,
    stride: number,
    HS: number,
  ): void;
  dqdk(
    dq: number,
    dk: number,
    ds: number,
    q: number,
    k: number,
    count: number,
    stride: number,
    HS: number,
  ): void;
}

const kernels = instantiateKernels<AttentionExports>(wasmBase64);

/** attentionForward on the SIMD kernels; false when they do not apply (the caller then loops). */
export function simdAttentionForward(
  out: FloatArray,
  lse: FloatArray,
  q: FloatArray,
  k: FloatArray,
  v: FloatArray,
  B: number,
  T: number,
  NH: number,
  NKV: number,
  HS: number,
): boolean {
  if (kernels === null || HS % 4 !== 0 || !allFloat32([out, lse, q, k, v])) return false;
  const qSize = B * T * NH * HS;
  const kvSize = B * T * NKV * HS;
  const [qp, kp, vp, op, sp] = placeArrays(kernels, [
    f32Prefix(q, qSize),
    f32Prefix(k, kvSize),
    f32Prefix(v, kvSize),
    qSize,
    T,
  ]);
  const s = memoryView(kernels, sp, T);
  const group = NH / NKV;
  const scale = 1 / Math.sqrt(HS);
  const stride = NKV * HS * 4; // bytes from one position's kv head to the next position's
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < NH; h++) {
        const kvh = Math.floor(h / group);
        const row = ((b * T + t) * NH + h) * HS * 4;
        const kv0 = (b * T * NKV + kvh) * HS * 4;
        kernels.scores(sp, qp + row, kp + kv0, t + 1, stride, HS, scale);
        let max = Number.NEGATIVE_INFINITY;
        for (let j = 0; j <= t; j++) max = Math.max(max, s[j]);
        let sum = 0;
        for (let j = 0; j <= t; j++) {
          s[j] = Math.exp(s[j] - max);
          sum += s[j];
        }
        lse[(b * NH + h) * T + t] = max + Math.log(sum);
        kernels.mix(op + row, sp, vp + kv0, t + 1, stride, HS, 1 / sum);
      }
    }
  }
  out.set(memoryView(kernels, op, qSize));
  return true;
}

/** attentionBackward (accumulating into dq, dk, dv) on the SIMD kernels; false when they do not apply. */
export function simdAttentionBackward(
  dq: FloatArray,
  dk: FloatArray,
  dv: FloatArray,
  dout: FloatArray,
  q: FloatArray,
  k: FloatArray,
  v: FloatArray,
  lse: FloatArray,
  B: number,
  T: number,
  NH: number,
  NKV: number,
  HS: number,
): boolean {
  if (kernels === null || HS % 4 !== 0 || !allFloat32([dq, dk, dv, dout, q, k, v, lse])) return false;
  const qSize = B * T * NH * HS;
  const kvSize = B * T * NKV * HS;
  const [qp, kp, vp, gp, dqp, dkp, dvp, sp, dpp] = placeArrays(kernels, [
    f32Prefix(q, qSize),
    f32Prefix(k, kvSize),
    f32Prefix(v, kvSize),
    f32Prefix(dout, qSize),
    f32Prefix(dq, qSize),
    f32Prefix(dk, kvSize),
    f32Prefix(dv, kvSize),
    T,
    T,
  ]);
  const s = memoryView(kernels, sp, T); // scores, then probabilities p, then score gradients
  const dp = memoryView(kernels, dpp, T);
  const group = NH / NKV;
  const scale = 1 / Math.sqrt(HS);
  const stride = NKV * HS * 4;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < NH; h++) {
        const kvh = Math.floor(h / group);
        const row = ((b * T + t) * NH + h) * HS * 4;
        const kv0 = (b * T * NKV + kvh) * HS * 4;
        const rowLse = lse[(b * NH + h) * T + t];
        kernels.scores(sp, qp + row, kp + kv0, t + 1, stride, HS, scale);
        for (let j = 0; j <= t; j++) s[j] = Math.exp(s[j] - rowLse);
        kernels.dpdv(dpp, sp, gp + row, vp + kv0, dvp + kv0, t + 1, stride, HS);
        let pDotDp = 0;
        for (let j = 0; j <= t; j++) pDotDp += s[j] * dp[j];
        for (let j = 0; j <= t; j++) s[j] = s[j] * (dp[j] - pDotDp) * scale;
        kernels.dqdk(dqp + row, dkp + kv0, sp, qp + row, kp + kv0, t + 1, stride, HS);
      }
    }
  }
  dq.set(memoryView(kernels, dqp, qSize));
  dk.set(memoryView(kernels, dkp, kvSize));
  dv.set(memoryView(kernels, dvp, kvSize));
  return true;
}
