// The CPU engine's flat parameter buffer: consecutive tensors (in llamaTensorSpecs order) and the
// table of their offsets; and the base tensors by role, for both engines (CPU views, GPU buffers).
import type { LlamaConfig } from '../config';
import {
  embedTokensName,
  finalNormName,
  inputNormName,
  lmHeadName,
  postAttentionNormName,
  projectionName,
  type TensorSpec,
} from '../hf-names';
import { type LoraModule, loraModules } from '../lora';
import { numel } from '../tensor';

export interface ParamEntry extends TensorSpec {
  offset: number;
  size: number;
}

/** Offsets of consecutive tensors in one flat buffer; returns the table and the total length. */
export function paramTable(specs: readonly TensorSpec[]): { entries: ParamEntry[]; total: number } {
  let offset = 0;
  const entries = specs.map((spec) => {
    const size = numel(spec.shape);
    const entry = { ...spec, offset, size };
    offset += size;
    return entry;
  });
  return { entries, total: offset };
}

/** One decoder layer's weights (or their gradients) as views Buf: CPU subarrays or GPU buffers. */
export interface LayerParams<Buf> {
  inputNorm: Buf; // (C)
  postNorm: Buf; // (C)
  proj: Record<LoraModule, Buf>; // (OUT, IN) each
}

/** The base model's weights (or gradients) as views Buf, by role. */
export interface ModelParams<Buf> {
  embed: Buf; // (V, C)
  layers: LayerParams<Buf>[]; // K
  finalNorm: Buf; // (C)
  lmHead: Buf; // (V, C), the embed view when tied
}

/** The base tensors of the variant keeping keptLayers by role; get(name) is the view of an HF tensor. */
export function modelParams<Buf>(
  config: LlamaConfig,
  keptLayers: readonly number[],
  get: (name: string) => Buf,
): ModelParams<Buf> {
  const embed = get(embedTokensName);
  return {
    embed,
    layers: keptLayers.map((layer) => ({
      inputNorm: get(inputNormName(layer)),
      postNorm: get(postAttentionNormName(layer)),
      proj: Object.fromEntries(loraModules.map((m) => [m, get(projectionName(layer, m))])) as Record<
        LoraModule,
        Buf
      >,
    })),
    finalNorm: get(finalNormName),
    lmHead: config.tieWordEmbeddings ? embed : get(lmHeadName),
  };
}
