// The base tensors of a LLaMA variant (HF names and shapes) in one fixed order: the order of the
// CPU engine's flat parameter buffer and of the random initialiser.
import type { LlamaConfig } from '../config';
import { type LoraModule, loraModuleShape, loraParent } from '../lora';
import { numel } from '../tensor';

export interface TensorSpec {
  name: string;
  shape: number[];
}

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

export const embedTokensName = 'model.embed_tokens.weight';
export const finalNormName = 'model.norm.weight';
export const lmHeadName = 'lm_head.weight';

/** Specs of one decoder layer's tensors; linear weights are (out, in) as in PyTorch. */
export function layerTensorSpecs(config: LlamaConfig, layer: number): TensorSpec[] {
  const C = config.hiddenSize;
  const projection = (module: LoraModule): TensorSpec => {
    const [IN, OUT] = loraModuleShape(config, module);
    return { name: projectionName(layer, module), shape: [OUT, IN] };
  };
  return [
    { name: inputNormName(layer), shape: [C] },
    projection('q_proj'),
    projection('k_proj'),
    projection('v_proj'),
    projection('o_proj'),
    { name: postAttentionNormName(layer), shape: [C] },
    projection('gate_proj'),
    projection('up_proj'),
    projection('down_proj'),
  ];
}

/** Specs of every base tensor of the variant keeping `layers`; lm_head only when untied. */
export function llamaTensorSpecs(config: LlamaConfig, layers: readonly number[]): TensorSpec[] {
  const V = config.vocabSize;
  const C = config.hiddenSize;
  const specs: TensorSpec[] = [{ name: embedTokensName, shape: [V, C] }];
  for (const layer of layers) specs.push(...layerTensorSpecs(config, layer));
  specs.push({ name: finalNormName, shape: [C] });
  if (!config.tieWordEmbeddings) specs.push({ name: lmHeadName, shape: [V, C] });
  return specs;
}

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
