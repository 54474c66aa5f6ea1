// Token embedding forward and backward on the GPU (kernels/embedding.wgsl), with the argument order
// of the CPU twins embeddingForward / embeddingBackward in @prufed/model. N = B * T tokens, C
// channels, V vocabulary rows. Token ids are an int32 buffer (uploadInt32) already checked to lie
// in [0, V), as the CPU twins assume.
import { elementwiseGrid } from './elementwise';
import { assertCapacity, type Program } from './program';
import type { GpuRuntime } from './runtime';

const source = new URL('./kernels/embedding.wgsl', import.meta.url);
const workgroupSize = 64;

function embeddingProgram(entryPoint: 'embedding_forward' | 'embedding_backward', names: string[]): Program {
  return {
    name: entryPoint,
    source,
    entryPoint,
    bindings: names.map((name, i) => ({ name, kind: i < 2 ? 'read-only-storage' : 'storage' })),
    uniforms: [
      { name: 'N', type: 'u32' },
      { name: 'C', type: 'u32' },
    ],
    constants: { WG: workgroupSize },
    dispatch: ({ N, C }) =>
      entryPoint === 'embedding_forward'
        ? elementwiseGrid(N * C, workgroupSize)
        : [Math.ceil(C / workgroupSize), 1, 1],
  };
}

const forwardProgram = embeddingProgram('embedding_forward', ['tokens', 'wte', 'out']);
const backwardProgram = embeddingProgram('embedding_backward', ['tokens', 'dout', 'dwte']);

/** out (N, C) = wte[tokens]. */
export async function embeddingForward(
  rt: GpuRuntime,
  out: GPUBuffer, // (N, C)
  tokens: GPUBuffer, // (N) int32
  wte: GPUBuffer, // (V, C)
  N: number,
  C: number,
): Promise<void> {
  assertCapacity(`embeddingForward (N=${N}, C=${C})`, {
    out: { have: out.size / 4, need: N * C },
    tokens: { have: tokens.size / 4, need: N },
    wte: { have: wte.size / 4, need: C },
  });
  await rt.dispatch(forwardProgram, [tokens, wte, out], { N, C });
}

/** Backward (accumulates): dwte[tokens[n]] += dout[n]. */
export async function embeddingBackward(
  rt: GpuRuntime,
  dwte: GPUBuffer, // (V, C)
  dout: GPUBuffer, // (N, C)
  tokens: GPUBuffer, // (N) int32
  N: number,
  C: number,
): Promise<void> {
  assertCapacity(`embeddingBackward (N=${N}, C=${C})`, {
    dwte: { have: dwte.size / 4, need: C },
    dout: { have: dout.size / 4, need: N * C },
    tokens: { have: tokens.size / 4, need: N },
  });
  await rt.dispatch(backwardProgram, [tokens, dout, dwte], { N, C });
}
