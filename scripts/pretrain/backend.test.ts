// The two pretraining backends agree: the WebGPU engine (GpuBackend) gives the CPU engine's
// (CpuBackend) loss and gradients of every base weight on a tiny GQA model, and the same weights and
// AdamW moments after optimizer steps (clipped, with weight decay on matrices only). Skips, saying
// why, where Node has no WebGPU. Tolerances as in the engine parity tests: gradients 1e-5 of the
// largest, loss 1e-5 relative; after steps, loss and norm 1e-3 relative and weights/moments 3e-3
// of the largest entry (AdamW divides by sqrt(v), which amplifies rounding).
import { type AdamWConfig, type Batch, randomLlamaWeights } from '@prufed/model';
import { tinyLlamaConfig } from '@prufed/model/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { adamwFor, createBackend, flatLayout } from './backend';
import { CpuBackend } from './cpu-backend';
import { GpuBackend } from './gpu-backend';

const config = tinyLlamaConfig({ V: 300 });
const weights = randomLlamaWeights(config, { seed: 5, std: 0.08 });
const initial = Float32Array.from(
  flatLayout(config).flatMap(({ name }) => [...weights.tensors.get(name)!.data]),
);
const fresh = () => ({
  params: Float32Array.from(initial),
  m: new Float32Array(initial.length),
  v: new Float32Array(initial.length),
});
// lr high enough that every weight moves; maxGradNorm low enough that clipping acts
const adamw: AdamWConfig = {
  lr: 1e-2,
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-8,
  weightDecay: 0.1,
  maxGradNorm: 0.5,
};

function batch(seed: number): Batch {
  const [B, T] = [3, 16];
  const inputIds = Int32Array.from({ length: B * T }, (_, n) => (seed * 53 + n * 89 + ((n * n) % 11)) % 300);
  const labels = Int32Array.from(inputIds);
  labels.fill(-100, 0, 4); // a masked prefix, as after <|bos|>
  return { batchSize: B, seqLen: T, inputIds, labels };
}

function expectClose(actual: Float32Array, expected: Float32Array, tolerance: number, what: string) {
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]));
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  }
  expect(scale, `${what}: not all zero`).toBeGreaterThan(0);
  expect(worst, `${what}: max difference, allowed ${tolerance} of ${scale}`).toBeLessThanOrEqual(
    tolerance * scale,
  );
}

const relative = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

describe('pretraining layout and decay rule', () => {
  it('lays every tensor out once, without gaps, and decays matrices only', () => {
    const layout = flatLayout(config);
    expect(layout.reduce((n, e) => (e.offset === n ? n + e.size : Number.NaN), 0)).toBe(initial.length);
    const gain = layout.find((e) => e.shape.length === 1)!;
    const matrix = layout.find((e) => e.shape.length === 2)!;
    expect(gain.name).toMatch(/norm/);
    expect(adamwFor(gain, adamw).weightDecay).toBe(0);
    expect(adamwFor(matrix, adamw)).toBe(adamw);
  });
});

const [hostGpu, hostCpu] = [fresh(), fresh()];
const gpu = await GpuBackend.create(config, hostGpu);
if ('unavailable' in gpu) console.warn(`WebGPU pretraining tests skipped: ${gpu.unavailable}`);
const cpu = await CpuBackend.create(config, hostCpu, 2);
afterAll(async () => {
  await cpu.close();
  if (!('unavailable' in gpu)) await gpu.close();
});

describe.skipIf('unavailable' in gpu)('pretraining backends: WebGPU engine vs CPU engine', () => {
  const g = gpu as GpuBackend;

  it('loss and every base gradient at the initial weights', async () => {
    const [rg, rc] = [await g.gradients(batch(1)), await cpu.gradients(batch(1))];
    expect(rg.tokens).toBe(rc.tokens);
    expect(relative(rg.loss, rc.loss)).toBeLessThanOrEqual(1e-5);
    expectClose(await g.readGradients(), await cpu.readGradients(), 1e-5, 'gradients');
  });

  it('three AdamW steps: same losses, norms, weights and moments, synced to the host', async () => {
    for (let step = 1; step <= 3; step++) {
      const [rg, rc] = [await g.step(batch(step), adamw, step), await cpu.step(batch(step), adamw, step)];
      expect(relative(rg.loss, rc.loss), `step ${step} loss`).toBeLessThanOrEqual(1e-3);
      expect(relative(rg.gradNorm, rc.gradNorm), `step ${step} norm`).toBeLessThanOrEqual(1e-3);
      expect(rc.gradNorm, 'clipping acts').toBeGreaterThan(adamw.maxGradNorm);
    }
    expect(hostGpu.params).toEqual(initial); // nothing reaches the host before sync
    await Promise.all([g.sync(), cpu.sync()]);
    for (const which of ['params', 'm', 'v'] as const) {
      expectClose(hostGpu[which], hostCpu[which], 3e-3, which);
    }
    const moved = hostCpu.params.reduce((n, x, i) => n + (x !== initial[i] ? 1 : 0), 0);
    expect(moved).toBeGreaterThan(0.99 * initial.length);
    const [lg, lc] = [await g.loss(batch(9)), await cpu.loss(batch(9))];
    expect(relative(lg.loss, lc.loss)).toBeLessThanOrEqual(1e-3);
  });

  it('a batch without targets updates nothing on either engine', async () => {
    const masked = batch(4);
    masked.labels.fill(-100);
    for (const backend of [g, cpu]) {
      const result = await backend.step(masked, adamw, 4);
      expect(result).toMatchObject({ tokens: 0, gradNorm: 0 });
    }
    const before = { params: Float32Array.from(hostGpu.params), m: Float32Array.from(hostCpu.m) };
    await Promise.all([g.sync(), cpu.sync()]);
    expect(hostGpu.params).toEqual(before.params);
    expect(hostCpu.m).toEqual(before.m);
  });

  it('auto times both engines and keeps the faster; cpu and webgpu force one', async () => {
    const auto = await createBackend('auto', config, fresh(), 1, batch(3));
    try {
      expect(auto.trial).toBeDefined();
      const { webgpu, cpu: cpuSeconds } = auto.trial!;
      expect(auto.engine).toBe(webgpu <= cpuSeconds ? 'webgpu' : 'cpu');
      expect(auto.hardware).toMatch(auto.engine === 'webgpu' ? /WebGPU engine/ : /CPU engine on 1 worker/);
    } finally {
      await auto.backend.close();
    }
    for (const engine of ['cpu', 'webgpu'] as const) {
      const forced = await createBackend(engine, config, fresh(), 1, batch(3));
      expect(forced.engine).toBe(engine);
      expect(forced.trial).toBeUndefined();
      await forced.backend.close();
    }
  });
});
