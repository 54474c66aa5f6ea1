// LoRA adapter layout: trainable low-rank adapters W + (alpha/r) B A on the projections of each
// decoder layer, keyed by ORIGINAL layer index and module name.
import type { LlamaConfig } from './config';
import type { Tensor } from './tensor';

export const loraModules = [
  'q_proj',
  'k_proj',
  'v_proj',
  'o_proj',
  'gate_proj',
  'up_proj',
  'down_proj',
] as const;
export type LoraModule = (typeof loraModules)[number];

export interface LoraConfig {
  r: number; // R
  alpha: number;
  targetModules: LoraModule[];
}

export interface LoraPair {
  A: Tensor; // (R, in)   random init
  B: Tensor; // (out, R)  zero init
}

export interface LoraAdapter {
  config: LoraConfig;
  /** Original layer indices that carry adapters, ascending. */
  layers: number[];
  /** Key: loraKey(layer, module). */
  weights: Map<string, LoraPair>;
}

export function loraKey(layer: number, module: LoraModule): string {
  return `${layer}.${module}`;
}

/** The HF parent module of a projection: self_attn for q/k/v/o, mlp for gate/up/down. */
export function loraParent(module: LoraModule): 'self_attn' | 'mlp' {
  return module === 'gate_proj' || module === 'up_proj' || module === 'down_proj' ? 'mlp' : 'self_attn';
}

/** [in, out] features of a projection. */
export function loraModuleShape(config: LlamaConfig, module: LoraModule): [number, number] {
  const C = config.hiddenSize;
  const F = config.intermediateSize;
  const q = config.numAttentionHeads * config.headDim;
  const kv = config.numKeyValueHeads * config.headDim;
  switch (module) {
    case 'q_proj':
      return [C, q];
    case 'k_proj':
    case 'v_proj':
      return [C, kv];
    case 'o_proj':
      return [q, C];
    case 'gate_proj':
    case 'up_proj':
      return [C, F];
    case 'down_proj':
      return [F, C];
  }
}
