// Prepares a loaded engine for training before a volunteer (page or CLI) says `ready`: one
// training step on a throwaway adapter and a batch of the round's shape makes the WebGPU engine
// compile the kernels of a step (36 pipelines for the e2e model; about 3 s on SwiftShader, where a
// later step takes 0.1 s), so the compilation does not eat into a round's deadline. Kernels depend
// on the batch shape only through a few skinny-matmul variants, so steps of other lengths rarely
// compile more. The round's setAdapter then replaces the adapter and resets the optimizer.
import { makeBatch } from './batch';
import type { LlamaConfig } from './config';
import { type Batch, defaultAdamW, type TrainingEngine } from './engine';
import { InputError } from './errors';
import { initLoraAdapter } from './init';
import type { LoraConfig } from './lora';

export interface WarmUpShape {
  batchSize: number;
  /** Tokens per example: the round's seqLen, the longest batch it trains. */
  seqLen: number;
}

/** A batch of `shape` whose every position is a target, so the step runs every kernel. */
export function warmUpBatch(config: LlamaConfig, shape: WarmUpShape): Batch {
  const { batchSize, seqLen } = shape;
  if (!Number.isInteger(batchSize) || batchSize < 1 || !Number.isInteger(seqLen) || seqLen < 1) {
    throw new InputError(
      `warm-up shape ${batchSize} x ${seqLen} is not a batch; give a positive batch size and sequence length`,
    );
  }
  const rows = Array.from({ length: batchSize }, (_, b) =>
    Array.from({ length: seqLen }, (_, t) => (b * seqLen + t) % config.vocabSize),
  );
  return makeBatch(rows, rows, 0);
}

/** One training step on a fresh adapter of `lora` (B = 0: the model's outputs are the base model's). */
export async function warmUpTraining(
  engine: TrainingEngine,
  config: LlamaConfig,
  keptLayers: number[],
  shape: WarmUpShape,
  lora: LoraConfig,
): Promise<void> {
  await engine.setAdapter(initLoraAdapter(config, lora, keptLayers, 0));
  await engine.trainStep(warmUpBatch(config, shape), defaultAdamW);
}
