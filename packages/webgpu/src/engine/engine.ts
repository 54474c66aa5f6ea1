// The WebGPU training engine: the TrainingEngine interface over GpuModel plus AdamW with global
// gradient clipping on the GPU, packages/model/src/cpu/engine.ts with GPU buffers. A training step
// records forward, backward, the gradient norm and the updates, and reads back only the loss and
// the gradient norm (2 floats each). After a device loss every call throws a GpuError that says
// so: acquire a new device and build a new engine with createWebGpuEngine.
import {
  type AdamWConfig,
  assertAdamWConfig,
  type Batch,
  checkVariant,
  InputError,
  type LlamaWeights,
  type LoraAdapter,
  type LossResult,
  type Tensor,
  type TrainingEngine,
  type TrainStepResult,
  type VariantOptions,
} from '@prufed/model';
import { adamwUpdate, globalGradNorm, gradNormPartials, readGradNorm } from '../adamw';
import { type AutotuneOptions, type AutotuneResult, autotuneMatmul } from '../autotune';
import { readLoss } from '../crossentropy';
import { acquireDevice, type GpuContext } from '../gpu-device';
import { GpuRuntime } from '../runtime';
import { fillZero } from './fill';
import { GpuModel, type GpuTrainable } from './model';

export interface WebGpuEngineOptions {
  /** Label prefix of the device (when created here) and of every GPU object. Default 'prufed-engine'. */
  label?: string;
  /** How to time the matmul variants at creation (the result is remembered per adapter). */
  autotune?: AutotuneOptions;
  /** Print the WGSL of every compiled pipeline. */
  dumpWgsl?: boolean;
  /** Time every kernel (see GpuRuntime's profile option; also PRUFED_GPU_PROFILE=1). */
  profile?: boolean;
  /** dispose() also destroys the device. Default: true when the engine acquired it from a GPU object. */
  ownsDevice?: boolean;
}

/** AdamW moments of a list of trainable tensors and their step count. */
interface OptimizerState {
  /** Arena names of the moment buffers, to release them. */
  names: string[];
  m: GPUBuffer[];
  v: GPUBuffer[];
  step: number;
}

export class WebGpuEngine implements TrainingEngine {
  readonly kind = 'webgpu';
  private variant: GpuModel | null = null;
  private baseOptimizer: OptimizerState | null = null;
  private loraOptimizer: OptimizerState | null = null;

  /** ownsDevice: dispose() also destroys the device (it was acquired by createWebGpuEngine). */
  constructor(
    readonly rt: GpuRuntime,
    readonly autotune: AutotuneResult,
    private readonly ownsDevice: boolean,
  ) {}

  /** The loaded variant, for callers that need its buffers (tests, benchmarks). */
  get model(): GpuModel {
    this.rt.ctx.check();
    if (this.variant === null) throw new InputError('no variant is loaded; call loadVariant first');
    return this.variant;
  }

  async loadVariant(weights: LlamaWeights, options: VariantOptions): Promise<void> {
    this.rt.ctx.check();
    checkVariant(weights, options); // bad weights leave the loaded variant as it was
    this.resetOptimizers();
    this.variant?.dispose();
    this.variant = new GpuModel(this.rt, weights, options);
  }

  /** Sets the adapter and resets its AdamW state (a new round starts from the global adapter). */
  async setAdapter(adapter: LoraAdapter): Promise<void> {
    this.model.setAdapter(adapter);
    this.releaseOptimizer(this.loraOptimizer);
    this.loraOptimizer = null;
  }

  async readAdapter(): Promise<LoraAdapter> {
    return this.model.adapterOf('params');
  }

  async computeGradients(batch: Batch): Promise<LossResult> {
    return readLoss(this.rt, await this.model.computeGradients(batch));
  }

  async readAdapterGradients(): Promise<LoraAdapter> {
    return this.model.adapterOf('grads');
  }

  async readBaseGradients(): Promise<Map<string, Tensor>> {
    const grads = this.model.grads;
    if (grads === null)
      throw new InputError('base gradients need loadVariant(weights, { trainBase: true, ... })');
    return this.model.tensorsOf(grads, 'base-grads');
  }

  /**
   * computeGradients, then clipping of the global norm over every trainable gradient (LoRA, and base
   * weights with trainBase) and one AdamW step, all on the GPU. A batch without unmasked targets
   * updates nothing.
   */
  async trainStep(batch: Batch, optimizer: AdamWConfig): Promise<TrainStepResult> {
    assertAdamWConfig(optimizer);
    const model = this.model;
    if (model.lora === null && model.grads === null) {
      throw new InputError('nothing to train: call setAdapter, or loadVariant with trainBase: true');
    }
    const result = await readLoss(this.rt, await model.computeGradients(batch));
    const lora = model.lora?.trainables ?? [];
    const base = model.baseTrainables;
    const trainables = [...lora, ...base];
    if (result.tokens === 0 || trainables.length === 0) return { ...result, gradNorm: 0 };
    const norm = await this.clippedGradNorm(trainables, optimizer.maxGradNorm);
    if (lora.length > 0) {
      this.loraOptimizer ??= await this.newOptimizerState('lora', lora);
      await this.step(lora, this.loraOptimizer, optimizer, norm);
    }
    if (base.length > 0) {
      this.baseOptimizer ??= await this.newOptimizerState('base', base);
      await this.step(base, this.baseOptimizer, optimizer, norm);
    }
    return { ...result, gradNorm: await readGradNorm(this.rt, norm) };
  }

