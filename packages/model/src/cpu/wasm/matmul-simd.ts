// The WebAssembly SIMD linear-layer kernels (matmul.wat) behind the CPU engine's matmulForward and
// matmulBackward. Each call copies its operands into the module's memory, runs, and copies the
// results back; the copies are O(size) beside O(N * IN * OUT) arithmetic. The kernels take f32 data
// whose inner dimension IN is a multiple of 16; every other call (f64 gradient checks, LoRA's rank-8
// inner products) returns false and stays on the JavaScript loops, which are also the reference
// these kernels are tested against. Set PRUFED_CPU_SIMD=0 to turn them off.
import type { FloatArray } from '../../tensor';
import { wasmBase64 } from './matmul-wasm';

interface MatmulExports {
  memory: WebAssembly.Memory;
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

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function disabledByEnvironment(): boolean {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return env?.PRUFED_CPU_SIMD === '0';
}

/** The instantiated kernels, or null where WebAssembly SIMD is missing or turned off. */
function instantiate(): MatmulExports | null {
  if (disabledByEnvironment() || typeof WebAssembly === 'undefined') return null;
  try {
    const module = new WebAssembly.Module(decodeBase64(wasmBase64));
    return new WebAssembly.Instance(module).exports as unknown as MatmulExports;
  } catch {
    return null; // no SIMD support: the JavaScript loops run instead
  }
}

const kernels = instantiate();

/** Whether the SIMD kernels are in use in this process. */
export const simdMatmulAvailable = kernels !== null;

/**
 * Places f32 arrays one after another (16-byte aligned) in the module's memory, growing it when
 * needed; returns their byte offsets.
 */
function place(exports: MatmulExports, arrays: (Float32Array | number)[]): number[] {
  const offsets: number[] = [];
  let end = 0;
  for (const a of arrays) {
    offsets.push(end);
    const length = typeof a === 'number' ? a : a.length;
    end += Math.ceil((length * 4) / 16) * 16;
  }
  const page = 65536;
  const have = exports.memory.buffer.byteLength;
  if (end > have) exports.memory.grow(Math.ceil((end - have) / page));
  const heap = new Float32Array(exports.memory.buffer);
  arrays.forEach((a, k) => {
    if (typeof a !== 'number') heap.set(a, offsets[k] / 4);
  });
  return offsets;
}

function view(exports: MatmulExports, offset: number, length: number): Float32Array {
  return new Float32Array(exports.memory.buffer, offset, length);
}

const eligible = (IN: number, arrays: (FloatArray | null)[]): boolean =>
  IN % 16 === 0 && arrays.every((a) => a === null || a instanceof Float32Array);

/** matmulForward on the SIMD kernels; false when they do not apply (the caller then loops). */
export function simdMatmulForward(
  out: FloatArray,
  inp: FloatArray,
  weight: FloatArray,
  N: number,
  IN: number,
  OUT: number,
  scale: number,
  accumulate: boolean,
): boolean {
  if (kernels === null || !eligible(IN, [out, inp, weight])) return false;
  const outLength = N * OUT;
  const outInit = accumulate ? (out as Float32Array).subarray(0, outLength) : outLength;
  const [o, x, w] = place(kernels, [
    outInit,
    (inp as Float32Array).subarray(0, N * IN),
    (weight as Float32Array).subarray(0, OUT * IN),
  ]);
  kernels.forward(o, x, w, N, IN, OUT, scale, accumulate ? 1 : 0);
  out.set(view(kernels, o, outLength));
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
  scale: number,
): boolean {
  if (kernels === null || !eligible(IN, [dinp, dweight, dout, inp, weight])) return false;
  const f32 = (a: FloatArray | null, length: number) => (a as Float32Array).subarray(0, length);
  const [d, x, w, dx, dw] = place(kernels, [
    f32(dout, N * OUT),
    dweight === null ? 0 : f32(inp, N * IN),
    dinp === null ? 0 : f32(weight, OUT * IN),
    dinp === null ? 0 : f32(dinp, N * IN),
    dweight === null ? 0 : f32(dweight, OUT * IN),
  ]);
  if (dinp !== null) {
    kernels.backwardInput(dx, d, w, N, IN, OUT, scale);
    dinp.set(view(kernels, dx, N * IN));
  }
  if (dweight !== null) {
    kernels.backwardWeight(dw, d, x, N, IN, OUT, scale);
    dweight.set(view(kernels, dw, OUT * IN));
  }
  return true;
}
