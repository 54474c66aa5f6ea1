// Shared plumbing of the CPU engine's WebAssembly kernels: synchronous instantiation from the
// shipped base64 binaries, and placing f32 operands in a module's memory. Set PRUFED_CPU_SIMD=0 to
// run the JavaScript loops instead of every kernel.
import type { FloatArray } from '../../tensor';

export interface KernelMemory {
  memory: WebAssembly.Memory;
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

/** The module's exports, or null where WebAssembly SIMD is missing or turned off. */
export function instantiateKernels<T extends KernelMemory>(base64: string): T | null {
  if (disabledByEnvironment() || typeof WebAssembly === 'undefined') return null;
  try {
    const module = new WebAssembly.Module(decodeBase64(base64));
    return new WebAssembly.Instance(module).exports as unknown as T;
  } catch {
    return null; // no SIMD support: the JavaScript loops run instead
  }
}

/**
 * Places f32 arrays (or zeroed-on-demand regions of the given length) one after another, 16-byte
 * aligned, in the module's memory, growing it when needed; returns their byte offsets.
 */
export function placeArrays(kernels: KernelMemory, arrays: (Float32Array | number)[]): number[] {
  const offsets: number[] = [];
  let end = 0;
  for (const a of arrays) {
    offsets.push(end);
    const length = typeof a === 'number' ? a : a.length;
    end += Math.ceil((length * 4) / 16) * 16;
  }
  const page = 65536;
  const have = kernels.memory.buffer.byteLength;
  if (end > have) kernels.memory.grow(Math.ceil((end - have) / page));
  const heap = new Float32Array(kernels.memory.buffer);
  arrays.forEach((a, k) => {
    if (typeof a !== 'number') heap.set(a, offsets[k] / 4);
  });
  return offsets;
}

/** Whether every array (null: an absent operand) holds f32, the only precision the kernels take. */
export function allFloat32(arrays: readonly (FloatArray | null)[]): boolean {
  return arrays.every((a) => a === null || a instanceof Float32Array);
}

/** The first `length` values of an f32 array (callers check allFloat32 first). */
export function f32Prefix(a: FloatArray | null, length: number): Float32Array {
  return (a as Float32Array).subarray(0, length);
}

/** A live f32 view of the module's memory (valid until the memory grows). */
export function memoryView(kernels: KernelMemory, offset: number, length: number): Float32Array {
  return new Float32Array(kernels.memory.buffer, offset, length);
}
