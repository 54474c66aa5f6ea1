// Pretraining gradients on PruFed's WebGPU engine in Node (Dawn: a real GPU, or a software adapter
// such as SwiftShader): the same contract as GradPool (write `params`, call gradients(), read
// `grads`), so the trainer's AdamW, clipping, checkpoints and logs are the same for both engines.
// Each call uploads the flat weights to the engine's buffers, runs forward + backward on the GPU
// over the whole batch, and reads every base gradient back with one map.
import { type Batch, type LlamaConfig, llamaTensorSpecs } from '@prufed/model';
import { adapterLabel, createWebGpuEngine, type WebGpuEngine } from '@prufed/webgpu';
import { acquireNodeDevice } from '@prufed/webgpu/node';
import type { GradientSource } from './gradients';

export class GpuGrads implements GradientSource {
  readonly params: Float32Array;
  readonly grads: Float32Array;

  private constructor(
    private readonly engine: WebGpuEngine,
    initial: Float32Array,
    readonly description: string,
  ) {
    this.params = Float32Array.from(initial);
    this.grads = new Float32Array(initial.length);
  }

  /** A WebGPU engine holding the whole model with base gradients, or why WebGPU is unavailable here. */
  static async create(
    config: LlamaConfig,
    initial: Float32Array,
  ): Promise<GpuGrads | { unavailable: string }> {
    const ctx = await acquireNodeDevice({ label: 'pretrain' });
    if ('unavailable' in ctx) return ctx;
    const engine = await createWebGpuEngine(ctx, { ownsDevice: true });
    const layers = Array.from({ length: config.numHiddenLayers }, (_, i) => i);
    const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
    const offsets = new Map<string, number>();
    let offset = 0;
    for (const { name, shape } of llamaTensorSpecs(config, layers)) {
      const size = shape.reduce((a, b) => a * b, 1);
      tensors.set(name, { shape, data: initial.subarray(offset, offset + size) });
      offsets.set(name, offset);
      offset += size;
    }
    if (offset !== initial.length) {
      engine.dispose();
      throw new Error(`the trainer holds ${initial.length} parameters, the model ${offset}: layouts differ`);
    }
    await engine.loadVariant({ config, layers, tensors }, { keptLayers: layers, trainBase: true });
    const moved = engine.model.entries.find((entry) => entry.offset !== offsets.get(entry.name));
    if (moved !== undefined) {
      engine.dispose();
      throw new Error(`the engine lays out ${moved.name} elsewhere than the trainer: layouts differ`);
    }
    return new GpuGrads(engine, initial, adapterLabel(ctx.adapter));
  }

  /** Copies the trainer's weights into the engine's buffers (they change after every update). */
  private upload(): void {
    const model = this.engine.model;
    model.entries.forEach((entry, i) => {
      this.engine.rt.write(model.params[i], 0, this.params.subarray(entry.offset, entry.offset + entry.size));
    });
  }

  async gradients(batch: Batch): Promise<{ loss: number; tokens: number }> {
    this.upload();
    const result = await this.engine.computeGradients(batch);
    const model = this.engine.model;
    const grads = await model.gather(
      'pretrain-grads',
      model.entries.map((entry, i) => ({ buffer: model.grads![i], n: entry.size })),
    );
    model.entries.forEach((entry, i) => {
      this.grads.set(grads[i], entry.offset);
    });
    return result;
  }

  async loss(batch: Batch): Promise<{ loss: number; tokens: number }> {
    this.upload();
    return this.engine.evaluateLoss(batch);
  }

  async close(): Promise<void> {
    this.engine.dispose();
  }
}
