// RMSNorm forward and backward on the GPU (kernels/rmsnorm.wgsl), with the argument order of the CPU
// twins rmsnormForward / rmsnormBackward in @prufed/model. N = B * T rows of C channels.
import { InputError } from '@prufed/model';
import { assertCapacity, type BindingKind, byAccumulate, type Program } from './program';
import type { GpuRuntime } from './runtime';

const source = new URL('./kernels/rmsnorm.wgsl', import.meta.url);
/** Invocations per workgroup: one invocation per row, or per column for dweight. */
const workgroupSize = 64;
/** WebGPU's guaranteed maxComputeWorkgroupsPerDimension. */
const maxWorkgroups = 65535;

type RmsnormEntry = 'rmsnorm_forward' | 'rmsnorm_backward' | 'rmsnorm_backward_weight';

function rmsnormProgram(
  entryPoint: RmsnormEntry,
  bindings: [string, BindingKind][],
  constants: Record<string, number | boolean> = {},
): Program {
  return {
    name: entryPoint,
    source,
    entryPoint,
    bindings: bindings.map(([name, kind]) => ({ name, kind })),
    uniforms: [
      { name: 'N', type: 'u32' },
      { name: 'C', type: 'u32' },
      { name: 'eps', type: 'f32' },
    ],
    constants: { WG: workgroupSize, ...constants },
    dispatch: ({ N, C }) => [
      Math.ceil((entryPoint === 'rmsnorm_backward_weight' ? C : N) / workgroupSize),
      1,
      1,
    ],
  };
}

const forwardProgram = rmsnormProgram('rmsnorm_forward', [
  ['inp', 'read-only-storage'],
  ['weight', 'read-only-storage'],
  ['out', 'storage'],
  ['rstd', 'storage'],
]);
const backwardInputs: [string, BindingKind][] = [
  ['inp', 'read-only-storage'],
  ['weight', 'read-only-storage'],
  ['dout', 'read-only-storage'],
  ['rstd', 'read-only-storage'],
];
const backwardProgram = rmsnormProgram('rmsnorm_backward', [...backwardInputs, ['dinp', 'storage']]);
/** The weight gradient adding into dweight (true) or writing it (false). */
const backwardWeightProgram = byAccumulate((accumulate) =>
  rmsnormProgram('rmsnorm_backward_weight', [...backwardInputs, ['dweight', 'storage']], {
    ACCUMULATE: accumulate,
  }),
);

function checkRows(call: string, N: number): void {
  if (Math.ceil(N / workgroupSize) > maxWorkgroups)
    throw new InputError(
      `${call}: at most ${maxWorkgroups * workgroupSize} rows (B * T) per call, got ${N}; split the batch`,
    );
}

/** out (N, C), rstd (N) = 1 / sqrt(mean(inp^2) + eps) kept for the backward pass. */
export async function rmsnormForward(
  rt: GpuRuntime,
  out: GPUBuffer, // (N, C)
  rstd: GPUBuffer, // (N)
  inp: GPUBuffer, // (N, C)
  weight: GPUBuffer, // (C)
  N: number,
  C: number,
  eps: number,
): Promise<void> {
  const call = `rmsnormForward (N=${N}, C=${C})`;
  checkRows(call, N);
  assertCapacity(call, {
    out: { have: out.size / 4, need: N * C },
    rstd: { have: rstd.size / 4, need: N },
    inp: { have: inp.size / 4, need: N * C },
    weight: { have: weight.size / 4, need: C },
  });
  await rt.dispatch(forwardProgram, [inp, weight, out, rstd], { N, C, eps });
}

/**
 * Backward (accumulates): dinp (N, C) += ..., dweight (C) += ... unless null (frozen weight); with
 * accumulateWeight false, dweight = ... (its only contribution, which spares zeroing it first).
 */
export async function rmsnormBackward(
  rt: GpuRuntime,
  dinp: GPUBuffer, // (N, C)
  dweight: GPUBuffer | null, // (C)
  dout: GPUBuffer, // (N, C)
  inp: GPUBuffer, // (N, C)
  weight: GPUBuffer, // (C)
  rstd: GPUBuffer, // (N)
  N: number,
  C: number,
  accumulateWeight = true,
): Promise<void> {
  const call = `rmsnormBackward (N=${N}, C=${C})`;
  checkRows(call, N);
  assertCapacity(call, {
    dinp: { have: dinp.size / 4, need: N * C },
    dweight: { have: dweight === null ? C : dweight.size / 4, need: C },
    dout: { have: dout.size / 4, need: N * C },
    inp: { have: inp.size / 4, need: N * C },
    weight: { have: weight.size / 4, need: C },
    rstd: { have: rstd.size / 4, need: N },
  });
  const inputs = [inp, weight, dout, rstd];
  await rt.dispatch(backwardProgram, [...inputs, dinp], { N, C, eps: 0 });
  if (dweight === null) return;
  await rt.dispatch(backwardWeightProgram(accumulateWeight), [...inputs, dweight], { N, C, eps: 0 });
}
