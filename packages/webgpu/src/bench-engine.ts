// Times WebGpuEngine.trainStep (LoRA r 8 on all 7 projections, AdamW; with --full every base weight
// instead, as pretraining trains) on the WebGPU adapter Node finds, at the shipped model's shape and a
// larger one: ms/step, tokens/s, dispatches and submits per step, then a profiled step (every kernel
// submitted alone and waited for) as tables per kernel and per kernel and shape. The profiled step's
// total exceeds a real step's by the per-submit cost.
// Run: npx tsx packages/webgpu/src/bench-engine.ts [--quick] [--full] [--shapes default,large] [--steps 3]
import { parseArgs } from 'node:util';
import { defaultAdamW, initLoraAdapter, loraModules, Rng, randomLlamaWeights } from '@prufed/model';
import { benchLlamaConfig, benchModelShape, benchModelShapes } from '@prufed/model/testing';
import { createWebGpuEngine } from './engine/engine';
import { acquireNodeDevice } from './node-gpu';
import type { KernelProfileRow } from './runtime';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    full: { type: 'boolean', default: false },
    shapes: { type: 'string', default: benchModelShapes.map((s) => s.name).join(',') },
    steps: { type: 'string', default: '3' },
  },
});

function table(title: string, rows: KernelProfileRow[], limit: number): void {
  const total = rows.reduce((sum, r) => sum + r.ms, 0);
  console.log(`  ${title} (total ${total.toFixed(0)} ms)`);
  for (const { kernel, calls, ms } of rows.slice(0, limit)) {
    const share = ((100 * ms) / total).toFixed(1).padStart(5);
    console.log(
      `    ${ms.toFixed(1).padStart(8)} ms ${share}%  ${String(calls).padStart(5)} calls ${(ms / calls).toFixed(2).padStart(8)} ms/call  ${kernel}`,
    );
  }
}

const ctx = await acquireNodeDevice({ label: 'bench-engine' });
if ('unavailable' in ctx) {
  console.error(`no WebGPU device: ${ctx.unavailable}`);
  process.exit(1);
}
console.log(`adapter: ${ctx.adapter.description} (${ctx.adapterKey})`);
const steps = flags.quick ? 1 : Number(flags.steps);
for (const name of flags.shapes!.split(',')) {
  const shape = benchModelShape(name);
  const { L, C, NH, NKV, F, V, B, T, R } = shape;
  const config = benchLlamaConfig(shape);
  const keptLayers = Array.from({ length: L }, (_, i) => i);
  const rng = new Rng(3);
  const inputIds = Int32Array.from({ length: B * T }, () => Math.floor(rng.uniform() * V));
  const batch = { batchSize: B, seqLen: T, inputIds, labels: Int32Array.from(inputIds) };
  const optimizer = { ...defaultAdamW, lr: 1e-3 };
  const adapter = initLoraAdapter(
    config,
    { r: R, alpha: 2 * R, targetModules: [...loraModules] },
    keptLayers,
    2,
  );
  const weights = randomLlamaWeights(config, { seed: 1 });
  const what = flags.full ? 'all base weights' : `LoRA R=${R}`;
  console.log(`\nshape ${name}: L=${L} C=${C} NH=${NH} NKV=${NKV} F=${F} V=${V} B=${B} T=${T}, ${what}`);
  for (const profile of [false, true]) {
    const engine = await createWebGpuEngine(ctx, { profile });
    const rt = engine.rt;
    await engine.loadVariant(weights, { keptLayers, trainBase: flags.full });
    if (!flags.full) await engine.setAdapter(adapter);
    await engine.trainStep(batch, optimizer); // warm-up: compiles pipelines, creates buffers
    rt.takeProfile();
    const before = rt.counters();
    const times: number[] = [];
    for (let step = 0; step < (profile ? 1 : steps); step++) {
      const start = performance.now();
      await engine.trainStep(batch, optimizer);
      times.push(performance.now() - start);
    }
    const after = rt.counters();
    const ms = times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
    const perStep = (n: number) => n / times.length;
    if (!profile) {
      console.log(
        `  matmul variant ${engine.autotune.variant} (autotune ${JSON.stringify(engine.autotune.timings)})\n` +
          `  median of ${times.length} steps: ${ms.toFixed(0)} ms/step, ${((B * T * 1000) / ms).toFixed(0)} tokens/s, ` +
          `${perStep(after.dispatches - before.dispatches)} dispatches and ${perStep(after.submits - before.submits)} submits per step, ` +
          `${after.buffersCreated - before.buffersCreated} buffers and ${after.pipelinesCompiled - before.pipelinesCompiled} pipelines created`,
      );
    } else {
      console.log(`  profiled step: ${ms.toFixed(0)} ms`);
      const { byKernel, byCall } = rt.takeProfile();
      table('per kernel', byKernel, 30);
      table('per kernel and uniforms (top 25)', byCall, 25);
    }
    engine.dispose();
  }
}
ctx.device.destroy();
process.exit(0);
