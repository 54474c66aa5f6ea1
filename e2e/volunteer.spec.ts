// The volunteer page in Chromium: the trainer worker's capability probe sees a WebGPU adapter, and
// joining downloads only the assigned layers' tensors, which a reload then reads from IndexedDB.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { expect, type Page, test } from '@playwright/test';
import { parseSafetensorsHeader, safetensorsHeaderLength } from '@prufed/model';
import { modelDir } from './fixture';

/** Bytes a client keeping `keptLayers` needs: the header plus every tensor outside the other layers. */
async function expectedVariantBytes(keptLayers: number[]): Promise<{ variant: number; file: number }> {
  const file = await readFile(path.join(modelDir, 'model.safetensors'));
  const header = parseSafetensorsHeader(file.subarray(0, 8 + safetensorsHeaderLength(file.subarray(0, 8))));
  let variant = header.dataStart;
  for (const [name, info] of header.tensors) {
    const layer = /^model\.layers\.(\d+)\./.exec(name);
    if (layer === null || keptLayers.includes(Number(layer[1]))) variant += info.end - info.begin;
  }
  return { variant, file: file.length };
}

/** Sums the bytes of the model.safetensors range responses the page (and its worker) receives. */
function countRangeBytes(page: Page): { bytes: number } {
  const counter = { bytes: 0 };
  page.on('response', (response) => {
    if (!response.url().endsWith('/model.safetensors') || response.status() !== 206) return;
    counter.bytes += Number(response.headers()['content-length']);
  });
  return counter;
}

test('the worker probes a WebGPU adapter (SwiftShader in headless Chromium)', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByTestId('gpu-status')).toHaveText(/^WebGPU adapter: .*swiftshader/i);
  const capabilities = await page.evaluate(() => window.prufedTrainer.probe());
  expect(capabilities.gpu?.maxStorageBufferBindingSize).toBeGreaterThan(0);
  expect(capabilities.gpu?.maxComputeWorkgroupStorageSize).toBeGreaterThan(0);
  expect(capabilities.engines).toEqual(['webgpu', 'cpu']);
  await expect(page.getByTestId('tier')).toHaveText(
    /^Tier c with the webgpu engine \(software WebGPU adapter/,
  );
});

test('joining downloads only the kept layers, and a reload fetches nothing', async ({ page }) => {
  const network = countRangeBytes(page);
  const { variant, file } = await expectedVariantBytes([0, 1]);
  expect(variant).toBeLessThan(file);

  await page.goto('/?tier=c');
  await expect(page.getByTestId('tier')).toHaveText(/^Tier c .*\?tier=c override/);
  await page.getByRole('button', { name: 'Join training' }).click();
  // Before saying ready, a warm-up step compiled the engine's kernels (the first round pays nothing).
  await expect(page.getByTestId('join-status')).toHaveText(
    /^Joined as .*: tier c, 2 of 4 layers loaded into the webgpu engine .* Warm-up step \(compiles the engine's kernels\): \d+\.\d s\.$/,
  );
  const download = page.getByTestId('download');
  await expect(download).toHaveAttribute('value', String(variant));
  await expect(download).toHaveAttribute('max', String(variant));
  await expect(download).toHaveAttribute('data-fetched-bytes', String(variant));
  await expect.poll(() => network.bytes).toBe(variant);

  await page.getByRole('button', { name: 'Leave' }).click();
  await expect(page.getByRole('button', { name: 'Join training' })).toBeVisible();
  await page.reload();
  network.bytes = 0;
  await page.getByRole('button', { name: 'Join training' }).click();
  await expect(page.getByTestId('join-status')).toHaveText(/^Joined as /);
  await expect(download).toHaveAttribute('value', String(variant));
  await expect(download).toHaveAttribute('data-fetched-bytes', '0');
  expect(network.bytes).toBe(0);
});
