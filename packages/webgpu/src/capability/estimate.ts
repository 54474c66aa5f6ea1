// What one pruned variant costs to train on the WebGPU engine: the memory of its buffers and the
// FLOPs of one training step, from the model's shape alone. chooseTier compares these with what
// the probe measured.
// Dimension letters: B batch, T tokens, N = B * T rows, C hidden, NH heads, NKV kv-heads, HS head
// size, F ffn, V vocab, R LoRA rank, K kept layers, IN and OUT a projection's sizes.
//
// FLOPs per step (a multiply-add counts 2). Base weights are frozen in LoRA training, so the
// backward computes input gradients only, never dW:
//   each projection (IN, OUT)  forward x W^T 2 N IN OUT, backward dx = dy W 2 N IN OUT
//   its LoRA pair, if targeted forward 2 N R (IN + OUT); backward dB, du, dA, dx 4 N R (IN + OUT)
//   causal attention           P = B NH T (T + 1) / 2 (query, key) pairs with key <= query;
//                              forward 4 HS per pair (scores, weighted values); backward 14 HS per
//                              pair (the dq and dkv kernels each recompute the scores and dp, then
//                              accumulate dq, or dk and dv)
//   LM head (V, C)             forward 2 N C V, backward dx 2 N C V
// RMSNorm, RoPE, SwiGLU, residual adds, cross-entropy and AdamW are O(N (C + F + V)) elementwise
// work, under 1% of the total at training shapes, and are left out.
import {
  ConfigError,
  InputError,
  type LlamaConfig,
  type LoraConfig,
  loraModuleShape,
  loraModules,
} from '@prufed/model';

/** How a client trains in one round. */
export interface TrainShape {
  batchSize: number; // B
  seqLen: number; // T
  lora: LoraConfig;
  localSteps: number;
  /** Bytes per base-weight and activation element: 4 for the f32 kernels, 2 with f16 storage. */
  dtypeBytes: 2 | 4;
}

/** Bytes of the engine's buffers. LoRA parameters, gradients and AdamW moments are always f32. */
export interface MemoryEstimate {
  /** Base weights of the kept layers, embedding, final norm and untied LM head. */
  weights: number;
  /** Everything saved for backward (as the CPU engine's LayerActivations) plus gradient scratch. */
  activations: number;
  /** LoRA parameters and their gradients. */
  adapter: number;
  /** AdamW's m and v. */
  optimizer: number;
  total: number;
  /** The largest single buffer, bound whole by a kernel. */
  largestBinding: number;
  /** What the largest buffer holds, for reasons shown to the volunteer. */
  largestBindingName: string;
}

export interface VariantEstimate {
  keptLayerCount: number; // K
  memory: MemoryEstimate;
  /** Trainable LoRA parameters. */
  adapterParams: number;
  flopsPerStep: number;
  /** flopsPerStep * localSteps. */
  flopsPerRound: number;
}

const f32Bytes = 4;

function positiveInteger(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new InputError(`${what} must be a positive integer, got ${value}`);
  }
}

/** Throws unless the training shape is usable: positive integer sizes and a 2- or 4-byte dtype. */
export function assertTrainShape(train: TrainShape): void {
  positiveInteger(train.batchSize, 'batchSize');
  positiveInteger(train.seqLen, 'seqLen');
  positiveInteger(train.localSteps, 'localSteps');
  positiveInteger(train.lora.r, 'the LoRA rank r');
  if (train.dtypeBytes !== 2 && train.dtypeBytes !== 4) {
    throw new InputError(`dtypeBytes must be 4 (f32) or 2 (f16), got ${train.dtypeBytes}`);
  }
}

