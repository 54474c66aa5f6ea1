// Parity of the exported ONNX model run by onnxruntime-web in headless Chromium with the CPU reference
// engine in Node: the tiny model's variant with a random non-zero LoRA adapter, merged into the graph
// by exportOnnx (the CPU engine applies it unmerged), gives the same logits (B, T, V) on a fixed batch
// on every execution provider the page offers: wasm always, webgpu where the browser has an adapter
// (SwiftShader here). The page's own ONNX Runtime is used: the build's try-model chunk, which sets
// the wasm paths to the app's assets, imported by its URL.
//
// Tolerance: |onnx - cpu| <= 1e-4 * max|cpu| over all logits. Both compute in f32 and differ only in
// summation order, fused kernels and their exp/rsqrt; the merged W + (alpha/r) B A rounds once more
// than the unmerged path. Each of these is a few f32 ulps (~1e-7 relative) per op, and with two layers
// of C = 32 sums they stay around 1e-6 of the logits' scale; 1e-4 leaves room for that while a wrong
// mask, RoPE, GQA mapping or merge moves logits by far more than 1e-2. Observed on both wasm and webgpu
// (SwiftShader): max diff 1.2e-7 at max|cpu| 0.40, i.e. 3e-7 relative.
import { readdirSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import {
  createCpuEngine,
  initLoraAdapter,
  type LoraAdapter,
  type LoraConfig,
  makeBatch,
} from '@prufed/model';
import { readModelDir } from '@prufed/model/node';
import { withRandomB } from '@prufed/model/testing';
import { type createWebSession, exportOnnx, type onnxLogits } from '@prufed/onnx';
import { modelDir } from './fixture';

/** What the try-model chunk puts on the page as globalThis.prufedOnnx. */
interface PageOnnx {
  createWebSession: typeof createWebSession;
  onnxLogits: typeof onnxLogits;
  ort: typeof import('onnxruntime-web');
}

const keptLayers = [0, 2];
const lora: LoraConfig = { r: 4, alpha: 8, targetModules: ['q_proj', 'v_proj', 'down_proj'] };
const rows = [
  [256, 72, 101, 108, 108, 111, 257],
  [256, 87, 111, 114, 108, 100],
];
const padId = 258;
const rtol = 1e-4;

/** An adapter with B random too: a fresh one has B = 0, which would leave the merge untested. */
function randomAdapter(adapter: LoraAdapter): LoraAdapter {
  return withRandomB(adapter, 5, 0.05);
}

/** The URL of the built try-model chunk (the webServer's vite build writes dist/web/assets). */
function tryModelChunkUrl(): string {
  const chunk = readdirSync('dist/web/assets').find((name) => /^try-model-.*\.js$/.test(name));
  if (chunk === undefined) throw new Error('dist/web/assets has no try-model chunk; run npx vite build');
  return `/assets/${chunk}`;
}

/** Expects |actual - expected| <= rtol * max|expected| everywhere, printing the first values and the max difference. */
function expectClose(provider: string, actual: ArrayLike<number>, expected: ArrayLike<number>): void {
  expect(actual.length, `${provider}: number of logits`).toBe(expected.length);
  let maxDiff = 0;
  let maxAbs = 0;
  for (let i = 0; i < expected.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(actual[i] - expected[i]));
    maxAbs = Math.max(maxAbs, Math.abs(expected[i]));
  }
  const first = (values: ArrayLike<number>) =>
    Array.from(values)
      .slice(0, 4)
      .map((value) => value.toFixed(6))
      .join(', ');
  expect(
    maxDiff,
    `${provider}: max diff ${maxDiff} (max |cpu| ${maxAbs}); onnx [${first(actual)}...] cpu [${first(expected)}...]`,
  ).toBeLessThanOrEqual(rtol * maxAbs);
}

test('the exported ONNX model in onnxruntime-web matches the CPU engine in Node on every provider', async ({
  page,
}) => {
  const { config, weights } = await readModelDir(modelDir, keptLayers);
  const adapter = randomAdapter(initLoraAdapter(config, lora, keptLayers, 11));
  const onnx = exportOnnx(weights, keptLayers, adapter);
  const batch = makeBatch(rows, rows, padId);
  const engine = createCpuEngine();
  await engine.loadVariant(weights, { keptLayers });
  await engine.setAdapter(adapter);
  const expected = await engine.logits(batch); // (B, T, V)

  await page.goto('/');
  const results = await page.evaluate(
    async ({ chunkUrl, model, inputIds, B, T }) => {
      await import(chunkUrl);
      const { createWebSession, onnxLogits, ort } = (globalThis as unknown as { prufedOnnx: PageOnnx })
        .prufedOnnx;
      const bytes = new Uint8Array(model);
      const providers =
        'gpu' in navigator && (await navigator.gpu.requestAdapter()) ? ['wasm', 'webgpu'] : ['wasm'];
      const results: { provider: string; shape: number[]; logits: number[] }[] = [];
      for (const provider of providers) {
        const session = await createWebSession(bytes, { executionProviders: [provider] });
        const out = await onnxLogits(ort, session, Int32Array.from(inputIds), B, T); // (B, T, V)
        await session.release();
        results.push({ provider, shape: out.shape, logits: [...out.data] });
      }
      return results;
    },
    {
      chunkUrl: tryModelChunkUrl(),
      model: [...onnx],
      inputIds: [...batch.inputIds],
      B: batch.batchSize,
      T: batch.seqLen,
    },
  );

  // SwiftShader gives headless Chromium a WebGPU adapter, so both providers run here.
  expect(results.map((result) => result.provider)).toEqual(['wasm', 'webgpu']);
  for (const result of results) {
    expect(result.shape, `${result.provider}: logits shape`).toEqual(expected.shape);
    expectClose(result.provider, result.logits, expected.data);
  }
});
