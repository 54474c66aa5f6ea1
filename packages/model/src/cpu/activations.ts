// The activations a training step keeps (what forward saves for backward, and the gradient scratch
// shared by all layers), one table for both engines: the CPU engine allocates typed arrays, the
// WebGPU engine arena buffers, each through its own alloc. Each engine adds what only its kernels use.
// Dimension letters: B batch, T tokens, N = B * T rows, C hidden, NH heads, NKV kv-heads, HS head
// size, F ffn, V vocab, R LoRA rank, K kept layers.
import type { LlamaConfig } from '../config';
import type { LoraModule } from '../lora';

export interface LayerActivations<Buf> {
  ln1: Buf; // (N, C)
  ln1Rstd: Buf; // (N)
  q: Buf; // (B, T, NH, HS) after RoPE
  k: Buf; // (B, T, NKV, HS) after RoPE
  v: Buf; // (B, T, NKV, HS)
  lse: Buf; // (B, NH, T)
  attOut: Buf; // (B, T, NH, HS)
  ln2: Buf; // (N, C)
  ln2Rstd: Buf; // (N)
  gate: Buf; // (N, F)
  up: Buf; // (N, F)
  h: Buf; // (N, F) silu(gate) * up
  loraU: Partial<Record<LoraModule, Buf>>; // (N, R) each
}

export interface StepActivations<Buf> {
  residual: Buf[]; // K + 1 of (N, C): entering each kept layer, then the last output
  residualMid: Buf[]; // K of (N, C): after each layer's attention block
  layers: LayerActivations<Buf>[]; // K
  lnf: Buf; // (N, C)
  lnfRstd: Buf; // (N)
  logits: Buf; // (N, V); holds dlogits after backward
  // scratch shared by all layers
  proj: Buf; // (N, C) output of o_proj / down_proj before the residual add
  dres: Buf; // (N, C)
  dln: Buf; // (N, C)
  dq: Buf; // (B, T, NH, HS)
  dk: Buf; // (B, T, NKV, HS)
  dv: Buf; // (B, T, NKV, HS)
  dattOut: Buf; // (B, T, NH, HS)
  dgate: Buf; // (N, F)
  dup: Buf; // (N, F)
  dh: Buf; // (N, F)
  dloraU: Buf | null; // (N, R); null without an adapter (R = 0)
}

/**
 * Allocates a step's activations for a (B, T) batch: loraModules[k] lists the adapted modules of
 * kept layer k, of rank R. alloc(name, floats) makes one tensor; names are unique within a step
 * ('residual/0', '1/ln1', '1/loraU/q_proj', 'dq').
 */
export function stepActivations<Buf>(
  config: LlamaConfig,
  B: number,
  T: number,
  loraModules: readonly (readonly LoraModule[])[],
  R: number,
  alloc: (name: string, floats: number) => Buf,
): StepActivations<Buf> {
  const {
    hiddenSize: C,
    intermediateSize: F,
    numAttentionHeads: NH,
    numKeyValueHeads: NKV,
    headDim: HS,
    vocabSize: V,
  } = config;
  const N = B * T;
  return {
    residual: Array.from({ length: loraModules.length + 1 }, (_, k) => alloc(`residual/${k}`, N * C)),
    residualMid: loraModules.map((_, k) => alloc(`residualMid/${k}`, N * C)),
    layers: loraModules.map((modules, k) => ({
      ln1: alloc(`${k}/ln1`, N * C),
      ln1Rstd: alloc(`${k}/ln1Rstd`, N),
      q: alloc(`${k}/q`, N * NH * HS),
      k: alloc(`${k}/k`, N * NKV * HS),
      v: alloc(`${k}/v`, N * NKV * HS),
      lse: alloc(`${k}/lse`, B * NH * T),
      attOut: alloc(`${k}/attOut`, N * NH * HS),
      ln2: alloc(`${k}/ln2`, N * C),
      ln2Rstd: alloc(`${k}/ln2Rstd`, N),
      gate: alloc(`${k}/gate`, N * F),
      up: alloc(`${k}/up`, N * F),
      h: alloc(`${k}/h`, N * F),
      loraU: Object.fromEntries(modules.map((m) => [m, alloc(`${k}/loraU/${m}`, N * R)])),
    })),
    lnf: alloc('lnf', N * C),
    lnfRstd: alloc('lnfRstd', N),
    logits: alloc('logits', N * V),
    proj: alloc('proj', N * C),
    dres: alloc('dres', N * C),
    dln: alloc('dln', N * C),
    dq: alloc('dq', N * NH * HS),
    dk: alloc('dk', N * NKV * HS),
    dv: alloc('dv', N * NKV * HS),
    dattOut: alloc('dattOut', N * NH * HS),
    dgate: alloc('dgate', N * F),
    dup: alloc('dup', N * F),
    dh: alloc('dh', N * F),
    dloraU: R > 0 ? alloc('dloraU', N * R) : null,
  };
}
