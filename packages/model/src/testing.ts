// Fixtures for tests and benchmarks, exported as @prufed/model/testing (not part of the model core):
// a LlamaConfig from dimension letters, the tiny model most engine tests train, and the shapes the
// benchmarks time (the shipped default model and a larger one), defined once for every package.
// Dimension letters: L layers, C hidden, NH heads, NKV kv-heads, HS = C / NH head size, F ffn,
// V vocab, B batch, T tokens, R LoRA rank.
import type { LlamaConfig } from './config';
import { InputError } from './errors';
import type { LoraAdapter } from './lora';
import { Rng } from './rng';

/** A model's sizes in dimension letters. */
export interface ModelDims {
  L: number;
  C: number;
  NH: number;
  NKV: number;
  F: number;
  V: number;
}

export interface LlamaDims extends ModelDims {
  /** maxPositionEmbeddings: the longest sequence the model accepts. */
  maxPositions: number;
  /** tieWordEmbeddings: lm_head is embed_tokens. */
  tied: boolean;
}

/** The LlamaConfig of these dimensions: HS = C / NH, RMSNorm eps 1e-5, RoPE theta 10000. */
export function llamaConfigOf(dims: LlamaDims): LlamaConfig {
  return {
    hiddenSize: dims.C,
    intermediateSize: dims.F,
    numHiddenLayers: dims.L,
    numAttentionHeads: dims.NH,
    numKeyValueHeads: dims.NKV,
    headDim: dims.C / dims.NH,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    vocabSize: dims.V,
    maxPositionEmbeddings: dims.maxPositions,
    tieWordEmbeddings: dims.tied,
  };
}

/** The tiny GQA model engine tests train: L 4, C 64, NH 4, NKV 2 (HS 16), F 128, V 32, tied; overrides change it. */
export function tinyLlamaConfig(overrides: Partial<LlamaDims> = {}): LlamaConfig {
  return llamaConfigOf({
    L: 4,
    C: 64,
    NH: 4,
    NKV: 2,
    F: 128,
    V: 32,
    maxPositions: 64,
    tied: true,
    ...overrides,
  });
}

/** A model shape and the training batch and LoRA rank a benchmark times it with. */
export interface BenchShape extends ModelDims {
  name: string;
  B: number;
  T: number;
  R: number;
}

/** The shipped default model's shape (tied embeddings), and a larger one for the matmul-efficiency target. */
export const benchModelShapes: readonly BenchShape[] = [
  { name: 'default', L: 12, C: 128, NH: 4, NKV: 2, F: 384, V: 2048, B: 4, T: 64, R: 8 },
  { name: 'large', L: 8, C: 256, NH: 8, NKV: 4, F: 768, V: 2048, B: 4, T: 64, R: 8 },
];

/** The benchmark shape called name. */
export function benchModelShape(name: string): BenchShape {
  const shape = benchModelShapes.find((s) => s.name === name);
  if (shape === undefined) {
    throw new InputError(
      `unknown benchmark shape ${name}; use ${benchModelShapes.map((s) => s.name).join(', ')}`,
    );
  }
  return shape;
}

/** The model a benchmark shape trains: tied embeddings like the shipped model, sequences up to max(T, 256). */
export function benchLlamaConfig(shape: BenchShape): LlamaConfig {
  return llamaConfigOf({ ...shape, maxPositions: Math.max(shape.T, 256), tied: true });
}

/** Largest |x - y| over every tensor of two adapters with the same keys. */
export function maxAbsDiff(x: LoraAdapter, y: LoraAdapter): number {
  let max = 0;
  for (const [key, pair] of x.weights) {
    const other = y.weights.get(key)!;
    for (const factor of ['A', 'B'] as const) {
      pair[factor].data.forEach((v, i) => {
        max = Math.max(max, Math.abs(v - other[factor].data[i]));
      });
    }
  }
  return max;
}

/**
 * Gives every B factor of the adapter normal(0, std) entries drawn from Rng(seed), in place, and
 * returns it: a fresh adapter's B = 0 hides the LoRA path from the loss and makes every dA zero.
 */
export function withRandomB(adapter: LoraAdapter, seed: number, std: number): LoraAdapter {
  const rng = new Rng(seed);
  for (const pair of adapter.weights.values()) {
    for (let i = 0; i < pair.B.data.length; i++) pair.B.data[i] = std * rng.normal();
  }
  return adapter;
}
