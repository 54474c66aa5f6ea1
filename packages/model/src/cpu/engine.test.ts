import { describe, expect, it } from 'vitest';
import { type AdamWConfig, type Batch, defaultAdamW } from '../engine';
import { ConfigError, InputError } from '../errors';
import { initLoraAdapter, randomLlamaWeights } from '../init';
import { loraModules } from '../lora';
import { tinyLlamaConfig } from '../testing';
import { createCpuEngine } from './engine';

// 4 layers, C 64, NH 4, NKV 2 (HS 16), F 128, V 32, T up to 32.
const config = tinyLlamaConfig({ maxPositions: 32 });
const lora = { r: 4, alpha: 8, targetModules: [...loraModules] };
const optimizer: AdamWConfig = { ...defaultAdamW, lr: 1e-2 };

/** A fixed batch: B = 2, T = 8, a repeating pattern the adapter can learn; last two of row 1 padded. */
function fixedBatch(): Batch {
  const T = 8;
  const inputIds = Int32Array.from({ length: 2 * T }, (_, n) => (3 * n + 1) % config.vocabSize);
  const labels = Int32Array.from(inputIds);
  labels[2 * T - 1] = -100;
  labels[2 * T - 2] = -100;
  return { batchSize: 2, seqLen: T, inputIds, labels };
}

async function loraEngine(keptLayers: number[], seed: number) {
  const engine = createCpuEngine();
  await engine.loadVariant(randomLlamaWeights(config, { seed }), { keptLayers });
  await engine.setAdapter(initLoraAdapter(config, lora, keptLayers, seed + 1));
  return engine;
}

describe('CpuEngine training', () => {
  it('same seed gives an identical loss trajectory over 5 steps', async () => {
    const trajectories = await Promise.all(
      [0, 1].map(async () => {
        const engine = await loraEngine([0, 2], 1);
        const losses: number[] = [];
        for (let i = 0; i < 5; i++) losses.push((await engine.trainStep(fixedBatch(), optimizer)).loss);
        return losses;
      }),
    );
    expect(trajectories[0]).toEqual(trajectories[1]);
    expect(new Set(trajectories[0]).size).toBe(5);
  });

  it('LoRA training lowers the loss on a fixed batch over 20 steps', async () => {
    const engine = await loraEngine([0, 1], 2);
    const batch = fixedBatch();
    const first = (await engine.evaluateLoss(batch)).loss;
    for (let i = 0; i < 20; i++) await engine.trainStep(batch, optimizer);
    const last = (await engine.evaluateLoss(batch)).loss;
    expect(Math.abs(first - Math.log(config.vocabSize))).toBeLessThan(0.1); // a random model is near uniform
    expect(last, `loss ${first} -> ${last}`).toBeLessThan(0.8 * first);
  });

  it('reports the global gradient norm over LoRA and base gradients before clipping', async () => {
    const engine = createCpuEngine();
    await engine.loadVariant(randomLlamaWeights(config, { seed: 3 }), {
      keptLayers: [1, 3],
      trainBase: true,
    });
    const adapter = initLoraAdapter(config, lora, [3], 4);
    for (const pair of adapter.weights.values()) pair.B.data.fill(0.01);
    await engine.setAdapter(adapter);
    const batch = fixedBatch();
    await engine.computeGradients(batch);
    let sumSq = 0;
    for (const pair of (await engine.readAdapterGradients()).weights.values()) {
      for (const x of [...pair.A.data, ...pair.B.data]) sumSq += x * x;
    }
    for (const grad of (await engine.readBaseGradients()).values()) for (const x of grad.data) sumSq += x * x;
    const { gradNorm } = await engine.trainStep(batch, { ...optimizer, maxGradNorm: 1e-3 });
    expect(gradNorm).toBeCloseTo(Math.sqrt(sumSq), 4);
  });

  it('a batch without unmasked targets has loss NaN, zero gradients, and changes nothing', async () => {
    const engine = await loraEngine([0, 1], 5);
    const batch = { ...fixedBatch(), labels: new Int32Array(16).fill(-100) };
    const before = await engine.readAdapter();
    const result = await engine.trainStep(batch, optimizer);
    expect(result.loss).toBeNaN();
    expect(result.tokens).toBe(0);
    for (const pair of (await engine.readAdapterGradients()).weights.values()) {
      expect(pair.A.data.every((x) => x === 0) && pair.B.data.every((x) => x === 0)).toBe(true);
    }
    const after = await engine.readAdapter();
    for (const [key, pair] of before.weights) expect(after.weights.get(key)!.A.data).toEqual(pair.A.data);
  });
});

