// The two pretraining gradient sources agree: the WebGPU engine (GpuGrads) gives the CPU engine's
// (GradPool) loss and gradients of every base weight on a tiny GQA model, also after the trainer
// changes the weights (GpuGrads uploads them per call). Skips, saying why, where Node has no WebGPU.
// Tolerance as in the engine parity tests: 1e-5 of the largest gradient, loss 1e-5 relative.
import { type Batch, llamaTensorSpecs, randomLlamaWeights } from '@prufed/model';
import { tinyLlamaConfig } from '@prufed/model/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { GpuGrads } from './gpu-grads';
import { createGradientSource, type GradientSource } from './gradients';
import { GradPool } from './pool';

const config = tinyLlamaConfig({ V: 300 });
const layers = Array.from({ length: config.numHiddenLayers }, (_, i) => i);
const weights = randomLlamaWeights(config, { seed: 5, std: 0.08 });
const initial = Float32Array.from(
  llamaTensorSpecs(config, layers).flatMap(({ name }) => [...weights.tensors.get(name)!.data]),
);

function batch(seed: number): Batch {
  const [B, T] = [3, 16];
  const inputIds = Int32Array.from({ length: B * T }, (_, n) => (seed * 53 + n * 89 + ((n * n) % 11)) % 300);
  const labels = Int32Array.from(inputIds);
  labels.fill(-100, 0, 4); // a masked prefix, as after <|bos|>
  return { batchSize: B, seqLen: T, inputIds, labels };
}

function expectClose(actual: Float32Array, expected: Float32Array, what: string) {
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]));
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  }
  expect(scale, `${what}: gradients are not all zero`).toBeGreaterThan(0);
  expect(worst, `${what}: max difference, allowed 1e-5 of ${scale}`).toBeLessThanOrEqual(1e-5 * scale);
}

const gpu = await GpuGrads.create(config, initial);
if ('unavailable' in gpu) console.warn(`WebGPU pretraining tests skipped: ${gpu.unavailable}`);
const cpu = await GradPool.create(config, initial, 2);
afterAll(async () => {
  await cpu.close();
  if (!('unavailable' in gpu)) await gpu.close();
});

describe.skipIf('unavailable' in gpu)('pretraining gradients: WebGPU engine vs CPU engine', () => {
  const g = gpu as GpuGrads;
  const same = async (b: Batch, what: string) => {
    const [rg, rc] = [await g.gradients(b), await cpu.gradients(b)];
    expect(rg.tokens).toBe(rc.tokens);
    expect(Math.abs(rg.loss - rc.loss)).toBeLessThanOrEqual(1e-5 * rc.loss);
    expectClose(g.grads, cpu.grads, what);
    expect(g.grads.length).toBe(initial.length);
  };

  it('loss and every base gradient at the initial weights', async () => {
    await same(batch(1), 'initial');
  });

  it('follows the weights the trainer writes', async () => {
    const before = Float32Array.from(g.grads);
    for (const source of [g, cpu] as GradientSource[]) {
      for (let i = 0; i < source.params.length; i++) source.params[i] = initial[i] * (1 + 0.3 * Math.sin(i));
    }
    await same(batch(1), 'changed weights');
    let moved = 0;
    for (let i = 0; i < before.length; i++) moved = Math.max(moved, Math.abs(g.grads[i] - before[i]));
    expect(moved).toBeGreaterThan(1e-4); // the GPU saw the new weights
    const [lg, lc] = [await g.loss(batch(2)), await cpu.loss(batch(2))];
    expect(Math.abs(lg.loss - lc.loss)).toBeLessThanOrEqual(1e-5 * lc.loss);
  });

  it('auto times both engines and keeps the faster; cpu and webgpu force one', async () => {
    const auto = await createGradientSource('auto', config, initial, 1, batch(3));
    try {
      expect(auto.trial).toBeDefined();
      const { webgpu, cpu: cpuSeconds } = auto.trial!;
      expect(auto.engine).toBe(webgpu <= cpuSeconds ? 'webgpu' : 'cpu');
      expect(auto.hardware).toMatch(auto.engine === 'webgpu' ? /WebGPU engine/ : /CPU engine on 1 worker/);
    } finally {
      await auto.source.close();
    }
    for (const engine of ['cpu', 'webgpu'] as const) {
      const forced = await createGradientSource(engine, config, initial, 1, batch(3));
      expect(forced.engine).toBe(engine);
      expect(forced.trial).toBeUndefined();
      await forced.source.close();
    }
  });
});
