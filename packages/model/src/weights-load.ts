// Loading the base weights of a pruned variant: the HF tensor names it needs (global tensors plus its kept
// layers), each tensor's expected shape from the config, and a loader that checks every shape it receives.
import type { LlamaConfig } from './config';
import { FormatError, InputError } from './errors';
import { loraModuleShape, loraModules, loraParent } from './lora';
import { numel, type Tensor } from './tensor';
import type { LlamaWeights } from './weights';

/** HF names of one decoder layer's tensors. */
export function hfLayerTensorNames(layer: number): string[] {
  const prefix = `model.layers.${layer}`;
  const projections = (parent: 'self_attn' | 'mlp') =>
    loraModules.filter((m) => loraParent(m) === parent).map((m) => `${prefix}.${parent}.${m}.weight`);
  return [
    `${prefix}.input_layernorm.weight`,
    ...projections('self_attn'),
    `${prefix}.post_attention_layernorm.weight`,
    ...projections('mlp'),
  ];
}

/** HF names of the tensors every variant keeps: embedding, final norm, and the LM head unless tied. */
export function hfGlobalTensorNames(config: LlamaConfig): string[] {
  const names = ['model.embed_tokens.weight', 'model.norm.weight'];
  if (!config.tieWordEmbeddings) names.push('lm_head.weight');
  return names;
}

const layerTensorPattern = /^model\.layers\.(\d+)\.(.+)\.weight$/;

/** Shape of an HF tensor under `config`; linear weights are (out, in) as in PyTorch. */
export function expectedTensorShape(config: LlamaConfig, name: string): number[] {
  const C = config.hiddenSize;
  const V = config.vocabSize;
  if (name === 'model.embed_tokens.weight' || name === 'lm_head.weight') return [V, C];
  if (name === 'model.norm.weight') return [C];
  const match = layerTensorPattern.exec(name);
  if (match !== null) {
    const layer = Number(match[1]);
    if (layer >= config.numHiddenLayers) {
      throw new InputError(
        `tensor "${name}" names layer ${layer}, but the model has ${config.numHiddenLayers}`,
      );
    }
    const part = match[2];
    if (part === 'input_layernorm' || part === 'post_attention_layernorm') return [C];
    const module = loraModules.find((m) => part === `${loraParent(m)}.${m}`);
    if (module !== undefined) {
      const [inFeatures, outFeatures] = loraModuleShape(config, module);
      return [outFeatures, inFeatures];
    }
  }
  throw new InputError(`"${name}" is not a LLaMA weight name (e.g. model.layers.0.self_attn.q_proj.weight)`);
}

/** Checks keptLayers and returns every tensor name the variant needs. */
function variantTensorNames(config: LlamaConfig, keptLayers: number[]): string[] {
  const L = config.numHiddenLayers;
  keptLayers.forEach((layer, i) => {
    if (!Number.isInteger(layer) || layer < 0 || layer >= L) {
      throw new InputError(
        `kept layer ${layer} is not a layer index in [0, ${L}); the model has ${L} layers`,
      );
    }
    if (i > 0 && layer <= keptLayers[i - 1]) {
      throw new InputError(
        `kept layers [${keptLayers}] must be ascending and unique (original layer indices)`,
      );
    }
  });
  return [...hfGlobalTensorNames(config), ...keptLayers.flatMap(hfLayerTensorNames)];
}

function checkTensor(config: LlamaConfig, name: string, tensor: Tensor): Tensor {
  const expected = expectedTensorShape(config, name);
  const sameShape =
    tensor.shape.length === expected.length && tensor.shape.every((d, i) => d === expected[i]);
  if (!sameShape) {
    throw new FormatError(
      `tensor "${name}" has shape [${tensor.shape}] but config.json implies [${expected}]; ` +
        'the weights do not belong to this config',
    );
  }
  if (tensor.data.length !== numel(expected)) {
    throw new FormatError(
      `tensor "${name}" holds ${tensor.data.length} values, but its shape [${expected}] needs ${numel(expected)}`,
    );
  }
  return tensor;
}

/** Loads the global tensors and the kept layers' tensors, one at a time, checking each shape. */
export async function loadLlamaWeights(
  config: LlamaConfig,
  getTensor: (name: string) => Promise<Tensor>,
  keptLayers: number[],
): Promise<LlamaWeights> {
  const tensors = new Map<string, Tensor>();
  for (const name of variantTensorNames(config, keptLayers)) {
    tensors.set(name, checkTensor(config, name, await getTensor(name)));
  }
  return { config, layers: [...keptLayers], tensors };
}

/** loadLlamaWeights over tensors already in memory (e.g. from readSafetensors); extra tensors are ignored. */
export function llamaWeightsFromMap(
  config: LlamaConfig,
  tensors: Map<string, Tensor>,
  keptLayers: number[],
): LlamaWeights {
  const kept = new Map<string, Tensor>();
  for (const name of variantTensorNames(config, keptLayers)) {
    const tensor = tensors.get(name);
    if (tensor === undefined) {
      throw new FormatError(
        `the weights lack tensor "${name}", which config.json requires; is the checkpoint complete?`,
      );
    }
    kept.set(name, checkTensor(config, name, tensor));
  }
  return { config, layers: [...keptLayers], tensors: kept };
}
