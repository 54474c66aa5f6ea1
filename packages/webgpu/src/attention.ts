// Causal grouped-query attention on the GPU (kernels/attention.wgsl), with the layouts and argument
// order of the CPU twins attentionForward / attentionBackward in @prufed/model.
// Dimension letters: B batch, T tokens, NH query heads, NKV kv heads, HS head size.
import { InputError } from '@prufed/model';
import { assertCapacity, type BindingKind, byAccumulate, type Program } from './program';
import type { GpuRuntime } from './runtime';

const source = new URL('./kernels/attention.wgsl', import.meta.url);
const workgroupSize = 64;
/** The kernels keep rows of HS floats in registers as vec4s: MAX_HS4 in the WGSL. */
const maxHeadSize = 128;
/** WebGPU's guaranteed maxComputeWorkgroupsPerDimension. */
const maxWorkgroups = 65535;

type AttentionEntry = 'attention_forward' | 'attention_backward_dq' | 'attention_backward_dkv';

function attentionProgram(
  entryPoint: AttentionEntry,
  bindings: [string, BindingKind][],
  accumulate = true,
): Program {
  // The dq and forward kernels run one invocation per query row, dkv one per key row.
  const heads = entryPoint === 'attention_backward_dkv' ? 'NKV' : 'NH';
  return {
    name: entryPoint,
    source,
    entryPoint,
    bindings: [
      { name: 'q', kind: 'read-only-storage' },
      { name: 'k', kind: 'read-only-storage' },
      { name: 'v', kind: 'read-only-storage' },
      ...bindings.map(([name, kind]) => ({ name, kind })),
    ],
    uniforms: [
      { name: 'B', type: 'u32' },
      { name: 'T', type: 'u32' },
      { name: 'NH', type: 'u32' },
      { name: 'NKV', type: 'u32' },
      { name: 'HS', type: 'u32' },
      { name: 'scale', type: 'f32' },
    ],
    constants:
      entryPoint === 'attention_forward'
        ? { WG: workgroupSize }
        : { WG: workgroupSize, ACCUMULATE: accumulate },
    dispatch: (u) => [Math.ceil(u.T / workgroupSize), u[heads], u.B],
  };
}

const forwardProgram = attentionProgram('attention_forward', [
  ['out', 'storage'],
  ['lse', 'storage'],
]);
const backwardDqBindings: [string, BindingKind][] = [
  ['dout', 'read-only-storage'],
  ['lse', 'read-only-storage'],
  ['out', 'read-only-storage'],
  ['dq', 'storage'],
  ['rowdot', 'storage'],
];
const backwardDkvBindings: [string, BindingKind][] = [
  ['dout', 'read-only-storage'],
  ['lse', 'read-only-storage'],
  ['rowdot', 'read-only-storage'],
  ['dk', 'storage'],
  ['dv', 'storage'],
];
/** The backward's two kernels, adding into dq, dk, dv (true) or writing them (false). */
const backwardPrograms = byAccumulate((accumulate) => ({
  dq: attentionProgram('attention_backward_dq', backwardDqBindings, accumulate),
  dkv: attentionProgram('attention_backward_dkv', backwardDkvBindings, accumulate),
}));

/** Checks the head layout and returns the uniforms of a call. */
function attentionUniforms(
  call: string,
  B: number,
  T: number,
  NH: number,
  NKV: number,
  HS: number,
): Record<string, number> {
  if (NKV < 1 || NH % NKV !== 0)
    throw new InputError(`${call}: NH must be a multiple of NKV (grouped-query attention); check the config`);
  if (HS % 4 !== 0 || HS > maxHeadSize)
    throw new InputError(
      `${call}: the WebGPU attention kernels need a head size that is a multiple of 4 and at most ${maxHeadSize}; use the CPU engine for this model`,
    );
  if (B > maxWorkgroups || NH > maxWorkgroups || Math.ceil(T / workgroupSize) > maxWorkgroups)
    throw new InputError(`${call}: B, NH and T / ${workgroupSize} must each be at most ${maxWorkgroups}`);
  return { B, T, NH, NKV, HS, scale: 1 / Math.sqrt(HS) };
}

