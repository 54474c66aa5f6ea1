// The CPU reference training engine: the TrainingEngine interface over CpuModel, plus AdamW with
// global gradient clipping. The oracle that faster engines are checked against.
import type {
  AdamWConfig,
  Batch,
  LossResult,
  TrainingEngine,
  TrainStepResult,
  VariantOptions,
} from '../engine';
import { InputError } from '../errors';
import type { LoraAdapter } from '../lora';
import type { FloatArray, Tensor } from '../tensor';
import type { LlamaWeights } from '../weights';
import { adamwUpdate, assertAdamWConfig, clipCoefficient, sumOfSquares } from './adamw';
import { CpuModel, type CpuPrecision } from './model';

export interface CpuEngineOptions {
  /** 'f64' runs everything in double precision, for finite-difference gradient checks. Default 'f32'. */
  precision?: CpuPrecision;
}

/** AdamW moments of one flat parameter buffer and its step count. */
interface OptimizerState {
  m: FloatArray;
  v: FloatArray;
  step: number;
}

export class CpuEngine implements TrainingEngine {
  readonly kind = 'cpu';
  readonly precision: CpuPrecision;
  private variant: CpuModel | null = null;
  private baseOptimizer: OptimizerState | null = null;
  private loraOptimizer: OptimizerState | null = null;

  constructor(options: CpuEngineOptions = {}) {
    this.precision = options.precision ?? 'f32';
  }

  /** The loaded variant, for callers that need the flat buffers (gradient checks, benchmarks). */
  get model(): CpuModel {
    if (this.variant === null) throw new InputError('no variant is loaded; call loadVariant first');
    return this.variant;
  }

  async loadVariant(weights: LlamaWeights, options: VariantOptions): Promise<void> {
    this.variant = new CpuModel(weights, options, this.precision);
    this.baseOptimizer = null;
    this.loraOptimizer = null;
  }

  /** Sets the adapter and resets its AdamW state (a new round starts from the global adapter). */
  async setAdapter(adapter: LoraAdapter): Promise<void> {
    this.model.setAdapter(adapter);
    this.loraOptimizer = null;
  }

  async readAdapter(): Promise<LoraAdapter> {
    const lora = this.model.lora;
    if (lora === null) throw new InputError('no adapter is set; call setAdapter first');
    return this.model.adapterOf(lora.params);
  }

  async computeGradients(batch: Batch): Promise<LossResult> {
    return this.model.computeGradients(batch);
  }

  async readAdapterGradients(): Promise<LoraAdapter> {
    const lora = this.model.lora;
    if (lora === null) throw new InputError('no adapter is set; call setAdapter first');
    return this.model.adapterOf(lora.grads);
  }

  async readBaseGradients(): Promise<Map<string, Tensor>> {
    const grads = this.model.grads;
    if (grads === null)
      throw new InputError('base gradients need loadVariant(weights, { trainBase: true, ... })');
    return this.model.tensorsOf(grads);
  }

  /**
   * computeGradients, then clipping of the global norm over every trainable gradient (LoRA, and base
   * weights with trainBase) and one AdamW step. A batch without unmasked targets updates nothing.
   */
  async trainStep(batch: Batch, optimizer: AdamWConfig): Promise<TrainStepResult> {
    assertAdamWConfig(optimizer);
    const model = this.model;
    const trainable: [FloatArray, FloatArray][] = [];
    if (model.lora !== null) trainable.push([model.lora.params, model.lora.grads]);
    if (model.grads !== null) trainable.push([model.params, model.grads]);
    if (trainable.length === 0) {
      throw new InputError('nothing to train: call setAdapter, or loadVariant with trainBase: true');
    }
    const result = model.computeGradients(batch);
    if (result.tokens === 0) return { ...result, gradNorm: 0 };
    const gradNorm = Math.sqrt(trainable.reduce((sum, [, grads]) => sum + sumOfSquares(grads), 0));
    const gradScale = clipCoefficient(gradNorm, optimizer.maxGradNorm);
    if (model.lora !== null) {
      this.loraOptimizer ??= this.newOptimizerState(model.lora.params.length);
      this.step(model.lora.params, model.lora.grads, this.loraOptimizer, optimizer, gradScale);
    }
    if (model.grads !== null) {
      this.baseOptimizer ??= this.newOptimizerState(model.params.length);
      this.step(model.params, model.grads, this.baseOptimizer, optimizer, gradScale);
    }
    return { ...result, gradNorm };
  }

  private newOptimizerState(n: number): OptimizerState {
    const alloc = (): FloatArray => (this.precision === 'f64' ? new Float64Array(n) : new Float32Array(n));
    return { m: alloc(), v: alloc(), step: 0 };
  }

  private step(
    params: FloatArray,
    grads: FloatArray,
    state: OptimizerState,
    config: AdamWConfig,
    gradScale: number,
  ): void {
    state.step++;
    adamwUpdate(params, grads, state.m, state.v, state.step, config, gradScale);
  }

  async evaluateLoss(batch: Batch): Promise<LossResult> {
    return this.model.forwardLoss(batch);
  }

  async logits(batch: Batch): Promise<Tensor> {
    const logits = this.model.forwardLogits(batch);
    return {
      shape: [batch.batchSize, batch.seqLen, this.model.config.vocabSize],
      data: Float32Array.from(logits),
    };
  }

  /**
   * The residual stream for pruning strategies (ShortGPT block influence, angular distance): entry 0
   * the input embedding, entry k + 1 the output of the k-th kept layer, each (B, T, C) as f32. Entry
   * K is before the final RMSNorm (HF's last hidden_states entry is after it). Labels are not used.
   */
  async hiddenStates(batch: Batch): Promise<Float32Array[]> {
    return this.model.forwardHidden(batch).map((h) => Float32Array.from(h));
  }

  async readBaseWeights(): Promise<Map<string, Tensor>> {
    return this.model.tensorsOf(this.model.params);
  }

  dispose(): void {
    this.variant = null;
    this.baseOptimizer = null;
    this.loraOptimizer = null;
  }
}

export function createCpuEngine(options: CpuEngineOptions = {}): CpuEngine {
  return new CpuEngine(options);
}