  /**
   * The global L2 norm of the trainables' gradients and its clip coefficient for maxGradNorm, in a
   * GPU buffer of two floats that adamwUpdate takes (readGradNorm reads the norm back).
   */
  async clippedGradNorm(trainables: readonly GpuTrainable[], maxGradNorm: number): Promise<GPUBuffer> {
    const { arena } = this.rt;
    const norm = arena.buffer('optimizer/norm', 2 * 4); // (2) norm, clip coefficient
    const partialCount = trainables.reduce((sum, t) => sum + gradNormPartials(t.n), 0);
    const partials = arena.buffer('optimizer/partials', partialCount * 4);
    const grads = trainables.map((t) => ({ buffer: t.grad, n: t.n }));
    await globalGradNorm(this.rt, norm, partials, grads, maxGradNorm);
    return norm;
  }

  private async newOptimizerState(group: string, trainables: GpuTrainable[]): Promise<OptimizerState> {
    const names: string[] = [];
    const moment = (t: GpuTrainable, which: string): GPUBuffer => {
      names.push(`optimizer/${group}/${t.name}/${which}`);
      return this.rt.arena.buffer(names[names.length - 1], t.n * 4);
    };
    const state = {
      names,
      m: trainables.map((t) => moment(t, 'm')),
      v: trainables.map((t) => moment(t, 'v')),
      step: 0,
    };
    for (const buffer of [...state.m, ...state.v]) await fillZero(this.rt, buffer);
    return state;
  }

  private async step(
    trainables: GpuTrainable[],
    state: OptimizerState,
    config: AdamWConfig,
    norm: GPUBuffer,
  ): Promise<void> {
    state.step++;
    for (const [i, t] of trainables.entries()) {
      await adamwUpdate(this.rt, t.param, t.grad, state.m[i], state.v[i], norm, t.n, state.step, config);
    }
  }

  private releaseOptimizer(state: OptimizerState | null): void {
    for (const name of state?.names ?? []) this.rt.arena.release(name);
  }

  private resetOptimizers(): void {
    this.releaseOptimizer(this.baseOptimizer);
    this.releaseOptimizer(this.loraOptimizer);
    this.baseOptimizer = null;
    this.loraOptimizer = null;
  }

  async evaluateLoss(batch: Batch): Promise<LossResult> {
    return readLoss(this.rt, await this.model.forwardLoss(batch));
  }

  async logits(batch: Batch): Promise<Tensor> {
    const logits = await this.model.forwardLogits(batch);
    const V = this.model.config.vocabSize;
    const data = await this.rt.read(logits, batch.batchSize * batch.seqLen * V);
    return { shape: [batch.batchSize, batch.seqLen, V], data };
  }

  /** The residual stream (see CpuEngine.hiddenStates): entry 0 the embedding, entry k + 1 kept layer k's output. */
  async hiddenStates(batch: Batch): Promise<Float32Array[]> {
    const residual = await this.model.forwardHidden(batch);
    const n = batch.batchSize * batch.seqLen * this.model.config.hiddenSize;
    return this.model.gather(
      'hidden-states',
      residual.map((buffer) => ({ buffer, n })),
    );
  }

  async readBaseWeights(): Promise<Map<string, Tensor>> {
    return this.model.tensorsOf(this.model.params, 'base-params');
  }

  dispose(): void {
    this.variant = null;
    this.baseOptimizer = null;
    this.loraOptimizer = null;
    this.rt.dispose();
    if (this.ownsDevice) this.rt.device.destroy();
  }
}

function isContext(source: GpuContext | GPU): source is GpuContext {
  return 'device' in source && 'check' in source;
}

/**
 * A WebGPU engine on a device context (acquireDevice, acquireNodeDevice; the caller keeps owning it
 * unless options.ownsDevice) or on a GPU object (navigator.gpu, createNodeGpu().gpu; the engine
 * acquires and owns a device).
 * Autotunes the matmul kernel for the adapter first (remembered per adapter).
 */
export async function createWebGpuEngine(
  source: GpuContext | GPU,
  options: WebGpuEngineOptions = {},
): Promise<WebGpuEngine> {
  const label = options.label ?? 'prufed-engine';
  const ctx = isContext(source) ? source : await acquireDevice(source, { label });
  const rt = new GpuRuntime(ctx, { dumpWgsl: options.dumpWgsl, profile: options.profile });
  const autotune = await autotuneMatmul(rt, options.autotune);
  return new WebGpuEngine(rt, autotune, options.ownsDevice ?? !isContext(source));
}
