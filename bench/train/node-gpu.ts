// The Node-only part of `npm run bench:train`, for machines with a GPU but no Chromium (a CUDA
// server, CI): PruFed's WebGPU engine in Node (Dawn, runner prufed-webgpu-node) and PruFed's CPU
// engine (prufed-cpu, the cross-check reference) on the same cases, step plan, FLOP formula and
// matmul-peak measurement as bench/train/main.ts, printing the same JSON fields (browser peak null).
// It imports neither Vite nor Playwright. The adapter Dawn picked is printed in full, so that a log
// shows whether a real GPU or a software adapter (SwiftShader) ran the kernels.
// Run: npx tsx bench/train/node-gpu.ts [--quick] [--json] [--shapes default,large]
//      [--runners prufed-webgpu-node,prufed-cpu]
import os from 'node:os';
import { createCpuEngine } from '@prufed/model';
import { makeBenchCase } from './case';
import { benchSummary, crossCheck, largeShapeTargetLine, type Measured, measure } from './measure';
import { type NodePeak, runWebGpuNode } from './node-runner';
import { benchCommandLine } from './options';
import { prepareEngine, runSteps } from './runners';

const allRunners = ['prufed-webgpu-node', 'prufed-cpu'] as const;
type RunnerName = (typeof allRunners)[number];

const { json, shapes, runners, plan, sizes } = benchCommandLine(allRunners);
const log = (line: string) => process.stderr.write(`${line}\n`);

const loadBefore = os.loadavg();
const started = performance.now();
const results: Measured[] = [];
const skipped: { shape: string; runner: RunnerName; skipped: string }[] = [];
const nodePeak: NodePeak = {};
for (const shape of shapes) {
  const c = makeBenchCase(shape);
  for (const runner of runners) {
    log(`${shape.name}: ${runner}`);
    try {
      if (runner === 'prufed-cpu') {
        const report = await runSteps(
          runner,
          async () => prepareEngine(createCpuEngine(), c, 'Node, one thread'),
          plan,
        );
        results.push(measure(shape, report, null));
        continue;
      }
      results.push(await runWebGpuNode(shape, plan, sizes, nodePeak, log));
    } catch (error) {
      const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
      skipped.push({ shape: shape.name, runner, skipped: reason });
      log(`  skipped: ${reason}`);
    }
  }
}

const problems = crossCheck(results, 'prufed-cpu');
const summary = benchSummary({
  loadBefore,
  started,
  plan,
  peaks: { browser: null, node: nodePeak.peak === undefined ? null : nodePeak },
  shapes,
  results,
  skipped,
  problems,
  targets: largeShapeTargetLine(results, 'prufed-webgpu-node', 'PruFed WebGPU (Node)'),
});

if (json) {
  process.stdout.write(`${JSON.stringify(summary)}\n`);
} else {
  const out = [`machine: ${summary.machine.cpu}, ${summary.machine.cores} cores`];
  if (nodePeak.peak) {
    out.push(`Node adapter ${JSON.stringify(nodePeak.adapterInfo)}`);
    out.push(
      `  matmul peak ${nodePeak.peak.gflops.toFixed(2)} GFLOP/s (${nodePeak.peak.variant} ${nodePeak.peak.size}^3)`,
    );
  }
  for (const r of results) {
    const share = r.peakShare === null ? '-' : `${(100 * r.peakShare).toFixed(0)}%`;
    out.push(
      `${r.shape.padEnd(8)} ${r.runner.padEnd(20)} ${r.medianMs.toFixed(1).padStart(9)} ms/step ` +
        `${r.tokensPerSecond.toFixed(0).padStart(8)} tokens/s ${r.gflops.toFixed(2).padStart(9)} GFLOP/s ` +
        `${share.padStart(5)} of peak, ${r.stepMs.length} steps, loss1 ${r.losses[0].toFixed(5)}, ${r.device}`,
    );
  }
  for (const x of skipped) out.push(`${x.shape.padEnd(8)} ${x.runner.padEnd(20)} skipped: ${x.skipped}`);
  out.push(`cross-check against prufed-cpu: ${problems.length === 0 ? 'ok' : 'MISMATCH'}`, ...problems);
  out.push(...summary.targets, `(${summary.seconds.toFixed(0)} s)`);
  process.stdout.write(`${out.join('\n')}\n`);
}
process.exit(problems.length === 0 && skipped.length === 0 ? 0 : 1);
