// probeCapability without WebGPU, and on Node's WebGPU (Dawn; SwiftShader where there is no GPU
// driver) with an injected benchmark and with the real matmul benchmark.
import { describe, expect, it } from 'vitest';
import { type GpuContext, GpuError } from '../gpu-device';
import { matmulVariants } from '../matmul';
import { acquireNodeDevice, createNodeGpu } from '../node-gpu';
import { benchmarkMatmul, type MatmulBenchmark, parseCapabilityReport, probeCapability } from './probe';

// acquireNodeDevice also points Vulkan at SwiftShader where the system has no driver.
const probe = await acquireNodeDevice({ label: 'capability' });
if ('unavailable' in probe) console.warn(`WebGPU capability probe tests skipped: ${probe.unavailable}`);
else probe.device.destroy();

const recorded: MatmulBenchmark = {
  variant: 'tiled',
  shape: { M: 256, N: 256, K: 256 },
  msPerMatmul: 2,
  gflops: 16.777216,
};

describe('probeCapability without WebGPU', () => {
  it('reports why there is no WebGPU and keeps deviceMemory', async () => {
    const report = await probeCapability(undefined, { deviceMemory: 4 });
    expect(report.webgpu).toBeNull();
    expect(report.noWebGpu).toMatch(/navigator\.gpu is undefined/);
    expect(report.deviceMemoryGiB).toBe(4);
    const noAdapter = { requestAdapter: async () => null } as unknown as GPU;
    const none = await probeCapability(noAdapter);
    expect(none).toEqual({
      webgpu: null,
      noWebGpu: expect.stringMatching(/no WebGPU adapter found/),
      deviceMemoryGiB: null,
    });
    expect(parseCapabilityReport(JSON.parse(JSON.stringify(none)))).toEqual(none);
  });
});

describe.skipIf('unavailable' in probe)('probeCapability on Node WebGPU', () => {
  async function nodeGpu(): Promise<GPU> {
    const created = await createNodeGpu();
    if ('unavailable' in created) throw new Error(created.unavailable);
    return created.gpu;
  }

  it('describes the adapter and its limits as JSON, and destroys its device', async () => {
    let used: GpuContext | null = null;
    const report = await probeCapability(await nodeGpu(), { deviceMemory: 8 }, async (ctx) => {
      used = ctx;
      return recorded;
    });
    const webgpu = report.webgpu!;
    expect(webgpu.benchmark).toEqual(recorded);
    expect(webgpu.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 2 ** 20);
    expect(webgpu.limits.maxBufferSize).toBeGreaterThanOrEqual(256 * 2 ** 20);
    expect(webgpu.adapter).toEqual(used!.adapter);
    expect(webgpu.features.includes('shader-f16')).toBe(used!.shaderF16);
    expect(report.deviceMemoryGiB).toBe(8);
    expect(parseCapabilityReport(JSON.parse(JSON.stringify(report)))).toEqual(report);
    expect((await used!.lost).reason).toBe('destroyed');
  });

  it('records a failed benchmark instead of throwing', async () => {
    const report = await probeCapability(await nodeGpu(), {}, async () => {
      throw new GpuError('the GPU device "prufed-probe" was lost');
    });
    expect(report.webgpu!.benchmark).toEqual({ error: 'the GPU device "prufed-probe" was lost' });
  });

  it('times the real matmul kernel long enough to trust, within a second on SwiftShader', async () => {
    const gpu = await nodeGpu();
    const start = performance.now();
    const report = await probeCapability(gpu, {}, benchmarkMatmul);
    const seconds = (performance.now() - start) / 1000;
    const measured = report.webgpu!.benchmark as MatmulBenchmark;
    const { M, N, K } = measured.shape;
    console.log(
      `${report.webgpu!.adapter.description || report.webgpu!.adapter.vendor}: ${measured.variant} matmul ` +
        `(${M}, ${K}) x (${K}, ${N}) in ${measured.msPerMatmul.toFixed(2)} ms = ${measured.gflops.toFixed(2)} GFLOP/s; ` +
        `probe took ${seconds.toFixed(2)} s`,
    );
    expect(measured.gflops).toBeCloseTo((2 * M * N * K) / measured.msPerMatmul / 1e6, 6);
    expect(measured.msPerMatmul >= 10 || M === 2048).toBe(true);
    expect(matmulVariants).toContain(measured.variant);
  });
});
