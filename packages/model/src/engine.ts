// The engine interface that every training engine implements (CPU reference, WebGPU), so that
// callers choose an engine, not a code path. All methods are async because GPU engines are.
import type { LoraAdapter } from './lora';
import type { Tensor } from './tensor';
import type { LlamaWeights } from './weights';

/** A tokenised batch. Dimension letters: B batch, T tokens. */
export interface Batch {
  batchSize: number; // B
  seqLen: number; // T
  inputIds: Int32Array; // (B, T)
  /** HF convention: aligned with inputIds, shifted inside the model; -100 = masked. */
  labels: Int32Array; // (B, T)
}

export interface LossResult {
  /** Mean cross-entropy over unmasked target tokens (nats). NaN when tokens is 0. */
  loss: number;
  /** Number of unmasked target tokens. */
  tokens: number;
}

export interface AdamWConfig {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Clip the global gradient L2 norm to this value; 0 disables clipping. */
  maxGradNorm: number;
}

export const defaultAdamW: AdamWConfig = {
  lr: 1e-3,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 0.01,
  maxGradNorm: 1.0,
};

export interface VariantOptions {
  /** Original layer indices to keep, ascending. */
  keptLayers: number[];
  /** Also compute gradients for (and train) every base weight, e.g. for pretraining. */
  trainBase?: boolean;
}

export interface TrainStepResult extends LossResult {
  /** Global gradient L2 norm before clipping. */
  gradNorm: number;
}

export interface TrainingEngine {
  readonly kind: 'cpu' | 'webgpu';
  loadVariant(weights: LlamaWeights, options: VariantOptions): Promise<void>;
  setAdapter(adapter: LoraAdapter): Promise<void>;
  readAdapter(): Promise<LoraAdapter>;
  /** Forward + backward; gradients stay inside the engine until read or applied. */
  computeGradients(batch: Batch): Promise<LossResult>;
  /** LoRA gradients of the last computeGradients, in the adapter's own layout. */
  readAdapterGradients(): Promise<LoraAdapter>;
  /** Base-weight gradients (HF names) of the last computeGradients; needs trainBase. */
  readBaseGradients(): Promise<Map<string, Tensor>>;
  /** computeGradients + gradient clipping + one AdamW update of every trainable parameter. */
  trainStep(batch: Batch, optimizer: AdamWConfig): Promise<TrainStepResult>;
  evaluateLoss(batch: Batch): Promise<LossResult>;
  /** Logits (B, T, V). */
  logits(batch: Batch): Promise<Tensor>;
  /** Current base weights (HF names), e.g. to save a pretraining checkpoint. */
  readBaseWeights(): Promise<Map<string, Tensor>>;
  dispose(): void;
}
