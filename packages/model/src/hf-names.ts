// The Hugging Face names and shapes of a LLaMA checkpoint's base tensors: the one place that knows
// them. Loading, random initialisation and the engines' parameter tables all derive from here.
// Dimension letters: C hidden, V vocab; a projection is (OUT, IN) as in PyTorch.
import type { LlamaConfig } from './config';
import { InputError } from './errors';
import { type LoraModule, loraModuleShape, loraParent } from './lora';

export interface TensorSpec {
  name: string;
  shape: number[];
}

export const embedTokensName = 'model.embed_tokens.weight';
export const finalNormName = 'model.norm.weight';
export const lmHeadName = 'lm_head.weight';

/** HF name of a decoder layer's projection weight, e.g. model.layers.3.self_attn.q_proj.weight. */
export function projectionName(layer: number, module: LoraModule): string {
  return `model.layers.${layer}.${loraParent(module)}.${module}.weight`;
}

export function inputNormName(layer: number): string {
  return `model.layers.${layer}.input_layernorm.weight`;
}

export function postAttentionNormName(layer: number): string {
  return `model.layers.${layer}.post_attention_layernorm.weight`;
}

type LayerNorm = 'input_layernorm' | 'post_attention_layernorm';

/** A decoder layer's tensors in HF order: each block's RMSNorm gain (C) before its projections. */
const layerParts: readonly (LayerNorm | LoraModule)[] = [
  'input_layernorm',
  'q_proj',
  'k_proj',
  'v_proj',
  'o_proj',
  'post_attention_layernorm',
  'gate_proj',
  'up_proj',
  'down_proj',
];

function isNorm(part: LayerNorm | LoraModule): part is LayerNorm {
  return part === 'input_layernorm' || part === 'post_attention_layernorm';
}

function partName(layer: number, part: LayerNorm | LoraModule): string {
  if (part === 'input_layernorm') return inputNormName(layer);
  if (part === 'post_attention_layernorm') return postAttentionNormName(layer);
  return projectionName(layer, part);
}

/** HF names of one decoder layer's tensors, in HF order. */
export function hfLayerTensorNames(layer: number): string[] {
  return layerParts.map((part) => partName(layer, part));
}

/** Specs of one decoder layer's tensors, in HF order. */
export function layerTensorSpecs(config: LlamaConfig, layer: number): TensorSpec[] {
  return layerParts.map((part) => {
    if (isNorm(part)) return { name: partName(layer, part), shape: [config.hiddenSize] }; // (C)
    const [IN, OUT] = loraModuleShape(config, part);
    return { name: partName(layer, part), shape: [OUT, IN] };
  });
}

/** Specs of the tensors every variant keeps: embedding, final norm, and the LM head unless tied. */
export function globalTensorSpecs(config: LlamaConfig): TensorSpec[] {
  const V = config.vocabSize;
  const C = config.hiddenSize;
  const specs: TensorSpec[] = [
    { name: embedTokensName, shape: [V, C] },
    { name: finalNormName, shape: [C] },
  ];
  if (!config.tieWordEmbeddings) specs.push({ name: lmHeadName, shape: [V, C] });
  return specs;
}

/** HF names of the tensors every variant keeps: embedding, final norm, and the LM head unless tied. */
export function hfGlobalTensorNames(config: LlamaConfig): string[] {
  return globalTensorSpecs(config).map((spec) => spec.name);
}

/**
 * Specs of every base tensor of the variant keeping `layers`, in forward order (embedding, layers,
 * final norm, LM head unless tied): the order of the CPU engine's flat parameter buffer.
 */
export function llamaTensorSpecs(config: LlamaConfig, layers: readonly number[]): TensorSpec[] {
  const [embed, ...head] = globalTensorSpecs(config);
  return [embed, ...layers.flatMap((layer) => layerTensorSpecs(config, layer)), ...head];
}

const layerPrefix = /^model\.layers\.(\d+)\./;

/** Shape of an HF tensor under `config`, from the spec of the layer (or global tensor) it names. */
export function expectedTensorShape(config: LlamaConfig, name: string): number[] {
  const match = layerPrefix.exec(name);
  let specs: TensorSpec[];
  if (match === null) {
    // A tied checkpoint may still carry lm_head.weight; it has the embedding's shape.
    specs = globalTensorSpecs({ ...config, tieWordEmbeddings: false });
  } else {
    const layer = Number(match[1]);
    if (layer >= config.numHiddenLayers) {
      throw new InputError(
        `tensor "${name}" names layer ${layer}, but the model has ${config.numHiddenLayers}`,
      );
    }
    specs = layerTensorSpecs(config, layer);
  }
  const spec = specs.find((s) => s.name === name);
  if (spec === undefined) {
    throw new InputError(
      `"${name}" is not a LLaMA weight name (e.g. model.layers.0.self_attn.q_proj.weight)`,
    );
  }
  return spec.shape;
}

/**
 * Throws an InputError unless `layers` are ascending, distinct original layer indices of `config`.
 * `what` names one entry for the message, e.g. "kept layer".
 */
export function checkLayerList(config: LlamaConfig, layers: readonly number[], what: string): void {
  const L = config.numHiddenLayers;
  layers.forEach((layer, i) => {
    if (!Number.isInteger(layer) || layer < 0 || layer >= L) {
      throw new InputError(`${what} ${layer} is not a layer index in [0, ${L}); the model has ${L} layers`);
    }
    if (i > 0 && layer <= layers[i - 1]) {
      throw new InputError(
        `${what} indices [${layers.join(', ')}] must be ascending and unique (original layer indices)`,
      );
    }
  });
}
