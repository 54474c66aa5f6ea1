// The CPU pretraining backend: gradients from the worker-thread pool (GradPool), then global-norm
// clipping and AdamW on the host, on the pool's shared weights and the checkpoint's moments.
import {
  type AdamWConfig,
  adamwUpdate,
  type Batch,
  clipCoefficient,
  type LlamaConfig,
  type LossResult,
  sumOfSquares,
} from '@prufed/model';
import {
  adamwFor,
  flatLayout,
  type HostState,
  type LayoutEntry,
  type PretrainBackend,
  type StepResult,
} from './backend';
import { GradPool } from './pool';

export class CpuBackend implements PretrainBackend {
  private constructor(
    private readonly pool: GradPool,
    private readonly host: HostState,
    private readonly layout: LayoutEntry[],
  ) {}

  static async create(config: LlamaConfig, host: HostState, workers: number): Promise<CpuBackend> {
    return new CpuBackend(await GradPool.create(config, host.params, workers), host, flatLayout(config));
  }

  async step(batch: Batch, adamw: AdamWConfig, step: number): Promise<StepResult> {
    const { pool, host } = this;
    const result = await pool.gradients(batch);
    if (result.tokens === 0) return { ...result, gradNorm: 0 }; // nothing to learn from: no update
    const gradNorm = Math.sqrt(sumOfSquares(pool.grads));
    const gradScale = clipCoefficient(gradNorm, adamw.maxGradNorm);
    for (const entry of this.layout) {
      const [start, end] = [entry.offset, entry.offset + entry.size];
      adamwUpdate(
        pool.params.subarray(start, end),
        pool.grads.subarray(start, end),
        host.m.subarray(start, end),
        host.v.subarray(start, end),
        step,
        adamwFor(entry, adamw),
        gradScale,
      );
    }
    return { ...result, gradNorm };
  }

  gradients(batch: Batch): Promise<LossResult> {
    return this.pool.gradients(batch);
  }

  async readGradients(): Promise<Float32Array> {
    return Float32Array.from(this.pool.grads);
  }

  loss(batch: Batch): Promise<LossResult> {
    return this.pool.loss(batch);
  }

  /** The moments are the host's already; the weights live in the workers' shared buffer. */
  async sync(): Promise<void> {
    this.host.params.set(this.pool.params);
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
