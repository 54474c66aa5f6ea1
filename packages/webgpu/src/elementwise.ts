// Shared by the kernels that run one invocation per element (swiglu, residual, crossentropy
// backward, adamw): the dispatch grid for n elements, which folds into a second dimension past
// WebGPU's 65535 workgroups per dimension, and the upload of int32 data (token ids, labels).
// In WGSL the flat index is `gid.x + gid.y * nwg.x * WG` with gid the global invocation id and
// nwg the num_workgroups builtin.
import type { GpuRuntime } from './runtime';

/** WebGPU's guaranteed maxComputeWorkgroupsPerDimension. */
export const maxWorkgroupsPerDimension = 65535;

/** Workgroups covering n elements at workgroupSize per workgroup; some invocations of the last one idle. */
export function elementwiseGrid(n: number, workgroupSize: number): [number, number, number] {
  const groups = Math.max(1, Math.ceil(n / workgroupSize));
  const x = Math.min(groups, maxWorkgroupsPerDimension);
  return [x, Math.ceil(groups / x), 1];
}

/** Writes int32 values bit for bit into the arena buffer called name (for WGSL array<i32>). */
export function uploadInt32(rt: GpuRuntime, name: string, data: Int32Array): GPUBuffer {
  return rt.upload(name, new Float32Array(data.buffer, data.byteOffset, data.length));
}
