// Elementwise sums on the GPU (kernels/residual.wgsl): out = a + b for the residual stream, and
// acc += b for gradients that meet at a residual connection. n = B * T * C (or any length).
import { InputError } from '@prufed/model';
import { elementwiseGrid } from './elementwise';
import { assertCapacity, type Program } from './program';
import type { GpuRuntime } from './runtime';

const source = new URL('./kernels/residual.wgsl', import.meta.url);
const workgroupSize = 64;

function residualProgram(
  entryPoint: 'residual_add' | 'residual_accumulate',
  bindings: Program['bindings'],
): Program {
  return {
    name: entryPoint,
    source,
    entryPoint,
    bindings,
    uniforms: [{ name: 'n', type: 'u32' }],
    constants: { WG: workgroupSize },
    dispatch: ({ n }) => elementwiseGrid(n, workgroupSize),
  };
}

const addProgram = residualProgram('residual_add', [
  { name: 'a', kind: 'read-only-storage' },
  { name: 'b', kind: 'read-only-storage' },
  { name: 'out', kind: 'storage' },
]);
const accumulateProgram = residualProgram('residual_accumulate', [
  { name: 'acc', kind: 'storage' },
  { name: 'b', kind: 'read-only-storage' },
]);

/** out (n) = a + b; out must be a buffer other than a and b (use residualAccumulate in place). */
export async function residualAdd(
  rt: GpuRuntime,
  out: GPUBuffer, // (n)
  a: GPUBuffer, // (n)
  b: GPUBuffer, // (n)
  n: number,
): Promise<void> {
  if (out === a || out === b) {
    throw new InputError(
      'residualAdd: out must not be a or b (WebGPU cannot bind a buffer twice); use residualAccumulate',
    );
  }
  assertCapacity(`residualAdd (n=${n})`, {
    out: { have: out.size / 4, need: n },
    a: { have: a.size / 4, need: n },
    b: { have: b.size / 4, need: n },
  });
  await rt.dispatch(addProgram, [a, b, out], { n });
}

/** acc (n) += b. */
export async function residualAccumulate(
  rt: GpuRuntime,
  acc: GPUBuffer, // (n)
  b: GPUBuffer, // (n)
  n: number,
): Promise<void> {
  if (acc === b)
    throw new InputError(
      'residualAccumulate: acc and b must be different buffers (WebGPU cannot bind a buffer twice)',
    );
  assertCapacity(`residualAccumulate (n=${n})`, {
    acc: { have: acc.size / 4, need: n },
    b: { have: b.size / 4, need: n },
  });
  await rt.dispatch(accumulateProgram, [acc, b], { n });
}