/** Memory and FLOPs of training the variant that keeps `keptLayerCount` decoder layers. */
export function estimateVariant(
  config: LlamaConfig,
  keptLayerCount: number,
  train: TrainShape,
): VariantEstimate {
  assertTrainShape(train);
  if (
    !Number.isSafeInteger(keptLayerCount) ||
    keptLayerCount < 1 ||
    keptLayerCount > config.numHiddenLayers
  ) {
    throw new ConfigError(
      `a variant keeps 1 to ${config.numHiddenLayers} layers (num_hidden_layers), got ${keptLayerCount}`,
    );
  }
  const { hiddenSize: C, intermediateSize: F, vocabSize: V, headDim: HS } = config;
  const { numAttentionHeads: NH, numKeyValueHeads: NKV } = config;
  const { batchSize: B, seqLen: T, dtypeBytes } = train;
  const { r: R, targetModules } = train.lora;
  const K = keptLayerCount;
  const N = B * T;
  const Q = NH * HS;
  const KV = NKV * HS;

  let layerWeights = 2 * C; // the two RMSNorm gains
  let layerAdapterParams = 0;
  let layerFlops = 0;
  let largestProjection = 0;
  for (const module of loraModules) {
    const [IN, OUT] = loraModuleShape(config, module);
    layerWeights += IN * OUT;
    largestProjection = Math.max(largestProjection, IN * OUT);
    layerFlops += 4 * N * IN * OUT;
    if (targetModules.includes(module)) {
      layerAdapterParams += R * (IN + OUT);
      layerFlops += 6 * N * R * (IN + OUT);
    }
  }
  const causalPairs = (B * NH * T * (T + 1)) / 2;
  layerFlops += (4 + 14) * HS * causalPairs;
  const headFlops = 4 * N * C * V;
  const flopsPerStep = K * layerFlops + headFlops;

  const embedding = V * C; // (V, C), also the LM head when tied
  const globalWeights = embedding + C + (config.tieWordEmbeddings ? 0 : embedding);
  // Per kept layer, as LayerActivations: ln1, ln2 (N, C) with their rstd (N); q, attOut (N, Q);
  // k, v (N, KV); lse (B, NH, T); gate, up, h (N, F); one loraU (N, R) per target; the residual
  // entering the layer and after its attention block (N, C).
  const layerActivations =
    4 * N * C + 2 * N + 2 * N * Q + 2 * N * KV + N * NH + 3 * N * F + targetModules.length * N * R;
  // Once: the last residual, lnf (N, C) and its rstd; logits (N, V); RoPE cos, sin (T, HS/2); and
  // the scratch shared by all layers: proj, dres, dln (N, C), dq, dattOut (N, Q), dk, dv (N, KV),
  // dgate, dup, dh (N, F), dloraU (N, R), 2T for attention.
  const globalActivations =
    2 * N * C + N + N * V + T * HS + 3 * N * C + 2 * N * Q + 2 * N * KV + 3 * N * F + N * R + 2 * T;
  const adapterParams = K * layerAdapterParams;

  const bindings: [string, number][] = [
    [
      config.tieWordEmbeddings ? 'the tied embedding and LM head (V, C)' : 'the embedding (V, C)',
      embedding * dtypeBytes,
    ],
    ['the logits (B*T, V)', N * V * dtypeBytes],
    ['the largest projection weight', largestProjection * dtypeBytes],
    ['an MLP activation (B*T, F)', N * F * dtypeBytes],
  ];
  const [largestBindingName, largestBinding] = bindings.reduce((a, b) => (b[1] > a[1] ? b : a));
  const weights = (K * layerWeights + globalWeights) * dtypeBytes;
  const activations = (K * layerActivations + globalActivations) * dtypeBytes;
  const adapter = 2 * adapterParams * f32Bytes;
  const optimizer = 2 * adapterParams * f32Bytes;
  return {
    keptLayerCount: K,
    memory: {
      weights,
      activations,
      adapter,
      optimizer,
      total: weights + activations + adapter + optimizer,
      largestBinding,
      largestBindingName,
    },
    adapterParams,
    flopsPerStep,
    flopsPerRound: flopsPerStep * train.localSteps,
  };
}
