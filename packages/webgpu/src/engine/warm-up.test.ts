// The warm-up step compiles what a round's first step would (WebGPU in Node, where Dawn finds an
// adapter) and leaves nothing behind: after the round's setAdapter, training is the same as on an
// engine that never warmed up.
import {
  type Batch,
  createCpuEngine,
  defaultAdamW,
  initLoraAdapter,
  type LoraAdapter,
  type LoraConfig,
  makeBatch,
  Rng,
  randomLlamaWeights,
  type TrainingEngine,
  warmUpBatch,
  warmUpTraining,
} from '@prufed/model';
import { maxAbsDiff, tinyLlamaConfig, withRandomB } from '@prufed/model/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { acquireNodeDevice } from '../node-gpu';
import { createWebGpuEngine, type WebGpuEngine } from './engine';

const config = tinyLlamaConfig({ V: 300 });
const weights = randomLlamaWeights(config, { seed: 7, std: 0.08 });
const keptLayers = [0, 2];
const lora: LoraConfig = { r: 4, alpha: 8, targetModules: ['q_proj', 'v_proj', 'down_proj'] };
const shape = { batchSize: 2, seqLen: 24 };

/** The round's adapter: B random, so that the LoRA path shapes the loss. */
function roundAdapter(): LoraAdapter {
  return withRandomB(initLoraAdapter(config, lora, keptLayers, 5), 9, 0.05);
}

/** A batch of the round: shorter than seqLen, other tokens, the last targets masked. */
function roundBatch(T: number): Batch {
  const rng = new Rng(T);
  const rows = Array.from({ length: shape.batchSize }, () =>
    Array.from({ length: T }, () => Math.floor(rng.uniform() * config.vocabSize)),
  );
  const labels = rows.map((row) => row.map((token, t) => (t < T - 2 ? token : -100)));
  return makeBatch(rows, labels, 0);
}

/** Two steps of a round on `engine`: losses, gradient norms and the trained adapter. */
async function trainRound(engine: TrainingEngine) {
  await engine.setAdapter(roundAdapter());
  const steps = [];
  for (const T of [20, 17]) steps.push(await engine.trainStep(roundBatch(T), defaultAdamW));
  return { steps, adapter: await engine.readAdapter() };
}

describe('warmUpBatch', () => {
  it('is the round shape with every position a target', () => {
    const batch = warmUpBatch(config, shape);
    expect([batch.batchSize, batch.seqLen]).toEqual([2, 24]);
    expect(batch.labels.every((label) => label >= 0 && label < config.vocabSize)).toBe(true);
    expect(new Set(batch.inputIds).size).toBe(48);
  });

  it('refuses a shape that is no batch', () => {
    expect(() => warmUpBatch(config, { batchSize: 0, seqLen: 8 })).toThrow(/not a batch/);
    expect(() => warmUpBatch(config, { batchSize: 2, seqLen: 1.5 })).toThrow(/not a batch/);
  });
});

describe('warmUpTraining on the CPU engine', () => {
  it('leaves no trace in the round that follows', async () => {
    const [warmed, cold] = [createCpuEngine(), createCpuEngine()];
    for (const engine of [warmed, cold]) await engine.loadVariant(weights, { keptLayers });
    await warmUpTraining(warmed, config, keptLayers, shape, lora);
    const [a, b] = [await trainRound(warmed), await trainRound(cold)];
    expect(a.steps).toEqual(b.steps);
    expect(maxAbsDiff(a.adapter, b.adapter)).toBe(0);
    for (const engine of [warmed, cold]) engine.dispose();
  });
});

const acquired = await acquireNodeDevice({ label: 'warm-up test' });
if ('unavailable' in acquired) console.warn(`WebGPU warm-up tests skipped: ${acquired.unavailable}`);

describe.skipIf('unavailable' in acquired)('warmUpTraining on the WebGPU engine', () => {
  const engines: WebGpuEngine[] = [];
  afterAll(() => {
    for (const engine of engines) engine.dispose();
  });

  it('compiles every kernel of the round, which then trains as on a cold engine', async () => {
    if ('unavailable' in acquired) return;
    const [warmed, cold] = [await createWebGpuEngine(acquired), await createWebGpuEngine(acquired)];
    engines.push(warmed, cold);
    for (const engine of [warmed, cold]) await engine.loadVariant(weights, { keptLayers });
    const before = warmed.rt.counters().pipelinesCompiled;
    await warmUpTraining(warmed, config, keptLayers, shape, lora);
    const compiled = warmed.rt.counters().pipelinesCompiled;
    expect(compiled).toBeGreaterThan(before);
    const a = await trainRound(warmed);
    // The round's steps (other lengths, masked targets) compiled nothing more.
    expect(warmed.rt.counters().pipelinesCompiled).toBe(compiled);
    const b = await trainRound(cold);
    for (const [k, step] of a.steps.entries()) {
      expect(step.tokens).toBe(b.steps[k].tokens);
      expect(Math.abs(step.loss - b.steps[k].loss)).toBeLessThan(1e-6 * b.steps[k].loss);
      expect(Math.abs(step.gradNorm - b.steps[k].gradNorm)).toBeLessThan(1e-5 * b.steps[k].gradNorm);
    }
    expect(maxAbsDiff(a.adapter, b.adapter)).toBeLessThan(1e-6);
  });
});
