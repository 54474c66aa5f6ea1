// Benchmark of the CPU engine's LoRA training step (forward, backward, AdamW) on a random LLaMA of
// the shipped default model's shape; prints tokens/s. Run: npm run bench [-- --steps N --warmup N --json].
// Dimension letters: B batch, T tokens, C hidden, NH heads, NKV kv-heads, F ffn, V vocab, R rank, L layers.
import os from 'node:os';
import {
  type Batch,
  createCpuEngine,
  defaultAdamW,
  initLoraAdapter,
  loraModules,
  Rng,
  randomLlamaWeights,
} from '@prufed/model';
import { benchLlamaConfig, benchModelShape } from '@prufed/model/testing';
import { SingleBar } from 'cli-progress';
import { Command } from 'commander';
import { parseCount } from './args';

const shape = benchModelShape('default');
const config = benchLlamaConfig(shape);

function randomBatch(rng: Rng): Batch {
  const inputIds = new Int32Array(shape.B * shape.T); // (B, T)
  for (let i = 0; i < inputIds.length; i++) inputIds[i] = Math.floor(rng.uniform() * shape.V);
  return { batchSize: shape.B, seqLen: shape.T, inputIds, labels: inputIds };
}

const options = new Command('bench-train-cpu')
  .description('time LoRA training steps of the CPU engine')
  .option('--steps <n>', 'timed training steps', parseCount, 5)
  .option('--warmup <n>', 'untimed steps first', parseCount, 1)
  .option('--json', 'print one JSON line instead of text')
  .parse()
  .opts<{ steps: number; warmup: number; json?: boolean }>();

const layers = Array.from({ length: shape.L }, (_, i) => i);
const engine = createCpuEngine();
await engine.loadVariant(randomLlamaWeights(config, { seed: 1 }), { keptLayers: layers });
await engine.setAdapter(
  initLoraAdapter(config, { r: shape.R, alpha: 16, targetModules: [...loraModules] }, layers, 2),
);
const batch = randomBatch(new Rng(3));

const progress = new SingleBar({ format: 'training steps {bar} {value}/{total}' });
progress.start(options.warmup + options.steps, 0);
for (let i = 0; i < options.warmup; i++) {
  await engine.trainStep(batch, defaultAdamW);
  progress.increment();
}
// CPU time beside wall time: on a shared machine the wall time also counts other processes' turns.
const startCpu = process.cpuUsage();
const start = performance.now();
let loss = Number.NaN;
for (let i = 0; i < options.steps; i++) {
  loss = (await engine.trainStep(batch, defaultAdamW)).loss;
  progress.increment();
}
const seconds = (performance.now() - start) / 1000;
const cpuUsage = process.cpuUsage(startCpu);
const cpuSeconds = (cpuUsage.user + cpuUsage.system) / 1e6;
progress.stop();

const result = {
  engine: 'cpu',
  cpu: os.cpus()[0]?.model ?? 'unknown',
  shape: { ...shape, targets: loraModules.length },
  steps: options.steps,
  secondsPerStep: seconds / options.steps,
  cpuSecondsPerStep: cpuSeconds / options.steps,
  tokensPerSecond: (shape.B * shape.T * options.steps) / seconds,
  lastLoss: loss,
};
if (options.json) {
  process.stdout.write(`${JSON.stringify(result)}\n`);
} else {
  const s = shape;
  process.stdout.write(
    `CPU engine LoRA training step on ${result.cpu}\n` +
      `shape: L=${s.L} C=${s.C} NH=${s.NH} NKV=${s.NKV} F=${s.F} V=${s.V}, batch B=${s.B} x T=${s.T}, ` +
      `rank R=${s.R} on all ${loraModules.length} projections\n` +
      `${result.steps} steps after ${options.warmup} warm-up: ${(result.secondsPerStep * 1000).toFixed(1)} ms/step ` +
      `(${(result.cpuSecondsPerStep * 1000).toFixed(1)} ms CPU time), ` +
      `${result.tokensPerSecond.toFixed(0)} tokens/s (last loss ${loss.toFixed(4)})\n`,
  );
}
