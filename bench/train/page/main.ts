// The browser side of `npm run bench:train`: a page the harness (bench/train/main.ts) opens once
// per runner. It fetches a case's files, prepares the runner (PruFed's WebGPU or CPU engine, or
// the TF.js baseline on its webgpu or wasm backend) and times its steps; it also measures the
// adapter's matmul peak with the project's kernels. Everything is reached through window.prufedBench.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-webgpu';
import { createCpuEngine } from '@prufed/model';
import { acquireDevice, createWebGpuEngine, type GpuContext, GpuRuntime } from '@prufed/webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { type BenchCase, type CaseFiles, caseFromFiles } from '../case';
import {
  type MatmulPeak,
  measureMatmulPeak,
  type PreparedRunner,
  prepareEngine,
  type RunnerReport,
  runSteps,
  type StepPlan,
} from '../runners';
import { createTfjsTrainer } from '../tfjs-llama';

export const browserRunners = ['prufed-webgpu', 'tfjs-webgpu', 'tfjs-wasm', 'prufed-cpu'] as const;
export type BrowserRunner = (typeof browserRunners)[number];

export interface BenchPage {
  /** Adapter description and matmul peak of navigator.gpu's default adapter. */
  peak(sizes: number[]): Promise<{ adapter: string; peak: MatmulPeak }>;
  run(runner: BrowserRunner, caseUrl: string, plan: StepPlan): Promise<RunnerReport>;
}

declare global {
  interface Window {
    prufedBench?: BenchPage;
  }
}

function describeAdapter(ctx: GpuContext): string {
  const { description, vendor, architecture, isFallbackAdapter } = ctx.adapter;
  return `${description || vendor} (${vendor}/${architecture}${isFallbackAdapter ? ', fallback' : ''})`;
}

async function loadCase(caseUrl: string): Promise<BenchCase> {
  const names = ['case.json', 'model.safetensors', 'adapter_model.safetensors'] as const;
  const files = {} as CaseFiles;
  for (const name of names) {
    const response = await fetch(new URL(name, caseUrl));
    if (!response.ok) throw new Error(`could not fetch ${name} of ${caseUrl}: HTTP ${response.status}`);
    files[name] = new Uint8Array(await response.arrayBuffer());
  }
  return caseFromFiles(files);
}

async function prepareTfjs(backend: 'webgpu' | 'wasm', c: BenchCase): Promise<PreparedRunner> {
  if (backend === 'wasm') setWasmPaths(new URL('wasm/', location.href).href);
  if (!(await tf.setBackend(backend))) throw new Error(`TF.js could not initialise its ${backend} backend`);
  await tf.ready();
  let device = `TF.js ${tf.version_core} ${backend}`;
  if (backend === 'wasm') {
    const threads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    device += ` (simd ${simd}, threads ${threads})`;
  }
  const trainer = createTfjsTrainer(c);
  return { device, step: () => trainer.step(), dispose: () => trainer.dispose() };
}

async function prepare(runner: BrowserRunner, c: BenchCase): Promise<PreparedRunner> {
  switch (runner) {
    case 'prufed-webgpu': {
      const ctx = await acquireDevice(navigator.gpu, { label: 'bench' });
      return prepareEngine(await createWebGpuEngine(ctx), c, describeAdapter(ctx));
    }
    case 'prufed-cpu':
      return prepareEngine(createCpuEngine(), c, 'JavaScript, one thread');
    case 'tfjs-webgpu':
      return prepareTfjs('webgpu', c);
    case 'tfjs-wasm':
      return prepareTfjs('wasm', c);
  }
}

window.prufedBench = {
  async peak(sizes) {
    const ctx = await acquireDevice(navigator.gpu, { label: 'bench-peak' });
    const rt = new GpuRuntime(ctx);
    try {
      return { adapter: describeAdapter(ctx), peak: await measureMatmulPeak(rt, sizes) };
    } finally {
      rt.dispose();
      ctx.device.destroy();
    }
  },
  async run(runner, caseUrl, plan) {
    const c = await loadCase(caseUrl);
    return runSteps(runner, () => prepare(runner, c), plan);
  },
};
document.getElementById('status')!.textContent = 'ready';
