// Loading the base weights of a pruned variant: the HF tensors it needs (global tensors plus its kept
// layers, names and shapes from hf-names), checking every shape it receives.
import type { LlamaConfig } from './config';
import { FormatError } from './errors';
import { checkLayerList, globalTensorSpecs, layerTensorSpecs, type TensorSpec } from './hf-names';
import { numel, type Tensor } from './tensor';
import type { LlamaWeights } from './weights';

/** Checks keptLayers and returns the spec of every tensor the variant needs: global tensors, then each layer's. */
function variantTensorSpecs(config: LlamaConfig, keptLayers: number[]): TensorSpec[] {
  checkLayerList(config, keptLayers, 'kept layer');
  return [...globalTensorSpecs(config), ...keptLayers.flatMap((layer) => layerTensorSpecs(config, layer))];
}

function checkTensor({ name, shape: expected }: TensorSpec, tensor: Tensor): Tensor {
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
  for (const spec of variantTensorSpecs(config, keptLayers)) {
    tensors.set(spec.name, checkTensor(spec, await getTensor(spec.name)));
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
  for (const spec of variantTensorSpecs(config, keptLayers)) {
    const tensor = tensors.get(spec.name);
    if (tensor === undefined) {
      throw new FormatError(
        `the weights lack tensor "${spec.name}", which config.json requires; is the checkpoint complete?`,
      );
    }
    kept.set(spec.name, checkTensor(spec, tensor));
  }
  return { config, layers: [...keptLayers], tensors: kept };
}
