// Masked causal-LM cross-entropy on the GPU (kernels/crossentropy.wgsl), the twin of
// crossentropyForward / crossentropyBackward in @prufed/model. The forward leaves (mean loss,
// tokens) in a 2-float result buffer that the backward reads on the GPU; readLoss fetches it as the
// CPU twin's LossResult. Labels are an int32 buffer (uploadInt32) holding -100 or ids in [0, V),
// checked beforehand as for the CPU twin. The forward's log-sum-exp comes in two variants (see
// CrossentropyVariant); the one-workgroup reductions (loss sum) are too small to matter.
import { InputError, type LossResult } from '@prufed/model';
import { elementwiseGrid, maxWorkgroupsPerDimension } from './elementwise';
import { assertCapacity, type Program } from './program';
import type { GpuRuntime } from './runtime';

const source = new URL('./kernels/crossentropy.wgsl', import.meta.url);
/** One workgroup per row of V logits (forward), for the loss sum, and per 256 logits (backward). */
const workgroupSize = 256;
/** Rows per workgroup of crossentropy_forward_serial: 4 workgroups for B * T = 256 rows, one per core. */
const serialRowsPerWorkgroup = 64;

/**
 * How the forward reduces a row of V logits: 'workgroup' with a workgroup per row and a tree in
 * workgroup memory (real GPUs), 'serial' with one invocation per row (8-13x faster on SwiftShader at
 * B * T = 256, V = 2048, where workgroup barriers are expensive).
 */
export type CrossentropyVariant = 'workgroup' | 'serial';

type CrossentropyEntry =
  | 'crossentropy_forward'
  | 'crossentropy_forward_serial'
  | 'crossentropy_loss'
  | 'crossentropy_backward';

function crossentropyProgram(entryPoint: CrossentropyEntry, bindings: Program['bindings']): Program {
  const serial = entryPoint === 'crossentropy_forward_serial';
  return {
    name: entryPoint,
    source,
    entryPoint,
    bindings,
    uniforms: [
      { name: 'B', type: 'u32' },
      { name: 'T', type: 'u32' },
      { name: 'V', type: 'u32' },
    ],
    constants: { WG: serial ? serialRowsPerWorkgroup : workgroupSize },
    dispatch: ({ B, T, V }) => {
      if (entryPoint === 'crossentropy_forward') return [B * T, 1, 1];
      if (serial) return [Math.ceil((B * T) / serialRowsPerWorkgroup), 1, 1];
      if (entryPoint === 'crossentropy_loss') return [1, 1, 1];
      return elementwiseGrid(B * T * V, workgroupSize);
    },
  };
}

const forwardBindings: Program['bindings'] = [
  { name: 'labels', kind: 'read-only-storage' },
  { name: 'logits', kind: 'read-only-storage' },
  { name: 'losses', kind: 'storage' },
  { name: 'lse', kind: 'storage' },
];
const forwardPrograms: Record<CrossentropyVariant, Program> = {
  workgroup: crossentropyProgram('crossentropy_forward', forwardBindings),
  serial: crossentropyProgram('crossentropy_forward_serial', forwardBindings),
};
const lossProgram = crossentropyProgram('crossentropy_loss', [
  { name: 'labels', kind: 'read-only-storage' },
  { name: 'losses', kind: 'read-only-storage' },
  { name: 'result', kind: 'storage' },
]);
const backwardProgram = crossentropyProgram('crossentropy_backward', [
  { name: 'labels', kind: 'read-only-storage' },
  { name: 'dlogits', kind: 'storage' },
  { name: 'lse', kind: 'read-only-storage' },
  { name: 'result', kind: 'read-only-storage' },
]);

function checkRows(call: string, B: number, T: number): void {
  if (B * T > maxWorkgroupsPerDimension) {
    throw new InputError(
      `${call}: at most ${maxWorkgroupsPerDimension} rows (B * T) per call, got ${B * T}; split the batch`,
    );
  }
}

/**
 * Records the loss of logits (B, T, V) against labels (B, T): losses (B, T) per row (0 where
 * masked), lse (B, T) each row's log-sum-exp for the backward, result (2) = (mean loss, tokens).
 * The variant defaults to serial where autotuning found register blocking faster than workgroup
 * memory for matmul (the same property of the adapter decides this reduction).
 */
export async function crossentropyForward(
  rt: GpuRuntime,
  result: GPUBuffer, // (2)
  losses: GPUBuffer, // (B, T)
  lse: GPUBuffer, // (B, T)
  logits: GPUBuffer, // (B, T, V)
  labels: GPUBuffer, // (B, T) int32
  B: number,
  T: number,
  V: number,
  variant: CrossentropyVariant = rt.matmulVariant === 'tiled' ? 'workgroup' : 'serial',
): Promise<void> {
  const call = `crossentropyForward (B=${B}, T=${T}, V=${V})`;
  checkRows(call, B, T);
  assertCapacity(call, {
    result: { have: result.size / 4, need: 2 },
    losses: { have: losses.size / 4, need: B * T },
    lse: { have: lse.size / 4, need: B * T },
    logits: { have: logits.size / 4, need: B * T * V },
    labels: { have: labels.size / 4, need: B * T },
  });
  await rt.dispatch(forwardPrograms[variant], [labels, logits, losses, lse], { B, T, V });
  await rt.dispatch(lossProgram, [labels, losses, result], { B, T, V });
}

/** The CPU twin's LossResult from the forward's result buffer: NaN loss when no target is unmasked. */
export async function readLoss(rt: GpuRuntime, result: GPUBuffer): Promise<LossResult> {
  const [loss, tokens] = await rt.read(result, 2);
  return { loss: tokens === 0 ? Number.NaN : loss, tokens };
}

/**
 * dlogits (B, T, V) = (softmax(logits) - onehot(target)) / tokens on unmasked rows, 0 elsewhere,
 * written over the logits that dlogits holds on entry; lse and result come from crossentropyForward.
 */
export async function crossentropyBackward(
  rt: GpuRuntime,
  dlogits: GPUBuffer, // (B, T, V)
  labels: GPUBuffer, // (B, T) int32
  lse: GPUBuffer, // (B, T)
  result: GPUBuffer, // (2)
  B: number,
  T: number,
  V: number,
): Promise<void> {
  assertCapacity(`crossentropyBackward (B=${B}, T=${T}, V=${V})`, {
    dlogits: { have: dlogits.size / 4, need: B * T * V },
    labels: { have: labels.size / 4, need: B * T },
    lse: { have: lse.size / 4, need: B * T },
    result: { have: result.size / 4, need: 2 },
  });
  await rt.dispatch(backwardProgram, [labels, dlogits, lse, result], { B, T, V });
}
