// The WebAssembly SIMD linear-layer kernels (matmul.wat) behind the CPU engine's matmulForward and
// matmulBackward. Each call copies its operands into the module's memory, runs, and copies the
// results back; the copies are O(size) beside O(N * IN * OUT) arithmetic. The kernels take f32 data
// whose inner dimension IN is a multiple of 16; every other call (f64 gradient checks, LoRA's rank-8
// inner products) returns false and stays on the JavaScript loops, which are also the reference
// these kernels are tested against.
import type { FloatArray } from '../../tensor';
import {
  allFloat32,
  f32Prefix,
  instantiateKernels,
  type KernelMemory,
  memoryView,
  placeArrays,
} from './instance';
import { wasmBase64 } from './matmul-wasm';

interface MatmulExports extends KernelMemory {
  forward(
    out: number,
    inp: number,
    w: number,
    N: number,
    IN: number,
    OUT: number,
    s: number,
    acc: number,
  ): void;
  backwardInput(dinp: number, dout: number, w: number, N: number, IN: number, OUT: number, s: number): void;
  backwardWeight(dw: number, dout: number, inp: number, N: number, IN: number, OUT: number, s: number): void;
}

const kernels = instantiateKernels<MatmulExports>(wasmBase64);

/** Whether the SIMD kernels are in use in this process. */
export const simdMatmulAvailable = kernels !== null;

/** matmulForward on the SIMD kernels; false when they do not apply (the caller then loops). */
export function simdMatmulForward(
  out: FloatArray,
  inp: FloatArray,
  weight: FloatArray,
  N: number,
  IN: number,
  OUT: number,
  scale = 1,
  accumulate = false,
): boolean {
  if (kernels === null || IN % 16 !== 0 || !allFloat32([out, inp, weight])) return false;
  const outLength = N * OUT;
  const [o, x, w] = placeArrays(kernels, [
    accumulate ? f32Prefix(out, outLength) : outLength,
    f32Prefix(inp, N * IN),
    f32Prefix(weight, OUT * IN),
  ]);
  kernels.forward(o, x, w, N, IN, OUT, scale, accumulate ? 1 : 0);
  out.set(memoryView(kernels, o, outLength));
  return true;
}

/** matmulBackward (accumulating) on the SIMD kernels; false when they do not apply. */
export function simdMatmulBackward(
  dinp: FloatArray | null,
  dweight: FloatArray | null,
  dout: FloatArray,
  inp: FloatArray,
  weight: FloatArray,
  N: number,
  IN: number,
  OUT: number,
  scale = 1,
): boolean {
  if (kernels === null || IN % 16 !== 0 || !allFloat32([dinp, dweight, dout, inp, weight])) return false;
  const [d, x, w, dx, dw] = placeArrays(kernels, [
    f32Prefix(dout, N * OUT),
    dweight === null ? 0 : f32Prefix(inp, N * IN),
    dinp === null ? 0 : f32Prefix(weight, OUT * IN),
    dinp === null ? 0 : f32Prefix(dinp, N * IN),
    dweight === null ? 0 : f32Prefix(dweight, OUT * IN),
  ]);
  if (dinp !== null) {
    kernels.backwardInput(dx, d, w, N, IN, OUT, scale);
    dinp.set(memoryView(kernels, dx, N * IN));
  }
  if (dweight !== null) {
    kernels.backwardWeight(dw, d, x, N, IN, OUT, scale);
    dweight.set(memoryView(kernels, dw, OUT * IN));
  }
  return true;
}
