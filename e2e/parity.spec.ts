// Parity smoke test: the CPU engine inside the browser's trainer worker gives the same loss,
// gradient norm and trained adapter as the same engine in Node, on the same tiny model and batch.
import { expect, test } from '@playwright/test';
import {
  adapterToPeft,
  createCpuEngine,
  defaultAdamW,
  initLoraAdapter,
  type LoraConfig,
  makeBatch,
} from '@prufed/model';
import { readModelDir } from '@prufed/model/node';
import { modelDir, modelUrl } from './fixture';

const keptLayers = [0, 2];
const lora: LoraConfig = { r: 4, alpha: 8, targetModules: ['q_proj', 'v_proj', 'down_proj'] };
const rows = [
  [256, 72, 101, 108, 108, 111, 257],
  [256, 87, 111, 114, 108, 100],
];

test('the CPU engine in the worker matches Node on a fixed batch', async ({ page }) => {
  const { config, weights } = await readModelDir(modelDir, keptLayers);
  const batch = makeBatch(rows, rows, 258);
  const adapter = adapterToPeft(initLoraAdapter(config, lora, keptLayers, 11)).safetensors;
  const engine = createCpuEngine();
  await engine.loadVariant(weights, { keptLayers });
  const before = await engine.evaluateLoss(batch);
  await engine.setAdapter(initLoraAdapter(config, lora, keptLayers, 11));
  const step = await engine.trainStep(batch, defaultAdamW);
  const after = await engine.evaluateLoss(batch);
  const trained = adapterToPeft(await engine.readAdapter()).safetensors;

  await page.goto('/');
  const browser = await page.evaluate(
    async ({ url, layers, rows, adapter, lora, optimizer }) => {
      const trainer = window.prufedTrainer;
      await trainer.loadModel({ baseUrl: url, keptLayers: layers, engine: 'cpu' });
      const B = rows.length;
      const T = Math.max(...rows.map((row) => row.length));
      const inputIds = new Int32Array(B * T).fill(258);
      const labels = new Int32Array(B * T).fill(-100);
      rows.forEach((row, b) => {
        inputIds.set(row, b * T);
        labels.set(row, b * T);
      });
      const batch = { batchSize: B, seqLen: T, inputIds, labels };
      const before = await trainer.evaluateLoss(batch);
      await trainer.setAdapter(new Uint8Array(adapter), lora);
      const step = await trainer.trainStep(batch, optimizer);
      const after = await trainer.evaluateLoss(batch);
      const trained = [...(await trainer.readAdapter())];
      return { before, step, after, trained };
    },
    { url: modelUrl, layers: keptLayers, rows, adapter: [...adapter], lora, optimizer: defaultAdamW },
  );

  expect(browser.before).toEqual(before);
  expect(browser.step).toEqual(step);
  expect(browser.after).toEqual(after);
  expect(browser.after.loss).toBeLessThan(before.loss);
  expect(browser.trained).toEqual([...trained]);
});
