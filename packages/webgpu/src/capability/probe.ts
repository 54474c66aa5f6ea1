// The worker's capability probe: what WebGPU adapter this device has (description, limits,
// features), how much memory the browser reports, and how fast the real matmul kernel runs here.
// The report is plain JSON: the worker sends it to the server in hello, and tests replay
// recorded reports (profiles/*.json) through chooseTier.
import { FormatError } from '@prufed/model';
import { timeMatmul } from '../autotune';
import { type AdapterDescription, acquireDevice, type GpuContext, GpuError } from '../gpu-device';
import { matmulVariants } from '../matmul';
import { GpuRuntime } from '../runtime';

/** The device limits acquireDevice requests at the adapter's maximum (they bound a variant's buffers). */
export type CapabilityLimits = GpuContext['limits'];
const limitNames: readonly (keyof CapabilityLimits)[] = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxStorageBuffersPerShaderStage',
];

/** One timed matmul, C (M, N) = A (M, K) B (K, N): M plays B * T rows, K and N a projection. */
export interface MatmulBenchmark {
  variant: string;
  shape: { M: number; N: number; K: number };
  msPerMatmul: number;
  gflops: number;
}

export interface WebGpuCapability {
  adapter: AdapterDescription;
  limits: CapabilityLimits;
  /** The device's features, sorted: shader-f16 where the adapter has it (acquireDevice enables it). */
  features: string[];
  /** The measurement, or why it failed (the device could not be made or the kernel failed). */
  benchmark: MatmulBenchmark | { error: string };
}

export interface CapabilityReport {
  /** null without WebGPU; noWebGpu then says why. */
  webgpu: WebGpuCapability | null;
  noWebGpu?: string;
  /** navigator.deviceMemory in GiB (Chrome reports 0.25 to 8, rounded down), null where absent. */
  deviceMemoryGiB: number | null;
}

/** Times the training kernels on a device; tests inject recorded numbers instead. */
export type Benchmark = (ctx: GpuContext) => Promise<MatmulBenchmark>;

/**
 * Training-like products (B * T rows, hidden in, ffn out), small to large: the benchmark stops at
 * the first that takes long enough to time, so a software adapter stops at the first (~30 ms a
 * product) and a discrete GPU goes up to shapes that fill it.
 */
const benchmarkShapes = [
  { M: 128, N: 256, K: 128 },
  { M: 256, N: 256, K: 256 },
  { M: 512, N: 1024, K: 512 },
  { M: 1024, N: 4096, K: 1024 },
  { M: 2048, N: 8192, K: 2048 },
];
/** Milliseconds of timed work that make a measurement trustworthy (timer and submit overheads). */
const minTimedMs = 10;
const repetitions = 1;

/**
 * Times both matmul kernels at growing training-like shapes and returns the faster one's rate at
 * the first shape that takes minTimedMs to time. A few hundred ms at most.
 */
export async function benchmarkMatmul(ctx: GpuContext): Promise<MatmulBenchmark> {
  const rt = new GpuRuntime(ctx);
  try {
    let best: MatmulBenchmark | null = null;
    for (const shape of benchmarkShapes) {
      best = null;
      for (const variant of matmulVariants) {
        const ms = await timeMatmul(rt, variant, shape, repetitions);
        if (best === null || ms < best.msPerMatmul) {
          best = { variant, shape, msPerMatmul: ms, gflops: (2 * shape.M * shape.N * shape.K) / ms / 1e6 };
        }
      }
      if (best!.msPerMatmul * repetitions >= minTimedMs) break;
    }
    return best!;
  } finally {
    rt.dispose();
  }
}

/**
 * Probes WebGPU through `gpu` (navigator.gpu, or createNodeGpu().gpu in Node) on a device of its
 * own, destroyed afterwards, and the memory the browser reports (`nav`: navigator). A missing
 * adapter or a failed benchmark is recorded in the report, not thrown.
 */
export async function probeCapability(
  gpu: GPU | undefined,
  nav: { deviceMemory?: number } = {},
  benchmark: Benchmark = benchmarkMatmul,
): Promise<CapabilityReport> {
  const deviceMemoryGiB =
    typeof nav.deviceMemory === 'number' && nav.deviceMemory > 0 ? nav.deviceMemory : null;
  let ctx: GpuContext;
  try {
    ctx = await acquireDevice(gpu, { label: 'prufed-probe' });
  } catch (error) {
    if (!(error instanceof GpuError)) throw error;
    return { webgpu: null, noWebGpu: error.message, deviceMemoryGiB };
  }
  let measured: WebGpuCapability['benchmark'];
  try {
    measured = await benchmark(ctx);
  } catch (error) {
    if (!(error instanceof GpuError)) throw error;
    measured = { error: error.message };
  } finally {
    ctx.device.destroy();
  }
  return {
    webgpu: {
      adapter: ctx.adapter,
      limits: { ...ctx.limits },
      features: [...ctx.device.features].sort(),
      benchmark: measured,
    },
    deviceMemoryGiB,
  };
}

function fail(path: string, expected: string, value: unknown): never {
  throw new FormatError(`capability report: ${path} must be ${expected}, got ${JSON.stringify(value)}`);
}

function record(value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(path, 'an object', value);
  return value as Record<string, unknown>;
}

function positive(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
    fail(path, 'a positive number', value);
  return value;
}

/** Checks a report that arrived as JSON (from a client, or a recorded profile) and returns it typed. */
export function parseCapabilityReport(json: unknown): CapabilityReport {
  const report = record(json, 'the report');
  if (report.deviceMemoryGiB !== null) positive(report.deviceMemoryGiB, 'deviceMemoryGiB');
  if (report.webgpu === null) {
    if (typeof report.noWebGpu !== 'string')
      fail('noWebGpu', 'a string when webgpu is null', report.noWebGpu);
    return report as unknown as CapabilityReport;
  }
  const webgpu = record(report.webgpu, 'webgpu');
  const adapter = record(webgpu.adapter, 'webgpu.adapter');
  for (const key of ['vendor', 'architecture', 'device', 'description']) {
    if (typeof adapter[key] !== 'string') fail(`webgpu.adapter.${key}`, 'a string', adapter[key]);
  }
  if (typeof adapter.isFallbackAdapter !== 'boolean') {
    fail('webgpu.adapter.isFallbackAdapter', 'true or false', adapter.isFallbackAdapter);
  }
  const limits = record(webgpu.limits, 'webgpu.limits');
  for (const name of limitNames) positive(limits[name], `webgpu.limits.${name}`);
  if (!Array.isArray(webgpu.features) || !webgpu.features.every((f) => typeof f === 'string')) {
    fail('webgpu.features', 'a list of strings', webgpu.features);
  }
  const benchmark = record(webgpu.benchmark, 'webgpu.benchmark');
  if (typeof benchmark.error !== 'string') positive(benchmark.gflops, 'webgpu.benchmark.gflops');
  return report as unknown as CapabilityReport;
}