describe('CpuEngine reading and writing', () => {
  it('reads base weights and gradients by HF name, and the adapter in its own layout', async () => {
    const engine = createCpuEngine();
    const weights = randomLlamaWeights(config, { seed: 6 });
    await engine.loadVariant(weights, { keptLayers: [2], trainBase: true });
    const adapter = initLoraAdapter(config, lora, [2], 7);
    await engine.setAdapter(adapter);
    await engine.computeGradients(fixedBatch());
    const names = [...(await engine.readBaseGradients()).keys()];
    expect(names).toEqual([...(await engine.readBaseWeights()).keys()]);
    expect(names).toContain('model.layers.2.mlp.up_proj.weight');
    expect(names).not.toContain('lm_head.weight'); // tied: the embedding gets both uses
    expect(names.some((n) => n.startsWith('model.layers.0.'))).toBe(false);
    const read = await engine.readBaseWeights();
    expect(read.get('model.layers.2.self_attn.v_proj.weight')!.data).toEqual(
      weights.tensors.get('model.layers.2.self_attn.v_proj.weight')!.data,
    );
    const back = await engine.readAdapter();
    expect(back.layers).toEqual([2]);
    expect(back.config).toEqual(adapter.config);
    for (const [key, pair] of adapter.weights) {
      expect(back.weights.get(key)!.A).toEqual(pair.A);
      expect(back.weights.get(key)!.B).toEqual(pair.B);
    }
    const grads = await engine.readAdapterGradients();
    expect(grads.weights.get('2.down_proj')!.B.shape).toEqual([64, 4]);
  });

  it('hiddenStates returns the embedding and each kept layer output, (B, T, C) each', async () => {
    const engine = createCpuEngine();
    const weights = randomLlamaWeights(config, { seed: 8 });
    await engine.loadVariant(weights, { keptLayers: [0, 1, 3] });
    const batch = fixedBatch();
    const hidden = await engine.hiddenStates(batch);
    expect(hidden.length).toBe(4);
    for (const h of hidden) expect(h.length).toBe(2 * 8 * 64);
    const embed = weights.tensors.get('model.embed_tokens.weight')!.data;
    const id = batch.inputIds[5];
    expect(hidden[0].subarray(5 * 64, 6 * 64)).toEqual(embed.subarray(id * 64, (id + 1) * 64));
    const logits = await engine.logits(batch);
    expect(logits.shape).toEqual([2, 8, 32]);
  });
});

describe('CpuEngine input errors', () => {
  it('rejects an adapter with layers the variant lacks, naming them', async () => {
    const engine = await loraEngine([0, 2], 9);
    await expect(engine.setAdapter(initLoraAdapter(config, lora, [1, 2, 3], 1))).rejects.toThrow(
      /adapter has layers 1, 3 that this model variant lacks/,
    );
  });

  it('rejects adapters with missing modules or wrong shapes, and bad LoRA configs', async () => {
    const engine = await loraEngine([0], 10);
    const adapter = initLoraAdapter(config, lora, [0], 1);
    adapter.weights.delete('0.k_proj');
    await expect(engine.setAdapter(adapter)).rejects.toThrow(
      /layer 0 and target module k_proj but holds no weights/,
    );
    const wrongRank = initLoraAdapter(config, lora, [0], 1);
    wrongRank.config = { ...lora, r: 2 };
    await expect(engine.setAdapter(wrongRank)).rejects.toThrow(InputError);
    await expect(engine.setAdapter({ ...wrongRank, config: { ...lora, r: -1 } })).rejects.toThrow(
      ConfigError,
    );
  });

  it('rejects token ids and labels outside the vocabulary', async () => {
    const engine = await loraEngine([0], 11);
    const bad = fixedBatch();
    bad.inputIds[3] = 32;
    await expect(engine.computeGradients(bad)).rejects.toThrow(
      /inputIds\[3\] = 32 is outside the vocabulary/,
    );
    const badLabel = fixedBatch();
    badLabel.labels[4] = -1;
    await expect(engine.evaluateLoss(badLabel)).rejects.toThrow(/labels\[4\] = -1/);
    await expect(engine.logits({ ...fixedBatch(), seqLen: 7 })).rejects.toThrow(InputError);
  });

  it('rejects variants whose layers are missing, and training with nothing trainable', async () => {
    const engine = createCpuEngine();
    const weights = randomLlamaWeights(config, { seed: 12, layers: [0, 1] });
    await expect(engine.loadVariant(weights, { keptLayers: [0, 2] })).rejects.toThrow(
      /lack kept layer\(s\) 2/,
    );
    await engine.loadVariant(weights, { keptLayers: [1] });
    await expect(engine.trainStep(fixedBatch(), optimizer)).rejects.toThrow(/nothing to train/);
    await expect(engine.readBaseGradients()).rejects.toThrow(/trainBase/);
    await expect(engine.readAdapter()).rejects.toThrow(/setAdapter/);
  });
});
