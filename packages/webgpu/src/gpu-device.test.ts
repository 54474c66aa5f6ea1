// Device acquisition, error reporting and rebuilding after device loss, on Node's WebGPU (Dawn).
import { describe, expect, it } from 'vitest';
import { acquireDevice, GpuError } from './gpu-device';
import { matmul } from './matmul';
import { acquireNodeDevice } from './node-gpu';
import { GpuRuntime } from './runtime';

const probe = await acquireNodeDevice({ label: 'probe' });
if ('unavailable' in probe) console.warn(`WebGPU device tests skipped: ${probe.unavailable}`);
else probe.device.destroy();

describe('acquireDevice', () => {
  it('says how to proceed when WebGPU is missing', async () => {
    await expect(acquireDevice(undefined)).rejects.toThrow(/navigator.gpu is undefined.*CPU engine/);
    const noAdapter = { requestAdapter: async () => null } as unknown as GPU;
    await expect(acquireDevice(noAdapter)).rejects.toThrow(GpuError);
  });
});

describe.skipIf('unavailable' in probe)('a WebGPU device in Node', () => {
  it('requests the adapter limits training needs and describes the adapter', async () => {
    const ctx = await acquireNodeDevice({ label: 'limits' });
    if ('unavailable' in ctx) throw new Error(ctx.unavailable);
    expect(ctx.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 2 ** 20);
    expect(ctx.limits.maxComputeWorkgroupStorageSize).toBeGreaterThanOrEqual(16384);
    expect(ctx.adapterKey).toBe(
      [ctx.adapter.vendor, ctx.adapter.architecture, ctx.adapter.device, ctx.adapter.description].join('|'),
    );
    expect(ctx.device.features.has('shader-f16')).toBe(ctx.shaderF16);
    ctx.device.destroy();
  });

  it('reports an uncaptured validation error once, with its message', async () => {
    const ctx = await acquireNodeDevice({ label: 'errors' });
    if ('unavailable' in ctx) throw new Error(ctx.unavailable);
    ctx.device.createBuffer({
      label: 'bad',
      size: 4,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE,
    });
    await ctx.device.queue.onSubmittedWorkDone();
    await expect.poll(() => captureCheck(ctx.check)).toMatch(/GPU command on device "errors" failed/);
    expect(() => ctx.check()).not.toThrow();
    ctx.device.destroy();
  });

  it('fails clearly after device loss, and a rebuilt runtime works again', async () => {
    const ctx = await acquireNodeDevice({ label: 'lost' });
    if ('unavailable' in ctx) throw new Error(ctx.unavailable);
    ctx.device.destroy();
    expect((await ctx.lost).reason).toBe('destroyed');
    const rt = new GpuRuntime(ctx);
    expect(() => rt.upload('x', new Float32Array(4))).toThrow(/was lost \(destroyed.*acquire a new device/);
    const x = rt.arena.buffer('x', 4);
    await expect(matmul(rt, x, x, x, 1, 1, 1)).rejects.toThrow(/was lost/);

    const rebuilt = await acquireNodeDevice({ label: 'rebuilt' });
    if ('unavailable' in rebuilt) throw new Error(rebuilt.unavailable);
    const rt2 = new GpuRuntime(rebuilt);
    const one = rt2.upload('one', Float32Array.of(2));
    const out = rt2.arena.buffer('out', 4);
    await matmul(rt2, out, one, one, 1, 1, 1);
    expect([...(await rt2.read(out))]).toEqual([4]);
    rebuilt.device.destroy();
  });
});

function captureCheck(check: () => void): string {
  try {
    check();
    return '';
  } catch (error) {
    return String(error);
  }
}
