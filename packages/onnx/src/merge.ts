// Folding a LoRA adapter into the base weights: W' = W + (alpha / R) B A for every adapted
// projection, so an exported model needs no adapter operators. Dimension letters: R LoRA rank,
// IN / OUT a projection's input and output features (W is (OUT, IN) as in PyTorch).
import {
  InputError,
  type LlamaWeights,
  type LoraAdapter,
  loraKey,
  loraModuleShape,
  projectionName,
  type Tensor,
  validateAdapterForModel,
} from '@prufed/model';

/** W (OUT, IN) + scale * B (OUT, R) A (R, IN), each entry summed in float64 and rounded once. */
function mergedProjection(W: Tensor, A: Tensor, B: Tensor, scale: number): Tensor {
  const [OUT, IN] = W.shape;
  const R = A.shape[0];
  const merged = new Float32Array(OUT * IN); // (OUT, IN)
  for (let o = 0; o < OUT; o++) {
    for (let i = 0; i < IN; i++) {
      let delta = 0;
      for (let r = 0; r < R; r++) delta += B.data[o * R + r] * A.data[r * IN + i];
      merged[o * IN + i] = W.data[o * IN + i] + scale * delta;
    }
  }
  return { shape: [OUT, IN], data: merged };
}

/**
 * The weights with `adapter` folded in. Pure: the inputs are not modified; tensors the adapter does
 * not touch are shared with `weights`, adapted projections are new arrays. The adapter must fit the
 * weights' layers (same checks as the engines' setAdapter).
 */
export function mergeLoraIntoWeights(weights: LlamaWeights, adapter: LoraAdapter): LlamaWeights {
  validateAdapterForModel(adapter, weights.config, weights.layers);
  const scale = adapter.config.alpha / adapter.config.r;
  const tensors = new Map(weights.tensors);
  for (const layer of adapter.layers) {
    for (const module of adapter.config.targetModules) {
      const name = projectionName(layer, module);
      const W = weights.tensors.get(name);
      const [IN, OUT] = loraModuleShape(weights.config, module);
      if (W === undefined) {
        throw new InputError(
          `the weights lack ${name}, which the adapter adapts; load every tensor of layer ${layer}`,
        );
      }
      if (W.shape.join() !== `${OUT},${IN}` || W.data.length !== OUT * IN) {
        throw new InputError(
          `${name} has shape [${W.shape}] but the config needs [${OUT}, ${IN}]; the weights and config disagree`,
        );
      }
      const { A, B } = adapter.weights.get(loraKey(layer, module))!;
      tensors.set(name, mergedProjection(W, A, B, scale));
    }
  }
  return { config: weights.config, layers: [...weights.layers], tensors };
}