/**
 * out (B, T, NH, HS) = softmax(q k^T / sqrt(HS), causal) v; lse (B, NH, T) the log-sum-exp of each
 * score row. q (B, T, NH, HS), k and v (B, T, NKV, HS).
 */
export async function attentionForward(
  rt: GpuRuntime,
  out: GPUBuffer, // (B, T, NH, HS)
  lse: GPUBuffer, // (B, NH, T)
  q: GPUBuffer, // (B, T, NH, HS)
  k: GPUBuffer, // (B, T, NKV, HS)
  v: GPUBuffer, // (B, T, NKV, HS)
  B: number,
  T: number,
  NH: number,
  NKV: number,
  HS: number,
): Promise<void> {
  const call = `attentionForward (B=${B}, T=${T}, NH=${NH}, NKV=${NKV}, HS=${HS})`;
  const uniforms = attentionUniforms(call, B, T, NH, NKV, HS);
  assertCapacity(call, {
    out: { have: out.size / 4, need: B * T * NH * HS },
    lse: { have: lse.size / 4, need: B * NH * T },
    q: { have: q.size / 4, need: B * T * NH * HS },
    k: { have: k.size / 4, need: B * T * NKV * HS },
    v: { have: v.size / 4, need: B * T * NKV * HS },
  });
  await rt.dispatch(forwardProgram, [q, k, v, out, lse], uniforms);
}

/**
 * Backward (accumulates into dq (B, T, NH, HS), dk and dv (B, T, NKV, HS), or with accumulate false
 * writes them) from the forward's out and lse. rowdot (B, NH, T) is scratch: it receives
 * sum(dout * out) per query row, which the CPU twin computes as sum(p * dp) in its own scratch.
 */
export async function attentionBackward(
  rt: GpuRuntime,
  dq: GPUBuffer, // (B, T, NH, HS)
  dk: GPUBuffer, // (B, T, NKV, HS)
  dv: GPUBuffer, // (B, T, NKV, HS)
  dout: GPUBuffer, // (B, T, NH, HS)
  q: GPUBuffer, // (B, T, NH, HS)
  k: GPUBuffer, // (B, T, NKV, HS)
  v: GPUBuffer, // (B, T, NKV, HS)
  out: GPUBuffer, // (B, T, NH, HS)
  lse: GPUBuffer, // (B, NH, T)
  rowdot: GPUBuffer, // (B, NH, T)
  B: number,
  T: number,
  NH: number,
  NKV: number,
  HS: number,
  accumulate = true,
): Promise<void> {
  const call = `attentionBackward (B=${B}, T=${T}, NH=${NH}, NKV=${NKV}, HS=${HS})`;
  const uniforms = attentionUniforms(call, B, T, NH, NKV, HS);
  const queryFloats = B * T * NH * HS;
  const kvFloats = B * T * NKV * HS;
  assertCapacity(call, {
    dq: { have: dq.size / 4, need: queryFloats },
    dk: { have: dk.size / 4, need: kvFloats },
    dv: { have: dv.size / 4, need: kvFloats },
    dout: { have: dout.size / 4, need: queryFloats },
    q: { have: q.size / 4, need: queryFloats },
    k: { have: k.size / 4, need: kvFloats },
    v: { have: v.size / 4, need: kvFloats },
    out: { have: out.size / 4, need: queryFloats },
    lse: { have: lse.size / 4, need: B * NH * T },
    rowdot: { have: rowdot.size / 4, need: B * NH * T },
  });
  const programs = backwardPrograms(accumulate);
  await rt.dispatch(programs.dq, [q, k, v, dout, lse, out, dq, rowdot], uniforms);
  await rt.dispatch(programs.dkv, [q, k, v, dout, lse, rowdot, dk, dv], uniforms);
}
