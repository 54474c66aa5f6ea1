// The fused LoRA linear on the GPU, y = x W^T + scale (x A^T) B^T with scale = alpha / r, and its
// backward, with the argument order of the CPU twins loraLinearForward / loraLinearBackward in
// @prufed/model. Built from matmul programs; the scale alpha / r enters as the matmul's alpha on
// the products out of rank space, so the layer needs no kernel of its own.
// Dimension letters: N rows (B * T), IN and OUT the projection's sizes, R the LoRA rank.
import { InputError } from '@prufed/model';
import { matmul } from './matmul';
import { assertCapacity } from './program';
import type { GpuBinding, GpuRuntime } from './runtime';

/** A LoRA pair on one projection: A (R, IN), B (OUT, R), with their gradients when trained. */
export interface GpuLoraLinearWeights {
  A: GpuBinding; // (R, IN)
  B: GpuBinding; // (OUT, R)
  dA: GpuBinding | null; // (R, IN)
  dB: GpuBinding | null; // (OUT, R)
  R: number;
  scale: number; // alpha / r
}

/** WebGPU's guaranteed maxComputeWorkgroupsPerDimension, in the matmul's 8-row blocks. */
const maxRows = 65535 * 8;

/** Checks the rank and every buffer of a call; rankBuffers are the (N, R) ones LoRA needs. */
function checkCall(
  call: string,
  lora: GpuLoraLinearWeights | null,
  rankBuffers: Record<string, GPUBuffer | null>,
  sizes: Record<string, { have: number; need: number }>,
  N: number,
  IN: number,
  OUT: number,
): void {
  if (lora === null) {
    assertCapacity(call, sizes);
    return;
  }
  const R = lora.R;
  if (!Number.isInteger(R) || R < 1)
    throw new InputError(`${call}: the LoRA rank must be a positive integer, got ${R}`);
  if (N > maxRows) throw new InputError(`${call}: N must be at most ${maxRows}; split the batch`);
  const rankSizes: Record<string, { have: number; need: number }> = {};
  for (const [name, buffer] of Object.entries(rankBuffers)) {
    if (buffer === null) throw new InputError(`${call}: ${name} (N, R) is needed when the layer has LoRA`);
    rankSizes[name] = { have: buffer.size / 4, need: N * R };
  }
  assertCapacity(call, {
    ...sizes,
    ...rankSizes,
    A: { have: lora.A.size / 4, need: R * IN },
    B: { have: lora.B.size / 4, need: OUT * R },
    dA: { have: lora.dA === null ? R * IN : lora.dA.size / 4, need: R * IN },
    dB: { have: lora.dB === null ? OUT * R : lora.dB.size / 4, need: OUT * R },
  });
}

/**
 * out (N, OUT) = inp (N, IN) @ weight^T + scale * (inp @ A^T) @ B^T. loraU (N, R) keeps inp @ A^T
 * for the backward pass. lora null means a plain linear layer.
 */
export async function loraLinearForward(
  rt: GpuRuntime,
  out: GPUBuffer, // (N, OUT)
  loraU: GPUBuffer | null, // (N, R)
  inp: GPUBuffer, // (N, IN)
  weight: GPUBuffer, // (OUT, IN)
  lora: GpuLoraLinearWeights | null,
  N: number,
  IN: number,
  OUT: number,
): Promise<void> {
  checkCall(
    `loraLinearForward (N=${N}, IN=${IN}, OUT=${OUT}, R=${lora?.R ?? 0})`,
    lora,
    { loraU },
    {
      out: { have: out.size / 4, need: N * OUT },
      inp: { have: inp.size / 4, need: N * IN },
      weight: { have: weight.size / 4, need: OUT * IN },
    },
    N,
    IN,
    OUT,
  );
  await matmul(rt, out, inp, weight, N, OUT, IN, { transB: true });
  if (lora === null || loraU === null) return;
  const R = lora.R;
  await matmul(rt, loraU, inp, lora.A, N, R, IN, { transB: true });
  await matmul(rt, out, loraU, lora.B, N, OUT, R, { transB: true, accumulate: true, alpha: lora.scale });
}

/** Which gradients loraLinearBackward writes afresh (their old contents ignored) instead of adding to. */
export interface LoraBackwardFresh {
  /** dinp: its first contribution is this call's. */
  dinp?: boolean;
  /** dweight, lora.dA and lora.dB: this call is their only contribution. */
  weights?: boolean;
}

/**
 * Backward of loraLinearForward (accumulates into dinp, dweight, lora.dA, lora.dB, or writes those
 * that `fresh` names, which saves zeroing them first; null skips a gradient). dloraU (N, R) receives
 * d(inp @ A^T).
 */
export async function loraLinearBackward(
  rt: GpuRuntime,
  dinp: GPUBuffer | null, // (N, IN)
  dweight: GPUBuffer | null, // (OUT, IN)
  dloraU: GPUBuffer | null, // (N, R)
  dout: GPUBuffer, // (N, OUT)
  loraU: GPUBuffer | null, // (N, R)
  inp: GPUBuffer, // (N, IN)
  weight: GPUBuffer, // (OUT, IN)
  lora: GpuLoraLinearWeights | null,
  N: number,
  IN: number,
  OUT: number,
  fresh: LoraBackwardFresh = {},
): Promise<void> {
  checkCall(
    `loraLinearBackward (N=${N}, IN=${IN}, OUT=${OUT}, R=${lora?.R ?? 0})`,
    lora,
    { dloraU, loraU },
    {
      dinp: { have: dinp === null ? N * IN : dinp.size / 4, need: N * IN },
      dweight: { have: dweight === null ? OUT * IN : dweight.size / 4, need: OUT * IN },
      dout: { have: dout.size / 4, need: N * OUT },
      inp: { have: inp.size / 4, need: N * IN },
      weight: { have: weight.size / 4, need: OUT * IN },
    },
    N,
    IN,
    OUT,
  );
  const addToWeights = !fresh.weights;
  if (dinp !== null) await matmul(rt, dinp, dout, weight, N, IN, OUT, { accumulate: !fresh.dinp });
  if (dweight !== null)
    await matmul(rt, dweight, dout, inp, OUT, IN, N, { transA: true, accumulate: addToWeights });
  if (lora === null || loraU === null || dloraU === null) return;
  const { R, scale } = lora;
  if (lora.dB !== null)
    await matmul(rt, lora.dB, dout, loraU, OUT, R, N, {
      transA: true,
      accumulate: addToWeights,
      alpha: scale,
    });
  if (lora.dA === null && dinp === null) return;
  await matmul(rt, dloraU, dout, lora.B, N, R, OUT, { alpha: scale });
  if (lora.dA !== null)
    await matmul(rt, lora.dA, dloraU, inp, R, IN, N, { transA: true, accumulate: addToWeights });
  if (dinp !== null) await matmul(rt, dinp, dloraU, lora.A, N, IN, R, { accumulate: true });
}
