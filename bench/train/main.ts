// `npm run bench:train [-- --quick] [-- --json]`: the same LoRA training step (bench/train/case.ts)
// timed on PruFed's WebGPU engine, TF.js's webgpu and wasm backends and PruFed's CPU engine, all in
// headless Chromium on one adapter, and on PruFed's WebGPU engine in Node (Dawn). Per runner: median
// step time of the timed steps (warm-up excluded), tokens/s, achieved GFLOP/s (flopsPerStep, one
// formula for all) and its share of the matmul peak measured with the project's matmul kernels on the
// same adapter. Cross-checks that every runner's first loss, first gradient norm and second loss
// agree with PruFed's CPU engine, and reports the issue's targets.
// Options: --quick (fewer steps, smaller peak shapes), --json (one JSON object on stdout),
// --shapes default,large, --runners prufed-webgpu,tfjs-webgpu,tfjs-wasm,prufed-cpu,prufed-webgpu-node.
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Page } from '@playwright/test';
import { build } from 'vite';
import { caseToFiles, flopsPerStep, makeBenchCase } from './case';
import { benchSummary, crossCheck, largeShapeTargetLine, type Measured, measure } from './measure';
import { type NodePeak, runWebGpuNode } from './node-runner';
import { benchCommandLine } from './options';
import type { BrowserRunner } from './page/main';
import type { MatmulPeak } from './runners';

const allRunners = ['prufed-webgpu', 'tfjs-webgpu', 'tfjs-wasm', 'prufed-cpu', 'prufed-webgpu-node'] as const;
type RunnerName = (typeof allRunners)[number];
const referenceRunner: RunnerName = 'prufed-cpu';
const targets = { speedupOverTfjsWebgpu: 3 };

const { json, shapes, runners, plan, sizes } = benchCommandLine(allRunners);
/** Progress goes to stderr so that --json leaves stdout to the result. */
const log = (line: string) => process.stderr.write(`${line}\n`);

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const outDir = path.join(os.tmpdir(), 'prufed-bench-train');

/** Builds the bench page with Vite and puts TF.js's wasm binaries next to it (setWasmPaths('wasm/')). */
async function buildPage(): Promise<void> {
  await build({
    configFile: false,
    root: path.join(benchDir, 'page'),
    base: './',
    publicDir: false,
    logLevel: 'warn',
    // Unminified: minifying renames identifiers that TF.js's threaded wasm worker code refers to.
    build: { outDir, emptyOutDir: true, target: 'es2022', minify: false, chunkSizeWarningLimit: 8192 },
  });
  const require = createRequire(import.meta.url);
  const wasmDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm'));
  await mkdir(path.join(outDir, 'wasm'), { recursive: true });
  for (const flavour of ['', '-simd', '-threaded-simd']) {
    const name = `tfjs-backend-wasm${flavour}.wasm`;
    await copyFile(path.join(wasmDir, name), path.join(outDir, 'wasm', name));
  }
}

const mimeTypes: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.wgsl': 'text/plain',
};

