// Linear layers without bias, y = x W^T with W (OUT, IN) as in PyTorch, and the fused LoRA linear
// y = x W^T + scale (x A^T) B^T with scale = alpha / r. N is the number of rows (B * T).
// Loops run over blocks of weight rows so a block stays in cache while every input row passes by,
// four rows at a time to share loads; a slow reference beside them lives in linear.test.ts.
// f32 calls whose inner dimension is a multiple of 16 run on WebAssembly SIMD kernels instead
// (wasm/matmul-simd.ts); these loops are their reference and serve every other call.
import type { FloatArray } from '../tensor';
import { simdMatmulBackward, simdMatmulForward } from './wasm/matmul-simd';

/** Weight rows per cache block: 32 rows of a 4096-wide f32 matrix are 512 KiB. */
const rowBlock = 32;

/**
 * out (N, OUT) = scale * inp (N, IN) @ weight (OUT, IN)^T, or out += that when accumulate.
 * Four weight rows at a time share each load of the input row.
 */
export function matmulForward(...args: Parameters<typeof matmulForwardLoops>): void {
  if (simdMatmulForward(...args)) return;
  matmulForwardLoops(...args);
}

/** matmulForward in plain JavaScript (any precision and shape). */
export function matmulForwardLoops(
  out: FloatArray,
  inp: FloatArray,
  weight: FloatArray,
  N: number,
  IN: number,
  OUT: number,
  scale = 1,
  accumulate = false,
): void {
  const store = (y: number, sum: number): void => {
    out[y] = accumulate ? out[y] + scale * sum : scale * sum;
  };
  for (let o0 = 0; o0 < OUT; o0 += rowBlock) {
    const o1 = Math.min(o0 + rowBlock, OUT);
    for (let n = 0; n < N; n++) {
      const x = n * IN;
      const y = n * OUT;
      let o = o0;
      for (; o + 4 <= o1; o += 4) {
        const w0 = o * IN;
        const w1 = w0 + IN;
        const w2 = w1 + IN;
        const w3 = w2 + IN;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        for (let i = 0; i < IN; i++) {
          const xi = inp[x + i];
          s0 += xi * weight[w0 + i];
          s1 += xi * weight[w1 + i];
          s2 += xi * weight[w2 + i];
          s3 += xi * weight[w3 + i];
        }
        store(y + o, s0);
        store(y + o + 1, s1);
        store(y + o + 2, s2);
        store(y + o + 3, s3);
      }
      for (; o < o1; o++) {
        const w = o * IN;
        let sum = 0;
        for (let i = 0; i < IN; i++) sum += inp[x + i] * weight[w + i];
        store(y + o, sum);
      }
    }
  }
}

/**
 * Backward of matmulForward (accumulates): dinp (N, IN) += scale * dout @ weight and
 * dweight (OUT, IN) += scale * dout^T @ inp. Pass null for a gradient that is not needed.
 * dinp takes four weight rows per pass over its row, dweight four input rows per pass over its row.
 */
export function matmulBackward(...args: Parameters<typeof matmulBackwardLoops>): void {
  if (simdMatmulBackward(...args)) return;
  matmulBackwardLoops(...args);
}

