// Rotary position embedding on the GPU (kernels/rope.wgsl), in place and with the argument order of
// the CPU twins ropeForward / ropeBackward in @prufed/model. The cos and sin tables (T, HS/2) are
// computed on the CPU by the same ropeTables and uploaded once per sequence length.
// Dimension letters: B batch, T tokens, H heads (NH for q, NKV for k), HS head size.
import { InputError, ropeTables } from '@prufed/model';
import { assertCapacity, type Program } from './program';
import type { GpuRuntime } from './runtime';

const source = new URL('./kernels/rope.wgsl', import.meta.url);
const workgroupSize = 64;
/** WebGPU's guaranteed maxComputeWorkgroupsPerDimension. */
const maxWorkgroups = 65535;

function ropeProgram(entryPoint: 'rope_forward' | 'rope_backward'): Program {
  return {
    name: entryPoint,
    source,
    entryPoint,
    bindings: [
      { name: 'x', kind: 'storage' },
      { name: 'cos', kind: 'read-only-storage' },
      { name: 'sin', kind: 'read-only-storage' },
    ],
    uniforms: [
      { name: 'T', type: 'u32' },
      { name: 'H', type: 'u32' },
      { name: 'HS', type: 'u32' },
      { name: 'N', type: 'u32' },
    ],
    constants: { WG: workgroupSize },
    dispatch: ({ H, HS, N }) => [Math.ceil((H * HS) / 2 / workgroupSize), N, 1],
  };
}

const forwardProgram = ropeProgram('rope_forward');
const backwardProgram = ropeProgram('rope_backward');

/** The tables of ropeTables, uploaded into arena buffers `${name}/cos` and `${name}/sin` (T, HS/2). */
export function uploadRopeTables(
  rt: GpuRuntime,
  name: string,
  T: number,
  HS: number,
  theta: number,
): { cos: GPUBuffer; sin: GPUBuffer } {
  const cos = new Float32Array((T * HS) / 2); // (T, HS/2)
  const sin = new Float32Array((T * HS) / 2); // (T, HS/2)
  ropeTables(cos, sin, T, HS, theta);
  return { cos: rt.upload(`${name}/cos`, cos), sin: rt.upload(`${name}/sin`, sin) };
}

async function rope(
  rt: GpuRuntime,
  program: Program,
  x: GPUBuffer, // (B, T, H, HS)
  cos: GPUBuffer, // (T, HS/2)
  sin: GPUBuffer, // (T, HS/2)
  B: number,
  T: number,
  H: number,
  HS: number,
): Promise<void> {
  const call = `${program.name === 'rope_forward' ? 'ropeForward' : 'ropeBackward'} (B=${B}, T=${T}, H=${H}, HS=${HS})`;
  if (HS % 2 !== 0) throw new InputError(`${call}: the head size must be even to pair (i, i + HS/2)`);
  if (B * T > maxWorkgroups)
    throw new InputError(`${call}: at most ${maxWorkgroups} tokens (B * T) per call; split the batch`);
  assertCapacity(call, {
    x: { have: x.size / 4, need: B * T * H * HS },
    cos: { have: cos.size / 4, need: (T * HS) / 2 },
    sin: { have: sin.size / 4, need: (T * HS) / 2 },
  });
  await rt.dispatch(program, [x, cos, sin], { T, H, HS, N: B * T });
}

/** x (B, T, H, HS) in place: x * cos + rotate_half(x) * sin. */
export function ropeForward(
  rt: GpuRuntime,
  x: GPUBuffer, // (B, T, H, HS)
  cos: GPUBuffer, // (T, HS/2)
  sin: GPUBuffer, // (T, HS/2)
  B: number,
  T: number,
  H: number,
  HS: number,
): Promise<void> {
  return rope(rt, forwardProgram, x, cos, sin, B, T, H, HS);
}

/** dx (B, T, H, HS) in place: a rotation's gradient is the inverse rotation. */
export function ropeBackward(
  rt: GpuRuntime,
  dx: GPUBuffer, // (B, T, H, HS)
  cos: GPUBuffer, // (T, HS/2)
  sin: GPUBuffer, // (T, HS/2)
  B: number,
  T: number,
  H: number,
  HS: number,
): Promise<void> {
  return rope(rt, backwardProgram, dx, cos, sin, B, T, H, HS);
}
