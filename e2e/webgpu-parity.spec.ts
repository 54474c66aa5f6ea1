// Parity of the WebGPU engine inside the browser's trainer worker (SwiftShader in headless Chromium)
// with the CPU reference engine in Node, on the same tiny model, batch and adapter: the base model's
// loss, one training step's loss and gradient norm, the loss after it and the trained adapter.
//
// Tolerances (both engines compute in f32 and differ only in summation order; observed on
// SwiftShader in brackets): losses 1e-5 relative [6e-8]. Gradient norm 1e-4 relative [4e-8], as it
// sums the squares of every LoRA gradient, each entry carrying that rounding. Adapter 1e-5 absolute
// [1e-7], 1% of the learning rate: the first AdamW step moves each entry by lr * g / (|g| + eps),
// about lr * sign(g), so the rounding of g shows only where |g| is near eps; weight decay and the
// entries' own f32 spacing (~1e-8 at ~0.1) add far less.
import { expect, test } from '@playwright/test';
import {
  adapterFromPeft,
  adapterToPeft,
  createCpuEngine,
  defaultAdamW,
  initLoraAdapter,
  type LoraAdapter,
  type LoraConfig,
  makeBatch,
} from '@prufed/model';
import { readModelDir } from '@prufed/model/node';
import { withRandomB } from '@prufed/model/testing';
import { modelDir, modelUrl } from './fixture';

const keptLayers = [0, 2];
const lora: LoraConfig = { r: 4, alpha: 8, targetModules: ['q_proj', 'v_proj', 'down_proj'] };
const rows = [
  [256, 72, 101, 108, 108, 111, 257],
  [256, 87, 111, 114, 108, 100],
];

/** An adapter with B random too: a fresh one has B = 0, which hides the LoRA path from the loss and zeroes dA. */
function randomAdapter(adapter: LoraAdapter): LoraAdapter {
  return withRandomB(adapter, 5, 0.05);
}

/** Largest |actual - expected| over every A and B of two adapters with the same keys. */
function maxAdapterDifference(actual: LoraAdapter, expected: LoraAdapter): number {
  expect([...actual.weights.keys()]).toEqual([...expected.weights.keys()]);
  let max = 0;
  for (const [key, pair] of expected.weights) {
    const other = actual.weights.get(key)!;
    for (const factor of ['A', 'B'] as const) {
      expect(other[factor].shape).toEqual(pair[factor].shape);
      pair[factor].data.forEach((value, i) => {
        max = Math.max(max, Math.abs(other[factor].data[i] - value));
      });
    }
  }
  return max;
}

test('the WebGPU engine in the worker matches the CPU engine in Node on a fixed batch', async ({ page }) => {
  const { config, weights } = await readModelDir(modelDir, keptLayers);
  const batch = makeBatch(rows, rows, 258);
  const adapter = adapterToPeft(randomAdapter(initLoraAdapter(config, lora, keptLayers, 11)));
  const engine = createCpuEngine();
  await engine.loadVariant(weights, { keptLayers });
  const before = await engine.evaluateLoss(batch);
  await engine.setAdapter(adapterFromPeft(adapter.safetensors, adapter.config));
  const step = await engine.trainStep(batch, defaultAdamW);
  const after = await engine.evaluateLoss(batch);
  const trained = await engine.readAdapter();

  await page.goto('/');
  const browser = await page.evaluate(
    async ({ url, layers, batch, adapter, lora, optimizer }) => {
      const trainer = window.prufedTrainer;
      const capabilities = await trainer.probe();
      const loaded = await trainer.loadModel({ baseUrl: url, keptLayers: layers, engine: 'webgpu' });
      const inputs = {
        ...batch,
        inputIds: Int32Array.from(batch.inputIds),
        labels: Int32Array.from(batch.labels),
      };
      const before = await trainer.evaluateLoss(inputs);
      await trainer.setAdapter(Uint8Array.from(adapter), lora);
      const step = await trainer.trainStep(inputs, optimizer);
      const after = await trainer.evaluateLoss(inputs);
      const trained = [...(await trainer.readAdapter())];
      return { capabilities, engine: loaded.engine, before, step, after, trained };
    },
    {
      url: modelUrl,
      layers: keptLayers,
      batch: {
        batchSize: batch.batchSize,
        seqLen: batch.seqLen,
        inputIds: [...batch.inputIds],
        labels: [...batch.labels],
      },
      adapter: [...adapter.safetensors],
      lora,
      optimizer: defaultAdamW,
    },
  );

  // The worker built the WebGPU engine (loadModel throws rather than fall back) on SwiftShader.
  expect(browser.engine).toBe('webgpu');
  expect(browser.capabilities.engines[0]).toBe('webgpu');
  const gpu = browser.capabilities.gpu;
  expect(`${gpu?.vendor} ${gpu?.architecture} ${gpu?.description}`).toMatch(/swiftshader/i);
  expect(gpu?.isFallbackAdapter).toBe(true);

  const relative = (actual: number, expected: number) => Math.abs(actual - expected) / Math.abs(expected);
  expect(browser.before.tokens).toBe(before.tokens);
  expect(relative(browser.before.loss, before.loss)).toBeLessThan(1e-5);
  expect(browser.step.tokens).toBe(step.tokens);
  expect(relative(browser.step.loss, step.loss)).toBeLessThan(1e-5);
  expect(relative(browser.step.gradNorm, step.gradNorm)).toBeLessThan(1e-4);
  expect(browser.after.tokens).toBe(after.tokens);
  expect(relative(browser.after.loss, after.loss)).toBeLessThan(1e-5);
  expect(browser.after.loss).toBeLessThan(step.loss);

  const trainedInBrowser = adapterFromPeft(Uint8Array.from(browser.trained), adapter.config);
  const initial = adapterFromPeft(adapter.safetensors, adapter.config);
  // The step moved the adapter by about lr per entry, far beyond the tolerance, so the check has teeth.
  expect(maxAdapterDifference(trained, initial)).toBeGreaterThan(100 * 1e-5);
  expect(maxAdapterDifference(trainedInBrowser, trained)).toBeLessThan(1e-5);
});
