// SwiGLU forward and backward on the GPU (kernels/swiglu.wgsl), with the argument order of the CPU
// twins swigluForward / swigluBackward in @prufed/model. n = N * F elements.
import { elementwiseGrid } from './elementwise';
import { assertCapacity, byAccumulate, type Program } from './program';
import type { GpuRuntime } from './runtime';

const source = new URL('./kernels/swiglu.wgsl', import.meta.url);
const workgroupSize = 64;

function swigluProgram(
  entryPoint: 'swiglu_forward' | 'swiglu_backward',
  inputs: string[],
  outputs: string[],
  constants: Record<string, number | boolean> = {},
): Program {
  return {
    name: entryPoint,
    source,
    entryPoint,
    bindings: [
      ...inputs.map((name) => ({ name, kind: 'read-only-storage' as const })),
      ...outputs.map((name) => ({ name, kind: 'storage' as const })),
    ],
    uniforms: [{ name: 'n', type: 'u32' }],
    constants: { WG: workgroupSize, ...constants },
    dispatch: ({ n }) => elementwiseGrid(n, workgroupSize),
  };
}

const forwardProgram = swigluProgram('swiglu_forward', ['gate', 'up'], ['out']);
/** The backward adding into dgate and dup (true) or writing them (false). */
const backwardProgram = byAccumulate((accumulate) =>
  swigluProgram('swiglu_backward', ['gate', 'up', 'dout'], ['dgate', 'dup'], { ACCUMULATE: accumulate }),
);

/** out (N, F) = silu(gate) * up. */
export async function swigluForward(
  rt: GpuRuntime,
  out: GPUBuffer, // (N, F)
  gate: GPUBuffer, // (N, F)
  up: GPUBuffer, // (N, F)
  n: number,
): Promise<void> {
  const need = { need: n };
  assertCapacity(`swigluForward (n=${n})`, {
    out: { have: out.size / 4, ...need },
    gate: { have: gate.size / 4, ...need },
    up: { have: up.size / 4, ...need },
  });
  await rt.dispatch(forwardProgram, [gate, up, out], { n });
}

/**
 * Backward: dgate += dout * up * silu'(gate), dup += dout * silu(gate); with accumulate false it
 * writes them (=) instead.
 */
export async function swigluBackward(
  rt: GpuRuntime,
  dgate: GPUBuffer, // (N, F)
  dup: GPUBuffer, // (N, F)
  dout: GPUBuffer, // (N, F)
  gate: GPUBuffer, // (N, F)
  up: GPUBuffer, // (N, F)
  n: number,
  accumulate = true,
): Promise<void> {
  const need = { need: n };
  assertCapacity(`swigluBackward (n=${n})`, {
    dgate: { have: dgate.size / 4, ...need },
    dup: { have: dup.size / 4, ...need },
    dout: { have: dout.size / 4, ...need },
    gate: { have: gate.size / 4, ...need },
    up: { have: up.size / 4, ...need },
  });
  await rt.dispatch(backwardProgram(accumulate), [gate, up, dout, dgate, dup], { n });
}
