// What runs a pretraining step: the CPU engine over worker threads (CpuBackend) or the WebGPU engine
// in Node (GpuBackend). Both do the same step (gradients of the batch's mean loss, clipping of their
// global norm to maxGradNorm, AdamW with weight decay on matrices only) on weights and moments in the
// trainer's flat layout (llamaTensorSpecs order), which sync() brings to the host for checkpoints.
// `--engine auto` takes WebGPU where Dawn finds an adapter (a GPU or a software one) and the CPU
// engine where it finds none; where both exist it times one gradient computation of each on the
// first batch and keeps the faster (prufed-tiny, B 4: SwiftShader 6.5 s vs the CPU engine's 0.55 s on
// a 2-core EPYC; an H200 0.06 s vs 0.44 s on its Xeon). `cpu` and `webgpu` force one.
import os from 'node:os';
import {
  type AdamWConfig,
  type Batch,
  InputError,
  type LlamaConfig,
  type LossResult,
  llamaTensorSpecs,
} from '@prufed/model';
import type { Checkpoint } from './checkpoint';
import { CpuBackend } from './cpu-backend';
import { GpuBackend } from './gpu-backend';

export const PRETRAIN_ENGINES = ['auto', 'cpu', 'webgpu'] as const;
export type PretrainEngine = (typeof PRETRAIN_ENGINES)[number];

/** The run's weights and AdamW moments on the host, in the flat layout: what a checkpoint saves. */
export type HostState = Pick<Checkpoint, 'params' | 'm' | 'v'>;

export interface LayoutEntry {
  name: string;
  shape: number[];
  offset: number;
  size: number;
}

/** The trainer's flat parameter layout: llamaTensorSpecs order, every layer, no gaps. */
export function flatLayout(config: LlamaConfig): LayoutEntry[] {
  const layers = Array.from({ length: config.numHiddenLayers }, (_, i) => i);
  let offset = 0;
  return llamaTensorSpecs(config, layers).map(({ name, shape }) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const entry = { name, shape, offset, size };
    offset += size;
    return entry;
  });
}

/** nanoGPT's rule: weight decay on matrices, none on vectors (RMSNorm gains). */
export function adamwFor(entry: LayoutEntry, adamw: AdamWConfig): AdamWConfig {
  return entry.shape.length === 2 ? adamw : { ...adamw, weightDecay: 0 };
}

export interface StepResult extends LossResult {
  /** Global gradient L2 norm before clipping. */
  gradNorm: number;
}

/** The weights and AdamW moments of a run, and the step that updates them. */
export interface PretrainBackend {
  /** One optimizer step (AdamW's step count `step`, from 1) on the batch; none where it has no targets. */
  step(batch: Batch, adamw: AdamWConfig, step: number): Promise<StepResult>;
  /** Gradients of the batch at the current weights, applied to nothing (timing, tests). */
  gradients(batch: Batch): Promise<LossResult>;
  /** The gradients of the last gradients() or step() call, in the flat layout. */
  readGradients(): Promise<Float32Array>;
  loss(batch: Batch): Promise<LossResult>;
  /** Brings the host's params, m and v (the checkpoint's arrays) up to date with the backend's. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

export interface ChosenBackend {
  backend: PretrainBackend;
  engine: 'cpu' | 'webgpu';
  /** The engine and hardware in words, for the log, the checkpoint's sittings and the model card. */
  hardware: string;
  /** Why the CPU engine runs although WebGPU was allowed (auto only). */
  fallback?: string;
  /** auto with both engines: seconds of one gradient computation of each on the first batch. */
  trial?: { webgpu: number; cpu: number };
}

export function cpuHardware(workers: number): string {
  return `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, CPU engine on ${workers} worker threads`;
}

/** Seconds of one gradient computation after a warm-up one (pipeline compilation, worker start-up). */
async function secondsPerGradient(backend: PretrainBackend, batch: Batch): Promise<number> {
  await backend.gradients(batch);
  const start = performance.now();
  await backend.gradients(batch);
  return (performance.now() - start) / 1000;
}

/**
 * The backend of `engine` on the checkpoint's arrays (the CPU backend trains them in place, the GPU
 * backend copies and syncs them back); auto times both engines on trialBatch where WebGPU is available,
 * saying so through `log` first. Throws InputError for `webgpu` where Node has no WebGPU.
 */
export async function createBackend(
  engine: PretrainEngine,
  config: LlamaConfig,
  checkpoint: HostState,
  workers: number,
  trialBatch: Batch,
  log: (line: string) => void = () => {},
): Promise<ChosenBackend> {
  const cpu = async () => CpuBackend.create(config, checkpoint, workers);
  if (engine === 'cpu') return { backend: await cpu(), engine, hardware: cpuHardware(workers) };
  const gpu = await GpuBackend.create(config, checkpoint);
  if ('unavailable' in gpu) {
    if (engine === 'webgpu') throw new InputError(`--engine webgpu: ${gpu.unavailable}; use --engine cpu`);
    return { backend: await cpu(), engine: 'cpu', hardware: cpuHardware(workers), fallback: gpu.unavailable };
  }
  const webgpu = {
    backend: gpu,
    engine: 'webgpu' as const,
    hardware: `${gpu.description}, WebGPU engine (Node, Dawn)`,
  };
  if (engine === 'webgpu') return webgpu;
  log(`timing one gradient computation on each engine: WebGPU on ${gpu.description}, and the CPU engine`);
  const pool = await cpu();
  const trial = {
    webgpu: await secondsPerGradient(gpu, trialBatch),
    cpu: await secondsPerGradient(pool, trialBatch),
  };
  if (trial.webgpu <= trial.cpu) {
    await pool.close();
    return { ...webgpu, trial };
  }
  await gpu.close();
  const fallback = `on ${gpu.description} a gradient took ${trial.webgpu.toFixed(2)} s, on the CPU engine ${trial.cpu.toFixed(2)} s`;
  return { backend: pool, engine: 'cpu', hardware: cpuHardware(workers), fallback, trial };
}
