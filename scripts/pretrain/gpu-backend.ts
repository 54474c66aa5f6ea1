// The WebGPU pretraining backend: PruFed's WebGPU engine in Node (Dawn: a real GPU, or a software
// adapter such as SwiftShader) holds the weights, gradients and AdamW moments on the GPU and runs the
// whole step there (forward, backward, global gradient norm, AdamW with adamwFor's decay rule),
// reading back only the loss and the norm; sync() reads weights and moments back for checkpoints.
import type { AdamWConfig, Batch, LlamaConfig, LossResult } from '@prufed/model';
import {
  adamwUpdate,
  adapterLabel,
  createWebGpuEngine,
  readGradNorm,
  type WebGpuEngine,
} from '@prufed/webgpu';
import { acquireNodeDevice } from '@prufed/webgpu/node';
import {
  adamwFor,
  flatLayout,
  type HostState,
  type LayoutEntry,
  type PretrainBackend,
  type StepResult,
} from './backend';

export class GpuBackend implements PretrainBackend {
  private constructor(
    private readonly engine: WebGpuEngine,
    private readonly host: HostState,
    private readonly layout: LayoutEntry[],
    private readonly m: GPUBuffer[],
    private readonly v: GPUBuffer[],
    readonly description: string,
  ) {}

  /** The engine holding the whole model with base gradients and the host's moments, or why WebGPU is unavailable. */
  static async create(config: LlamaConfig, host: HostState): Promise<GpuBackend | { unavailable: string }> {
    const layout = flatLayout(config);
    const total = layout.reduce((n, e) => n + e.size, 0);
    if (total !== host.params.length) {
      throw new Error(
        `the checkpoint holds ${host.params.length} parameters, the model ${total}: layouts differ`,
      );
    }
    const ctx = await acquireNodeDevice({ label: 'pretrain' });
    if ('unavailable' in ctx) return ctx;
    const engine = await createWebGpuEngine(ctx, { ownsDevice: true });
    const view = (e: LayoutEntry) => host.params.subarray(e.offset, e.offset + e.size);
    const layers = Array.from({ length: config.numHiddenLayers }, (_, i) => i);
    const tensors = new Map(layout.map((e) => [e.name, { shape: e.shape, data: view(e) }]));
    await engine.loadVariant({ config, layers, tensors }, { keptLayers: layers, trainBase: true });
    const moved = engine.model.entries.find((entry, i) => entry.name !== layout[i].name);
    if (moved !== undefined || engine.model.entries.length !== layout.length) {
      engine.dispose();
      throw new Error('the engine orders the weights differently from the trainer: layouts differ');
    }
    const moments = (which: 'm' | 'v') =>
      layout.map((e) =>
        engine.rt.upload(`pretrain/${which}/${e.name}`, host[which].subarray(e.offset, e.offset + e.size)),
      );
    return new GpuBackend(engine, host, layout, moments('m'), moments('v'), adapterLabel(ctx.adapter));
  }

  async step(batch: Batch, adamw: AdamWConfig, step: number): Promise<StepResult> {
    const { rt, model } = this.engine;
    const result = await this.engine.computeGradients(batch);
    if (result.tokens === 0) return { ...result, gradNorm: 0 }; // nothing to learn from: no update
    const norm = await this.engine.clippedGradNorm(model.baseTrainables, adamw.maxGradNorm);
    for (const [i, entry] of this.layout.entries()) {
      await adamwUpdate(
        rt,
        model.params[i],
        model.grads![i],
        this.m[i],
        this.v[i],
        norm,
        entry.size,
        step,
        adamwFor(entry, adamw),
      );
    }
    return { ...result, gradNorm: await readGradNorm(rt, norm) };
  }

  gradients(batch: Batch): Promise<LossResult> {
    return this.engine.computeGradients(batch);
  }

  async readGradients(): Promise<Float32Array> {
    return this.flat(this.engine.model.grads!, 'pretrain-grads');
  }

  loss(batch: Batch): Promise<LossResult> {
    return this.engine.evaluateLoss(batch);
  }

  async sync(): Promise<void> {
    this.host.params.set(await this.flat(this.engine.model.params, 'pretrain-params'));
    this.host.m.set(await this.flat(this.m, 'pretrain-m'));
    this.host.v.set(await this.flat(this.v, 'pretrain-v'));
  }

  /** Buffers laid out as the trainer's entries, read back with one map into one flat array. */
  private async flat(buffers: GPUBuffer[], what: string): Promise<Float32Array> {
    const parts = await this.engine.model.gather(
      what,
      this.layout.map((e, i) => ({ buffer: buffers[i], n: e.size })),
    );
    const out = new Float32Array(this.host.params.length);
    this.layout.forEach((e, i) => {
      out.set(parts[i], e.offset);
    });
    return out;
  }

  async close(): Promise<void> {
    this.engine.dispose();
  }
}
