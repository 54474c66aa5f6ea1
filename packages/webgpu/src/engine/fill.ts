// Zeroing a GPU buffer inside the current compute pass (engine/kernels/fill.wgsl): the twin of
// Float32Array.fill(0) in packages/model/src/cpu/model.ts, which zeroes gradients and backward
// scratch before kernels accumulate into them.
import { elementwiseGrid } from '../elementwise';
import type { Program } from '../program';
import type { GpuRuntime } from '../runtime';

const workgroupSize = 64;

const fillZeroProgram: Program = {
  name: 'fill_zero',
  source: new URL('./kernels/fill.wgsl', import.meta.url),
  entryPoint: 'fill_zero',
  bindings: [{ name: 'out', kind: 'storage' }],
  uniforms: [{ name: 'n', type: 'u32' }],
  constants: { WG: workgroupSize },
  dispatch: ({ n }) => elementwiseGrid(n, workgroupSize),
};

/** buffer = 0 over its whole size. */
export async function fillZero(rt: GpuRuntime, buffer: GPUBuffer): Promise<void> {
  await rt.dispatch(fillZeroProgram, [buffer], { n: buffer.size / 4 });
}
