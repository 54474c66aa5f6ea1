// What every benchmark runner does, in the browser page and in Node alike: prepare a trainer on a
// case, run warm-up steps, then timed steps, and report per-step loss, gradient norm and time. Also
// the matmul peak: the best GFLOP/s of the project's matmul kernels (both variants, large square
// shapes) on a device, the practical peak that runners' achieved GFLOP/s are compared to.
import type { TrainingEngine } from '@prufed/model';
import { type GpuRuntime, matmulVariants, timeMatmul } from '@prufed/webgpu';
import type { BenchCase } from './case';

export interface StepResult {
  loss: number;
  gradNorm: number;
}

/** A trainer ready to run steps on one case. */
export interface PreparedRunner {
  /** Where it runs: adapter or backend description. */
  device: string;
  step(): Promise<StepResult>;
  dispose(): void;
}

export interface StepPlan {
  warmup: number;
  /** Timed steps: at least minSteps, at most maxSteps, as many as fit in budgetSeconds. */
  minSteps: number;
  maxSteps: number;
  budgetSeconds: number;
}

export interface RunnerReport {
  runner: string;
  device: string;
  setupMs: number;
  warmup: number;
  /** Every step, warm-up first. */
  losses: number[];
  gradNorms: number[];
  /** Timed steps only. */
  stepMs: number[];
}

/** Times a prepared runner: warm-up steps (compilation, first uploads) untimed, then timed steps. */
export async function runSteps(
  runner: string,
  prepare: () => Promise<PreparedRunner>,
  plan: StepPlan,
): Promise<RunnerReport> {
  const setupStart = performance.now();
  const prepared = await prepare();
  const setupMs = performance.now() - setupStart;
  const losses: number[] = [];
  const gradNorms: number[] = [];
  const stepMs: number[] = [];
  const record = (result: StepResult) => {
    losses.push(result.loss);
    gradNorms.push(result.gradNorm);
  };
  try {
    let warmupMs = 0;
    for (let i = 0; i < plan.warmup; i++) {
      const start = performance.now();
      record(await prepared.step());
      warmupMs = performance.now() - start;
    }
    const fit = Math.floor((plan.budgetSeconds * 1000) / Math.max(warmupMs, 1));
    const steps = Math.max(plan.minSteps, Math.min(plan.maxSteps, fit));
    for (let i = 0; i < steps; i++) {
      const start = performance.now();
      record(await prepared.step());
      stepMs.push(performance.now() - start);
    }
  } finally {
    prepared.dispose();
  }
  return { runner, device: prepared.device, setupMs, warmup: plan.warmup, losses, gradNorms, stepMs };
}

/** A PruFed TrainingEngine (CPU reference or WebGPU) as a runner: trainStep returns loss and norm. */
export async function prepareEngine(
  engine: TrainingEngine,
  c: BenchCase,
  device: string,
): Promise<PreparedRunner> {
  await engine.loadVariant(c.weights, { keptLayers: c.keptLayers });
  await engine.setAdapter(c.adapter);
  return {
    device,
    async step() {
      const { loss, gradNorm } = await engine.trainStep(c.batch, c.optimizer);
      return { loss, gradNorm };
    },
    dispose: () => engine.dispose(),
  };
}

export interface MatmulPeak {
  gflops: number;
  variant: string;
  size: number;
  /** Every measurement: `${variant} ${size}^3` -> GFLOP/s. */
  all: Record<string, number>;
}

/** Square sizes timed for the peak; --quick times the smallest two. */
export const peakSizes = [256, 512, 1024];

/** Best GFLOP/s of the project's matmul kernels on rt's device, about 0.3 s of work per measurement. */
export async function measureMatmulPeak(
  rt: GpuRuntime,
  sizes: readonly number[] = peakSizes,
): Promise<MatmulPeak> {
  const all: Record<string, number> = {};
  let best: MatmulPeak = { gflops: 0, variant: '', size: 0, all };
  for (const size of sizes) {
    const shape = { M: size, N: size, K: size };
    const flops = 2 * size ** 3;
    for (const variant of matmulVariants) {
      const estimate = await timeMatmul(rt, variant, shape, 1);
      const repetitions = Math.max(1, Math.min(50, Math.round(300 / estimate)));
      const gflops = (flops / (await timeMatmul(rt, variant, shape, repetitions))) * 1e-6;
      all[`${variant} ${size}^3`] = gflops;
      if (gflops > best.gflops) best = { gflops, variant, size, all };
    }
  }
  for (const name of ['a', 'b', 'c']) rt.arena.release(`autotune/${name}`);
  return best;
}
