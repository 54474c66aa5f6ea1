// Parity of the WebGPU engine with the CPU reference engine on a tiny GQA model, under the kept
// layers of two pruning strategies: logits, loss, LoRA and base gradients, a 20-step AdamW loss
// trajectory (with the packed adapter's padding still zero after it), no allocation in steady
// state, bad input and device loss. Skips, saying why, where
// no WebGPU adapter exists.
//
// Tolerances (both engines compute in f32 and differ only in summation order; observed on
// SwiftShader in brackets): logits 1e-5 of the largest logit [5e-7]; loss 1e-5 relative; gradients
// 1e-5 of each tensor's largest entry [1e-6]. Training amplifies rounding (AdamW divides by
// sqrt(v), which is tiny for small gradients, and lr 1e-2 on every base weight), so the 20-step
// trajectory gets loss and gradient norm within 1e-3 relative per step [2.4e-4] and the final
// weights 3e-3 of each tensor's largest entry [6e-4].
import {
  type AdamWConfig,
  type Batch,
  type CpuEngine,
  createCpuEngine,
  defaultAdamW,
  InputError,
  initLoraAdapter,
  type LoraAdapter,
  loraKey,
  loraModules,
  randomLlamaWeights,
} from '@prufed/model';
import { tinyLlamaConfig, withRandomB } from '@prufed/model/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { GpuError } from '../gpu-device';
import { acquireNodeDevice } from '../node-gpu';
import { createWebGpuEngine, type WebGpuEngine } from './engine';

// 4 layers, C 64, NH 4, NKV 2 (HS 16), F 128, V 300.
const config = tinyLlamaConfig({ V: 300 });
const weights = randomLlamaWeights(config, { seed: 7, std: 0.08 });
// Kept layers of `top` and `alternate-odd` keeping 2 of 4.
const strategies: [string, number[]][] = [
  ['top', [0, 1]],
  ['alternate-odd', [0, 2]],
];
const optimizer: AdamWConfig = { ...defaultAdamW, lr: 1e-2 };

/**
 * An adapter with B random too (a fresh one has B = 0, which makes every dA zero). Rank 3 makes
 * k_proj's and v_proj's B (32 x 3 floats) no multiple of 256 bytes, so the packed adapter has padding.
 */
function adapterFor(keptLayers: number[]): LoraAdapter {
  const adapter = initLoraAdapter(config, { r: 3, alpha: 6, targetModules: [...loraModules] }, keptLayers, 3);
  return withRandomB(adapter, 11, 0.05);
}

/** B = 2, T = 16, pseudo-random tokens; row 1's last three targets masked. */
function makeBatch(seed: number): Batch {
  const B = 2;
  const T = 16;
  const inputIds = Int32Array.from({ length: B * T }, (_, n) => (seed * 131 + n * 97 + ((n * n) % 13)) % 300);
  const labels = Int32Array.from(inputIds);
  labels.fill(-100, B * T - 3);
  return { batchSize: B, seqLen: T, inputIds, labels };
}

/** Throws unless |actual - expected| <= tolerance * max|expected| everywhere; prints the first values. */
function expectClose(actual: Float32Array, expected: Float32Array, tolerance: number, what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let scale = 0;
  for (const e of expected) scale = Math.max(scale, Math.abs(e));
  let maxDiff = 0;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const diff = Math.abs(actual[i] - expected[i]);
    if (!(diff <= maxDiff)) {
      maxDiff = diff;
      worst = i;
    }
  }
  if (!(maxDiff <= tolerance * scale)) {
    const first = (v: Float32Array) => Array.from(v.subarray(0, 6), (x) => x.toExponential(4)).join(' ');
    throw new Error(
      `${what}: max difference ${maxDiff} at ${worst} (got ${actual[worst]}, expected ${expected[worst]}), ` +
        `allowed ${tolerance} * ${scale}\n  got      ${first(actual)}\n  expected ${first(expected)}`,
    );
  }
}

function expectSameAdapter(
  actual: LoraAdapter,
  expected: LoraAdapter,
  tolerance: number,
  what: string,
): void {
  expect(actual.layers).toEqual(expected.layers);
  for (const layer of expected.layers) {
    for (const module of expected.config.targetModules) {
      const key = loraKey(layer, module);
      const [a, e] = [actual.weights.get(key)!, expected.weights.get(key)!];
      expect(a.A.shape).toEqual(e.A.shape);
      expect(a.B.shape).toEqual(e.B.shape);
      expectClose(a.A.data, e.A.data, tolerance, `${what} ${key} A`);
      expectClose(a.B.data, e.B.data, tolerance, `${what} ${key} B`);
    }
  }
}

