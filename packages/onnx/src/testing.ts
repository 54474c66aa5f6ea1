// Test support for this package: a tiny GQA LLaMA, random non-zero LoRA adapters, the CPU reference
// engine's logits, and a relative comparison that prints the first values when it fails.
// Dimension letters: B batch, T tokens, V vocab, R LoRA rank.
import {
  CpuModel,
  initLoraAdapter,
  type LlamaConfig,
  type LlamaWeights,
  type LoraAdapter,
  Rng,
  randomLlamaWeights,
} from '@prufed/model';
import { expect } from 'vitest';

/** 4 layers, hidden 32, 4 heads sharing 2 kv heads (GQA group 2), head size 8. */
export function tinyConfig(overrides: Partial<LlamaConfig> = {}): LlamaConfig {
  return {
    hiddenSize: 32,
    intermediateSize: 48,
    numHiddenLayers: 4,
    numAttentionHeads: 4,
    numKeyValueHeads: 2,
    headDim: 8,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    vocabSize: 50,
    maxPositionEmbeddings: 64,
    tieWordEmbeddings: false,
    ...overrides,
  };
}

/** Random weights with non-trivial RMSNorm gains (randomLlamaWeights sets them to 1). */
export function tinyWeights(config: LlamaConfig, seed: number): LlamaWeights {
  const weights = randomLlamaWeights(config, { seed, std: 0.2 });
  const rng = new Rng(seed + 1);
  for (const { shape, data } of weights.tensors.values()) {
    if (shape.length === 1) for (let i = 0; i < data.length; i++) data[i] = 1 + 0.3 * rng.normal();
  }
  return weights;
}

/** An adapter on `layers` with random A and B (B is zero in a fresh adapter, which would test nothing). */
export function randomAdapter(config: LlamaConfig, layers: number[], seed: number): LoraAdapter {
  const adapter = initLoraAdapter(
    config,
    {
      r: 4,
      alpha: 8,
      targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
    },
    layers,
    seed,
  );
  const rng = new Rng(seed + 7);
  for (const { B } of adapter.weights.values())
    for (let i = 0; i < B.data.length; i++) B.data[i] = 0.1 * rng.normal();
  return adapter;
}

/** Deterministic token ids (B, T) in [0, V). */
export function randomIds(V: number, B: number, T: number, seed: number): Int32Array {
  const rng = new Rng(seed);
  return Int32Array.from({ length: B * T }, () => Math.floor(rng.uniform() * V));
}

/** The CPU reference engine's logits (B, T, V), with the adapter applied unmerged. */
export function cpuLogits(
  weights: LlamaWeights,
  keptLayers: number[],
  adapter: LoraAdapter | undefined,
  inputIds: Int32Array,
  B: number,
  T: number,
): Float32Array {
  const model = new CpuModel(weights, { keptLayers });
  if (adapter !== undefined) model.setAdapter(adapter);
  const labels = new Int32Array(B * T).fill(-100);
  return Float32Array.from(model.forwardLogits({ batchSize: B, seqLen: T, inputIds, labels }));
}

/** Expects |actual - expected| <= rtol * max|expected| everywhere, printing the first values and the max difference. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number): void {
  expect(actual.length).toBe(expected.length);
  let maxDiff = 0;
  let maxAbs = 0;
  for (let i = 0; i < expected.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(actual[i] - expected[i]));
    maxAbs = Math.max(maxAbs, Math.abs(expected[i]));
  }
  const first = (a: ArrayLike<number>) =>
    Array.from(a)
      .slice(0, 4)
      .map((v) => v.toFixed(6))
      .join(', ');
  expect(
    maxDiff,
    `max diff ${maxDiff} (max |expected| ${maxAbs}); actual [${first(actual)}...] expected [${first(expected)}...]`,
  ).toBeLessThanOrEqual(rtol * maxAbs);
}
