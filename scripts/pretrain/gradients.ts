// Where pretraining gradients come from: the CPU engine over worker threads (GradPool) or the WebGPU
// engine in Node (GpuGrads). `--engine auto` takes WebGPU where Dawn finds an adapter (a GPU or a
// software one) and the CPU engine where it finds none; where both exist it times one gradient step
// of each on the first batch and keeps the faster (prufed-tiny, B 4: SwiftShader 6.5 s vs the CPU
// engine's 0.55 s on a 2-core EPYC; an H200 0.06 s vs 0.44 s on its Xeon). `cpu` and `webgpu` force one.
import os from 'node:os';
import type { Batch, LlamaConfig } from '@prufed/model';
import { GpuGrads } from './gpu-grads';
import { GradPool } from './pool';

export const PRETRAIN_ENGINES = ['auto', 'cpu', 'webgpu'] as const;
export type PretrainEngine = (typeof PRETRAIN_ENGINES)[number];

/** Gradients of the mean loss of a batch at the weights in `params` (the trainer writes them). */
export interface GradientSource {
  readonly params: Float32Array;
  /** The gradient of the last gradients() call, in the flat layout of `params`. */
  readonly grads: Float32Array;
  gradients(batch: Batch): Promise<{ loss: number; tokens: number }>;
  loss(batch: Batch): Promise<{ loss: number; tokens: number }>;
  close(): Promise<void>;
}

export interface ChosenSource {
  source: GradientSource;
  engine: 'cpu' | 'webgpu';
  /** The hardware in words, for the log, the checkpoint's sittings and the model card. */
  hardware: string;
  /** Why the CPU engine runs although WebGPU was allowed (auto only). */
  fallback?: string;
  /** auto with both engines: seconds per gradient step of each on the first batch. */
  trial?: { webgpu: number; cpu: number };
}

/** Seconds of one gradient step after a warm-up step (pipeline compilation, worker start-up). */
async function secondsPerStep(source: GradientSource, batch: Batch): Promise<number> {
  await source.gradients(batch);
  const start = performance.now();
  await source.gradients(batch);
  return (performance.now() - start) / 1000;
}

export function cpuHardware(workers: number): string {
  return `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, CPU engine on ${workers} worker threads`;
}

/** The gradient source of `engine`; auto times both engines on trialBatch where WebGPU is available. */
export async function createGradientSource(
  engine: PretrainEngine,
  config: LlamaConfig,
  initial: Float32Array,
  workers: number,
  trialBatch: Batch,
): Promise<ChosenSource> {
  if (engine === 'cpu') {
    return {
      source: await GradPool.create(config, initial, workers),
      engine,
      hardware: cpuHardware(workers),
    };
  }
  const gpu = await GpuGrads.create(config, initial);
  if ('unavailable' in gpu) {
    if (engine === 'webgpu') throw new Error(`--engine webgpu: ${gpu.unavailable}`);
    const pool = await GradPool.create(config, initial, workers);
    return { source: pool, engine: 'cpu', hardware: cpuHardware(workers), fallback: gpu.unavailable };
  }
  const webgpu = {
    source: gpu,
    engine: 'webgpu' as const,
    hardware: `${gpu.description}, WebGPU engine (Node, Dawn)`,
  };
  if (engine === 'webgpu') return webgpu;
  const pool = await GradPool.create(config, initial, workers);
  const trial = {
    webgpu: await secondsPerStep(gpu, trialBatch),
    cpu: await secondsPerStep(pool, trialBatch),
  };
  if (trial.webgpu <= trial.cpu) {
    await pool.close();
    return { ...webgpu, trial };
  }
  await gpu.close();
  const fallback = `on ${gpu.description} a step took ${trial.webgpu.toFixed(2)} s, on the CPU engine ${trial.cpu.toFixed(2)} s`;
  return { source: pool, engine: 'cpu', hardware: cpuHardware(workers), fallback, trial };
}