const acquired = await acquireNodeDevice({ label: 'engine-test' });
if ('unavailable' in acquired) console.warn(`WebGPU engine tests skipped: ${acquired.unavailable}`);
const gpu = 'unavailable' in acquired ? null : await createWebGpuEngine(acquired);
afterAll(() => {
  gpu?.dispose();
  if (!('unavailable' in acquired)) acquired.device.destroy();
});

async function loadBoth(keptLayers: number[], trainBase: boolean): Promise<[WebGpuEngine, CpuEngine]> {
  const cpu = createCpuEngine();
  for (const engine of [gpu!, cpu]) {
    await engine.loadVariant(weights, { keptLayers, trainBase });
    await engine.setAdapter(adapterFor(keptLayers));
  }
  return [gpu!, cpu];
}

describe.skipIf(gpu === null)('WebGpuEngine matches the CPU engine', () => {
  for (const [strategy, keptLayers] of strategies) {
    it(`logits, loss and LoRA gradients (${strategy}: layers ${keptLayers})`, async () => {
      const [g, c] = await loadBoth(keptLayers, false);
      const batch = makeBatch(1);
      const [logitsGpu, logitsCpu] = [await g.logits(batch), await c.logits(batch)];
      expect(logitsGpu.shape).toEqual([2, 16, config.vocabSize]);
      expectClose(logitsGpu.data, logitsCpu.data, 1e-5, 'logits');
      const [lossGpu, lossCpu] = [await g.computeGradients(batch), await c.computeGradients(batch)];
      expect(lossGpu.tokens).toBe(lossCpu.tokens);
      expect(Math.abs(lossGpu.loss - lossCpu.loss)).toBeLessThan(1e-5 * lossCpu.loss);
      expectSameAdapter(await g.readAdapterGradients(), await c.readAdapterGradients(), 1e-5, 'dLoRA');
      expectSameAdapter(await g.readAdapter(), await c.readAdapter(), 0, 'LoRA');
      const evaluated = await g.evaluateLoss(batch);
      expect(evaluated).toEqual(lossGpu);
      const [hiddenGpu, hiddenCpu] = [await g.hiddenStates(batch), await c.hiddenStates(batch)];
      expect(hiddenGpu.length).toBe(keptLayers.length + 1);
      for (const [i, h] of hiddenCpu.entries()) expectClose(hiddenGpu[i], h, 1e-5, `hidden state ${i}`);
    });
  }

  it('base-weight gradients with trainBase (alternate-odd)', async () => {
    const [g, c] = await loadBoth([0, 2], true);
    const batch = makeBatch(2);
    await g.computeGradients(batch);
    await c.computeGradients(batch);
    const [gradsGpu, gradsCpu] = [await g.readBaseGradients(), await c.readBaseGradients()];
    expect([...gradsGpu.keys()]).toEqual([...gradsCpu.keys()]);
    for (const [name, expected] of gradsCpu) {
      expect(gradsGpu.get(name)!.shape).toEqual(expected.shape);
      expectClose(gradsGpu.get(name)!.data, expected.data, 1e-5, `d${name}`);
    }
    expectSameAdapter(await g.readAdapterGradients(), await c.readAdapterGradients(), 1e-5, 'dLoRA');
  });

  it('20 AdamW steps follow the CPU trajectory and allocate nothing after the first', async () => {
    const [g, c] = await loadBoth([0, 2], true);
    const batches = [makeBatch(3), makeBatch(4)];
    let afterFirst = g.rt.counters();
    for (let step = 0; step < 20; step++) {
      const batch = batches[step % 2];
      const [resultGpu, resultCpu] = [
        await g.trainStep(batch, optimizer),
        await c.trainStep(batch, optimizer),
      ];
      expect(resultGpu.tokens).toBe(resultCpu.tokens);
      expect(Math.abs(resultGpu.loss - resultCpu.loss), `loss at step ${step}`).toBeLessThan(
        1e-3 * resultCpu.loss,
      );
      expect(Math.abs(resultGpu.gradNorm - resultCpu.gradNorm), `gradNorm at step ${step}`).toBeLessThan(
        1e-3 * resultCpu.gradNorm,
      );
      if (step === 0) afterFirst = g.rt.counters();
    }
    const now = g.rt.counters();
    expect(now.buffersCreated).toBe(afterFirst.buffersCreated);
    expect(now.pipelinesCompiled).toBe(afterFirst.pipelinesCompiled);
    expectSameAdapter(await g.readAdapter(), await c.readAdapter(), 3e-3, 'trained LoRA');
    const [baseGpu, baseCpu] = [await g.readBaseWeights(), await c.readBaseWeights()];
    for (const [name, expected] of baseCpu) expectClose(baseGpu.get(name)!.data, expected.data, 3e-3, name);
    // The packed adapter's padding (tensors start at 256-byte offsets) is never written: still 0.
    const lora = g.model.lora!;
    const [packed] = lora.trainables;
    const used = new Uint8Array(packed.n);
    for (const e of lora.entries) {
      used.fill(1, e.offsetA, e.offsetA + e.weights.R * e.IN);
      used.fill(1, e.offsetB, e.offsetB + e.OUT * e.weights.R);
    }
    expect(used.includes(0), 'this adapter has padding').toBe(true);
    for (const buffer of [packed.param, packed.grad]) {
      const padding = (await g.rt.read(buffer, packed.n)).filter((_, i) => used[i] === 0);
      expect(
        padding.every((x) => x === 0),
        `padding of ${buffer.label}`,
      ).toBe(true);
    }
  });

  it('untied embeddings: repeated gradients of every base weight stay fresh (no sums across steps)', async () => {
    // lm_head and embed_tokens then have separate gradient buffers: the first is written by its
    // matmul, the second summed by the embedding's backward, so it must be zeroed every step.
    const untied = tinyLlamaConfig({ V: 300, tied: false });
    const untiedWeights = randomLlamaWeights(untied, { seed: 8, std: 0.08 });
    const cpu = createCpuEngine();
    for (const engine of [gpu!, cpu])
      await engine.loadVariant(untiedWeights, { keptLayers: [1, 3], trainBase: true });
    for (const seed of [6, 7, 6]) {
      await gpu!.computeGradients(makeBatch(seed));
      await cpu.computeGradients(makeBatch(seed));
    }
    const [gradsGpu, gradsCpu] = [await gpu!.readBaseGradients(), await cpu.readBaseGradients()];
    expect(gradsCpu.has('lm_head.weight')).toBe(true);
    for (const [name, expected] of gradsCpu)
      expectClose(gradsGpu.get(name)!.data, expected.data, 1e-5, `d${name}`);
  });

  it('rejects bad input as the CPU engine does, and a batch without targets updates nothing', async () => {
    const [g] = await loadBoth([0, 1], false);
    const bad = makeBatch(5);
    bad.inputIds[3] = config.vocabSize;
    await expect(g.evaluateLoss(bad)).rejects.toThrow(InputError);
    await expect(g.readBaseGradients()).rejects.toThrow(/trainBase: true/);
    const lacking = { ...weights, layers: [0] };
    await expect(g.loadVariant(lacking, { keptLayers: [0, 1] })).rejects.toThrow(/lack kept layer\(s\) 1/);
    // Still loaded: 2 rows x 15 targets, less the 3 masked ones.
    expect((await g.evaluateLoss(makeBatch(5))).tokens).toBe(27);
    const masked = makeBatch(5);
    masked.labels.fill(-100);
    const before = await g.readAdapter();
    const result = await g.trainStep(masked, optimizer);
    expect(result.tokens).toBe(0);
    expect(result.loss).toBeNaN();
    expectSameAdapter(await g.readAdapter(), before, 0, 'untouched LoRA');
  });

  it('turns device loss into a GpuError, and a new engine on a new device works', async () => {
    const ctx = await acquireNodeDevice({ label: 'engine-lost-test' });
    if ('unavailable' in ctx) throw new Error(ctx.unavailable);
    const engine = await createWebGpuEngine(ctx);
    await engine.loadVariant(weights, { keptLayers: [0] });
    ctx.device.destroy();
    await ctx.lost;
    await expect(engine.evaluateLoss(makeBatch(6))).rejects.toThrow(GpuError);
    await expect(engine.evaluateLoss(makeBatch(6))).rejects.toThrow(/rebuild the engine/);
    const fresh = await acquireNodeDevice({ label: 'engine-rebuilt-test' });
    if ('unavailable' in fresh) throw new Error(fresh.unavailable);
    const rebuilt = await createWebGpuEngine(fresh);
    await rebuilt.loadVariant(weights, { keptLayers: [0] });
    const cpu = createCpuEngine();
    await cpu.loadVariant(weights, { keptLayers: [0] });
    const batch = makeBatch(6);
    const [lossGpu, lossCpu] = [await rebuilt.evaluateLoss(batch), await cpu.evaluateLoss(batch)];
    expect(Math.abs(lossGpu.loss - lossCpu.loss)).toBeLessThan(1e-5 * lossCpu.loss);
    rebuilt.dispose();
    fresh.device.destroy();
  });
});