/** A static server for outDir, cross-origin isolated so that TF.js's wasm backend may use threads. */
async function serve(): Promise<{ server: Server; url: string }> {
  const server = createServer(async (request, response) => {
    const pathname = decodeURIComponent(new URL(request.url ?? '/', 'http://localhost').pathname);
    const file = path.join(outDir, pathname === '/' ? 'index.html' : pathname);
    if (!file.startsWith(outDir)) {
      response.writeHead(403).end();
      return;
    }
    try {
      const body = await readFile(file);
      response.writeHead(200, {
        'content-type': mimeTypes[path.extname(file)] ?? 'application/octet-stream',
        'cross-origin-opener-policy': 'same-origin',
        'cross-origin-embedder-policy': 'require-corp',
      });
      response.end(body);
    } catch {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the bench server has no port');
  // localhost, not 127.0.0.1: a secure context, which WebGPU needs.
  return { server, url: `http://localhost:${address.port}/` };
}

interface Skipped {
  shape: string;
  runner: RunnerName;
  skipped: string;
}

const loadBefore = os.loadavg();
const started = performance.now();
log(`building the bench page into ${outDir}`);
await rm(outDir, { recursive: true, force: true });
await buildPage();
for (const shape of shapes) {
  const files = caseToFiles(makeBenchCase(shape));
  const dir = path.join(outDir, 'cases', shape.name);
  await mkdir(dir, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) await writeFile(path.join(dir, name), bytes);
}
const { server, url } = await serve();
/** Runs fn in a bench page of a fresh browser, so that a crashed or leaking runner spoils nothing after it. */
async function inPage<T>(fn: (page: Page) => Promise<T>): Promise<T> {
  // The flags of playwright.config.ts: --enable-unsafe-webgpu exposes SwiftShader's adapter headless.
  const browser = await chromium.launch({
    executablePath: process.env.PRUFED_CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--enable-unsafe-webgpu',
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  try {
    const page = await browser.newPage();
    page.on('pageerror', (error) => log(`  page error: ${error.message}`));
    await page.goto(url);
    await page.waitForFunction(() => window.prufedBench !== undefined);
    return await fn(page);
  } finally {
    await browser.close();
  }
}

const results: Measured[] = [];
const skipped: Skipped[] = [];
let browserPeak: { adapter: string; peak: MatmulPeak } | null = null;
const nodePeak: NodePeak = {};
try {
  if (runners.some((r) => r !== 'prufed-cpu' && r !== 'prufed-webgpu-node' && r !== 'tfjs-wasm')) {
    log(`measuring the browser adapter's matmul peak (sizes ${sizes.join(', ')})`);
    browserPeak = await inPage((page) => page.evaluate((s) => window.prufedBench!.peak(s), sizes));
    log(`  ${browserPeak.adapter}: ${browserPeak.peak.gflops.toFixed(2)} GFLOP/s`);
  }
  for (const shape of shapes) {
    for (const runner of runners) {
      log(`${shape.name}: ${runner}`);
      try {
        if (runner === 'prufed-webgpu-node') {
          results.push(await runWebGpuNode(shape, plan, sizes, nodePeak, log));
          continue;
        }
        const report = await inPage((page) =>
          page.evaluate(([r, caseUrl, p]) => window.prufedBench!.run(r, caseUrl, p), [
            runner as BrowserRunner,
            `${url}cases/${shape.name}/`,
            plan,
          ] as const),
        );
        const onGpu = runner === 'prufed-webgpu' || runner === 'tfjs-webgpu';
        results.push(measure(shape, report, onGpu ? (browserPeak?.peak ?? null) : null));
      } catch (error) {
        const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
        skipped.push({ shape: shape.name, runner, skipped: reason });
        log(`  skipped: ${reason}`);
      }
    }
  }
} finally {
  server.close();
}

const problems = crossCheck(results, referenceRunner);
const find = (shape: string, runner: RunnerName) =>
  results.find((r) => r.shape === shape && r.runner === runner);
const targetLines: string[] = [];
for (const shape of shapes) {
  const ours = find(shape.name, 'prufed-webgpu');
  const theirs = find(shape.name, 'tfjs-webgpu');
  if (ours && theirs) {
    const speedup = ours.tokensPerSecond / theirs.tokensPerSecond;
    targetLines.push(
      `${shape.name}: PruFed WebGPU / TF.js WebGPU tokens/s = ${speedup.toFixed(2)}x ` +
        `(target >= ${targets.speedupOverTfjsWebgpu}x: ${speedup >= targets.speedupOverTfjsWebgpu ? 'met' : 'NOT met'})`,
    );
  }
}
targetLines.push(...largeShapeTargetLine(results, 'prufed-webgpu', 'PruFed WebGPU'));

const summary = benchSummary({
  loadBefore,
  started,
  plan,
  peaks: { browser: browserPeak, node: nodePeak.peak === undefined ? null : nodePeak },
  shapes,
  results,
  skipped,
  problems,
  targets: targetLines,
});

if (json) {
  process.stdout.write(`${JSON.stringify(summary)}\n`);
} else {
  const out: string[] = [];
  const [l1, l5] = loadBefore;
  out.push(
    `machine: ${summary.machine.cpu}, ${summary.machine.cores} cores, load average ${l1.toFixed(2)} ${l5.toFixed(2)} before, ${summary.machine.loadAfter[0].toFixed(2)} after`,
  );
  if (browserPeak)
    out.push(
      `browser adapter ${browserPeak.adapter}: matmul peak ${browserPeak.peak.gflops.toFixed(2)} GFLOP/s (${browserPeak.peak.variant} ${browserPeak.peak.size}^3)`,
    );
  if (nodePeak.peak)
    out.push(
      `Node adapter ${nodePeak.adapter}: matmul peak ${nodePeak.peak.gflops.toFixed(2)} GFLOP/s (${nodePeak.peak.variant} ${nodePeak.peak.size}^3)`,
    );
  for (const shape of shapes) {
    const s = shape;
    out.push(
      `\n${s.name}: L=${s.L} C=${s.C} NH=${s.NH} NKV=${s.NKV} F=${s.F} V=${s.V} tied, B=${s.B} T=${s.T}, R=${s.R} on 7 targets; ` +
        `${(flopsPerStep(s) * 1e-9).toFixed(2)} GFLOP per step`,
    );
    out.push(
      `  ${'runner'.padEnd(20)}${'ms/step'.padStart(10)}${'tokens/s'.padStart(10)}${'GFLOP/s'.padStart(9)}${'of peak'.padStart(9)}  steps  loss1     device`,
    );
    for (const r of results.filter((x) => x.shape === s.name)) {
      out.push(
        `  ${r.runner.padEnd(20)}${r.medianMs.toFixed(0).padStart(10)}${r.tokensPerSecond.toFixed(0).padStart(10)}` +
          `${r.gflops.toFixed(2).padStart(9)}${(r.peakShare === null ? '-' : `${(100 * r.peakShare).toFixed(0)}%`).padStart(9)}` +
          `  ${String(r.stepMs.length).padStart(5)}  ${r.losses[0].toFixed(5)}  ${r.device}`,
      );
    }
    for (const x of skipped.filter((k) => k.shape === s.name))
      out.push(`  ${x.runner.padEnd(20)} skipped: ${x.skipped}`);
  }
  out.push(
    `\ncross-check against ${referenceRunner} (step-1 loss, step-1 grad norm, step-2 loss): ${problems.length === 0 ? 'ok' : 'MISMATCH'}`,
  );
  for (const p of problems) out.push(`  ${p}`);
  out.push('targets:');
  for (const t of targetLines) out.push(`  ${t}`);
  out.push(
    `(${summary.seconds.toFixed(0)} s; median of timed steps after ${plan.warmup} warm-up; FLOPs: ${summary.flopFormula})`,
  );
  process.stdout.write(`${out.join('\n')}\n`);
}
process.exit(problems.length === 0 ? 0 : 1);
