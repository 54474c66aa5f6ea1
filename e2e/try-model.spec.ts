// "Try the model" in Chromium: a joined volunteer's panel fetches its tier's latest global as merged
// ONNX from the public /models/latest/<tier>.onnx, runs it with onnxruntime-web (WebGPU on
// SwiftShader here, else wasm) and streams a greedy answer; the dashboard's panel does the same for
// a tier the researcher picks. The ORT .wasm comes from the app with the wasm MIME type.
import { expect, type Page, test } from '@playwright/test';
import { joinVolunteer } from './coordinator';
import { dashboardToken } from './fixture';

/** Presses Generate in the page's panel and returns the provider that ran and the answer. */
async function generate(page: Page): Promise<{ provider: string; tokens: number; text: string }> {
  const wasm = page.waitForResponse((response) =>
    /ort-wasm-simd-threaded\.jsep-.*\.wasm$/.test(response.url()),
  );
  const panel = page.getByTestId('try-model');
  await panel.getByLabel('New tokens').fill('8');
  await panel.getByRole('button', { name: 'Generate' }).click();
  const status = panel.getByTestId('try-status');
  await expect(status).toHaveAttribute('data-phase', 'done', { timeout: 45_000 });
  expect((await wasm).headers()['content-type']).toBe('application/wasm');
  return {
    provider: (await status.getAttribute('data-provider')) ?? '',
    tokens: Number(await status.getAttribute('data-tokens')),
    text: (await panel.getByTestId('try-output').textContent()) ?? '',
  };
}

test("the volunteer page's Try the model panel streams an answer of its tier's latest global", async ({
  browser,
}) => {
  const page = await joinVolunteer(browser, 'c');
  const model = page.waitForResponse((response) => response.url().endsWith('/models/latest/c.onnx'));
  const result = await generate(page);
  expect((await model).status()).toBe(200);
  // SwiftShader gives headless Chromium a WebGPU adapter, so ORT's WebGPU execution provider runs.
  expect(result.provider).toBe('webgpu');
  expect(result.tokens).toBeGreaterThan(0);
  expect(result.text.length).toBeGreaterThan(0);
  await expect(page.getByTestId('try-status')).toHaveText(
    new RegExp(`^Tier c, global of round \\d+, on webgpu: ${result.tokens} tokens in \\d+\\.\\d s$`),
  );
  await page.context().close();
});

test("the dashboard's panel runs the tier the researcher picks", async ({ page }) => {
  await page.goto(`/dashboard?token=${dashboardToken}`);
  await page.getByTestId('try-tier').selectOption('a');
  const model = page.waitForResponse((response) => response.url().endsWith('/models/latest/a.onnx'));
  const result = await generate(page);
  expect((await model).status()).toBe(200);
  expect(['webgpu', 'wasm']).toContain(result.provider);
  expect(result.tokens).toBeGreaterThan(0);
});
