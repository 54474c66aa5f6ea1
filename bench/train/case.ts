// The benchmark case every runner trains on: a shape of @prufed/model/testing's benchModelShapes with
// random base weights, LoRA adapter, batch and AdamW settings, generated once by the harness and handed to every runner as the same bytes
// (project formats: safetensors weights, a PEFT adapter, a batch JSON). Also the one FLOP count
// used for every runner's GFLOP/s.
// Dimension letters: B batch, T tokens, N = B * T rows, C hidden, NH heads, NKV kv-heads, HS head
// size, F ffn, V vocab, R LoRA rank, L layers.
import {
  type AdamWConfig,
  adapterFromPeft,
  adapterToPeft,
  type Batch,
  defaultAdamW,
  InputError,
  initLoraAdapter,
  type LlamaConfig,
  type LlamaWeights,
  type LoraAdapter,
  llamaConfigToHf,
  llamaWeightsFromMap,
  loraModuleShape,
  loraModules,
  parseBatchJson,
  parseLlamaConfig,
  Rng,
  randomLlamaWeights,
  readSafetensors,
  writeSafetensors,
} from '@prufed/model';
import { type BenchShape, benchLlamaConfig } from '@prufed/model/testing';

const seeds = { weights: 1, adapter: 2, batch: 3 };

export interface BenchCase {
  shape: BenchShape;
  config: LlamaConfig;
  keptLayers: number[];
  weights: LlamaWeights;
  adapter: LoraAdapter;
  batch: Batch;
  optimizer: AdamWConfig;
}

/** Deterministic case: random weights (std 0.02), a fresh adapter on all layers and all 7 targets, random tokens. */
export function makeBenchCase(shape: BenchShape): BenchCase {
  const config = benchLlamaConfig(shape);
  const keptLayers = Array.from({ length: shape.L }, (_, i) => i);
  // The first T/8 labels of every row are masked (-100), like an instruction prompt.
  const promptTokens = Math.floor(shape.T / 8);
  const rng = new Rng(seeds.batch);
  const inputIds = new Int32Array(shape.B * shape.T); // (B, T)
  const labels = new Int32Array(shape.B * shape.T); // (B, T)
  for (let i = 0; i < inputIds.length; i++) {
    inputIds[i] = Math.floor(rng.uniform() * shape.V);
    labels[i] = i % shape.T < promptTokens ? -100 : inputIds[i];
  }
  return {
    shape,
    config,
    keptLayers,
    weights: randomLlamaWeights(config, { seed: seeds.weights }),
    adapter: initLoraAdapter(
      config,
      { r: shape.R, alpha: 2 * shape.R, targetModules: [...loraModules] },
      keptLayers,
      seeds.adapter,
    ),
    batch: { batchSize: shape.B, seqLen: shape.T, inputIds, labels },
    optimizer: defaultAdamW,
  };
}

/** The files a case travels as: name -> bytes. */
export type CaseFiles = Record<'case.json' | 'model.safetensors' | 'adapter_model.safetensors', Uint8Array>;

function rowsOf(values: Int32Array, T: number): number[][] {
  return Array.from({ length: values.length / T }, (_, b) => [...values.subarray(b * T, (b + 1) * T)]);
}

export function caseToFiles(c: BenchCase): CaseFiles {
  const peft = adapterToPeft(c.adapter);
  const json = {
    shape: c.shape,
    config: llamaConfigToHf(c.config),
    keptLayers: c.keptLayers,
    adapterConfig: peft.config,
    batch: {
      input_ids: rowsOf(c.batch.inputIds, c.batch.seqLen),
      labels: rowsOf(c.batch.labels, c.batch.seqLen),
    },
    optimizer: c.optimizer,
  };
  return {
    'case.json': new TextEncoder().encode(JSON.stringify(json)),
    'model.safetensors': writeSafetensors(c.weights.tensors),
    'adapter_model.safetensors': peft.safetensors,
  };
}

export function caseFromFiles(files: CaseFiles): BenchCase {
  const json = JSON.parse(new TextDecoder().decode(files['case.json'])) as {
    shape: BenchShape;
    config: unknown;
    keptLayers: number[];
    adapterConfig: unknown;
    batch: unknown;
    optimizer: AdamWConfig;
  };
  const config = parseLlamaConfig(json.config);
  return {
    shape: json.shape,
    config,
    keptLayers: json.keptLayers,
    weights: llamaWeightsFromMap(config, readSafetensors(files['model.safetensors']), json.keptLayers),
    adapter: adapterFromPeft(files['adapter_model.safetensors'], json.adapterConfig),
    batch: parseBatchJson(json.batch, config.vocabSize),
    optimizer: json.optimizer,
  };
}

/**
 * Matmul FLOPs of one LoRA training step (forward + backward; elementwise work, softmax, norms and
 * AdamW not counted), the one formula every runner's GFLOP/s uses. A (M, K) x (K, N) product is
 * 2 M N K. Per kept layer, with N = B T rows:
 *   base projections x W^T: 2 N (C q + 2 C kv + q C + 3 C F), q = NH HS, kv = NKV HS;
 *   LoRA (x A^T) B^T on every target: 2 N R (in + out);
 *   attention scores Q K^T and P V over the full T x T square (no causal halving): 2 * 2 B NH T T HS;
 * plus the LM head 2 N C V. Backward: base weights and the (tied) LM head are frozen, so only the
 * input gradient (1x forward); LoRA needs dx, dU, dA, dB (2x); attention dQ, dK, dP, dV (2x).
 * Step = 2 (base + head) + 3 (lora + attention) forward FLOPs.
 */
export function flopsPerStep(shape: BenchShape): number {
  const { L, C, NH, NKV, F, V, B, T, R } = shape;
  if (C % NH !== 0) throw new InputError(`hidden size ${C} must be a multiple of the head count ${NH}`);
  const config = benchLlamaConfig(shape);
  const HS = C / NH;
  const N = B * T;
  const q = NH * HS;
  const kv = NKV * HS;
  const base = 2 * N * (C * q + 2 * C * kv + q * C + 3 * C * F);
  let loraWidth = 0;
  for (const module of loraModules) {
    const [IN, OUT] = loraModuleShape(config, module);
    loraWidth += IN + OUT;
  }
  const lora = 2 * N * R * loraWidth;
  const attention = 4 * B * NH * T * T * HS;
  const head = 2 * N * C * V;
  return L * (2 * base + 3 * (lora + attention)) + 2 * head;
}