/** matmulBackward in plain JavaScript (any precision and shape). */
export function matmulBackwardLoops(
  dinp: FloatArray | null,
  dweight: FloatArray | null,
  dout: FloatArray,
  inp: FloatArray,
  weight: FloatArray,
  N: number,
  IN: number,
  OUT: number,
  scale = 1,
): void {
  for (let o0 = 0; o0 < OUT; o0 += rowBlock) {
    const o1 = Math.min(o0 + rowBlock, OUT);
    if (dinp !== null) {
      for (let n = 0; n < N; n++) {
        const x = n * IN;
        const y = n * OUT;
        let o = o0;
        for (; o + 4 <= o1; o += 4) {
          const w0 = o * IN;
          const w1 = w0 + IN;
          const w2 = w1 + IN;
          const w3 = w2 + IN;
          const d0 = scale * dout[y + o];
          const d1 = scale * dout[y + o + 1];
          const d2 = scale * dout[y + o + 2];
          const d3 = scale * dout[y + o + 3];
          for (let i = 0; i < IN; i++) {
            dinp[x + i] +=
              d0 * weight[w0 + i] + d1 * weight[w1 + i] + d2 * weight[w2 + i] + d3 * weight[w3 + i];
          }
        }
        for (; o < o1; o++) {
          const w = o * IN;
          const d = scale * dout[y + o];
          for (let i = 0; i < IN; i++) dinp[x + i] += d * weight[w + i];
        }
      }
    }
    if (dweight !== null) {
      for (let o = o0; o < o1; o++) {
        const w = o * IN;
        let n = 0;
        for (; n + 4 <= N; n += 4) {
          const x0 = n * IN;
          const x1 = x0 + IN;
          const x2 = x1 + IN;
          const x3 = x2 + IN;
          const d0 = scale * dout[n * OUT + o];
          const d1 = scale * dout[(n + 1) * OUT + o];
          const d2 = scale * dout[(n + 2) * OUT + o];
          const d3 = scale * dout[(n + 3) * OUT + o];
          for (let i = 0; i < IN; i++) {
            dweight[w + i] += d0 * inp[x0 + i] + d1 * inp[x1 + i] + d2 * inp[x2 + i] + d3 * inp[x3 + i];
          }
        }
        for (; n < N; n++) {
          const x = n * IN;
          const d = scale * dout[n * OUT + o];
          for (let i = 0; i < IN; i++) dweight[w + i] += d * inp[x + i];
        }
      }
    }
  }
}

/** A LoRA pair on one projection: A (R, IN), B (OUT, R), with their gradients when trained. */
export interface LoraLinearWeights {
  A: FloatArray; // (R, IN)
  B: FloatArray; // (OUT, R)
  dA: FloatArray | null; // (R, IN)
  dB: FloatArray | null; // (OUT, R)
  R: number;
  scale: number; // alpha / r
}

/**
 * out (N, OUT) = inp (N, IN) @ weight^T + scale * (inp @ A^T) @ B^T. loraU (N, R) keeps inp @ A^T
 * for the backward pass; lora null means a plain linear layer.
 */
export function loraLinearForward(
  out: FloatArray,
  loraU: FloatArray | null,
  inp: FloatArray,
  weight: FloatArray,
  lora: LoraLinearWeights | null,
  N: number,
  IN: number,
  OUT: number,
): void {
  matmulForward(out, inp, weight, N, IN, OUT);
  if (lora === null || loraU === null) return;
  matmulForward(loraU, inp, lora.A, N, IN, lora.R);
  matmulForward(out, loraU, lora.B, N, lora.R, OUT, lora.scale, true);
}

/**
 * Backward of loraLinearForward (accumulates into dinp, dweight, lora.dA, lora.dB; null skips a
 * gradient). dloraU (N, R) is scratch.
 */
export function loraLinearBackward(
  dinp: FloatArray | null,
  dweight: FloatArray | null,
  dloraU: FloatArray | null,
  dout: FloatArray,
  loraU: FloatArray | null,
  inp: FloatArray,
  weight: FloatArray,
  lora: LoraLinearWeights | null,
  N: number,
  IN: number,
  OUT: number,
): void {
  matmulBackward(dinp, dweight, dout, inp, weight, N, IN, OUT);
  if (lora === null || loraU === null || dloraU === null) return;
  dloraU.fill(0, 0, N * lora.R);
  matmulBackward(dloraU, lora.dB, dout, loraU, lora.B, N, lora.R, OUT, lora.scale);
  matmulBackward(dinp, lora.dA, dloraU, inp, lora.A, N, IN, lora.R);
}
