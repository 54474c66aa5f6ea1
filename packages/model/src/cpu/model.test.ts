import { describe, expect, it } from 'vitest';
import type { LlamaConfig } from '../config';
import type { Batch } from '../engine';
import { projectionName } from '../hf-names';
import { initLoraAdapter, randomLlamaWeights } from '../init';
import { type LoraAdapter, loraModules } from '../lora';
import { Rng } from '../rng';
import type { FloatArray } from '../tensor';
import { llamaConfigOf, tinyLlamaConfig, withRandomB } from '../testing';
import type { LlamaWeights } from '../weights';
import { gradCheck, gradError, gradTolerance, sampleIndices } from './gradcheck';
import { CpuModel } from './model';

// Tiny GQA model for exhaustive finite differences: C 16, NH 4, NKV 2, HS 4, F 24, V 13, L 4.
const tiny = llamaConfigOf({ L: 4, C: 16, NH: 4, NKV: 2, F: 24, V: 13, maxPositions: 16, tied: false });

// The engine tests' tiny model: 4 layers, C 64, NH 4, NKV 2, F 128, V 32, tied.
const small = tinyLlamaConfig({ maxPositions: 16 });

/** B = 2 rows of T tokens; row 1 ends in two padding positions (label -100), row 0 masks its prompt. */
function makeBatch(config: LlamaConfig, T: number, seed: number): Batch {
  const rng = new Rng(seed);
  const inputIds = Int32Array.from({ length: 2 * T }, () => Math.floor(rng.uniform() * config.vocabSize));
  const labels = Int32Array.from(inputIds);
  labels[1] = -100;
  labels[2 * T - 1] = -100;
  labels[2 * T - 2] = -100;
  return { batchSize: 2, seqLen: T, inputIds, labels };
}

/** An adapter with random B as well, so that dA is not trivially zero. */
function randomAdapter(config: LlamaConfig, layers: number[], seed: number): LoraAdapter {
  const adapter = initLoraAdapter(config, { r: 2, alpha: 4, targetModules: [...loraModules] }, layers, seed);
  return withRandomB(adapter, seed + 1, 0.3);
}

function weightsOf(config: LlamaConfig, seed: number): LlamaWeights {
  const weights = randomLlamaWeights(config, { seed, std: 0.2 });
  // Norm weights away from 1 so their gradients are exercised in general position.
  const rng = new Rng(seed + 2);
  for (const tensor of weights.tensors.values()) {
    if (tensor.shape.length === 1)
      for (let i = 0; i < tensor.data.length; i++) tensor.data[i] = 1 + 0.2 * rng.normal();
  }
  return weights;
}

/** Directional derivative along a random direction over buffer[start, end), compared with the analytic gradient. */
function directionalError(
  grads: FloatArray,
  buffer: FloatArray,
  start: number,
  end: number,
  loss: () => number,
  rng: Rng,
): number {
  const direction = Float64Array.from({ length: end - start }, () => rng.normal());
  let analytic = 0;
  for (let i = start; i < end; i++) analytic += grads[i] * direction[i - start];
  const h = 1e-5;
  const shift = (sign: number) => {
    for (let i = start; i < end; i++) buffer[i] += sign * h * direction[i - start];
  };
  shift(1);
  const plus = loss();
  shift(-2);
  const minus = loss();
  shift(1);
  return gradError(analytic, (plus - minus) / (2 * h));
}

describe('CpuModel gradients vs central finite differences (f64)', () => {
  it(`tiny model, kept [0, 2, 3], adapter on [0, 3], trainBase: every LoRA gradient and 4 coordinates per base tensor (error <= ${gradTolerance})`, () => {
    const model = new CpuModel(weightsOf(tiny, 1), { keptLayers: [0, 2, 3], trainBase: true }, 'f64');
    model.setAdapter(randomAdapter(tiny, [0, 3], 2));
    const batch = makeBatch(tiny, 5, 3);
    const { tokens } = model.computeGradients(batch);
    expect(tokens).toBe(5);
    const lora = model.lora!;
    const grads = model.grads!;
    const loraGrads = Float64Array.from(lora.grads);
    const baseGrads = Float64Array.from(grads);
    const loss = () => model.forwardLoss(batch).loss;
    const loraCheck = gradCheck(loraGrads, lora.params, loss);
    expect(loraCheck.maxError, `LoRA: ${loraCheck.report}`).toBeLessThanOrEqual(gradTolerance);
    const rng = new Rng(4);
    for (const entry of model.entries) {
      const indices = sampleIndices(entry.size, 4, rng).map((i) => entry.offset + i);
      const { maxError, report } = gradCheck(baseGrads, model.params, loss, indices);
      expect(maxError, `${entry.name}: ${report}`).toBeLessThanOrEqual(gradTolerance);
    }
  });

  for (const keptLayers of [
    [0, 1],
    [0, 2],
  ]) {
    it(`C 64 / NH 4 / NKV 2, tied, kept [${keptLayers}]: every LoRA tensor (direction + 2 coordinates) and 2 coordinates per base tensor`, () => {
      const model = new CpuModel(weightsOf(small, 5), { keptLayers, trainBase: true }, 'f64');
      model.setAdapter(randomAdapter(small, keptLayers, 6));
      const batch = makeBatch(small, 6, 7);
      model.computeGradients(batch);
      const lora = model.lora!;
      const loraGrads = Float64Array.from(lora.grads);
      const baseGrads = Float64Array.from(model.grads!);
      const loss = () => model.forwardLoss(batch).loss;
      const rng = new Rng(8);
      const R = 2;
      for (const e of lora.entries) {
        for (const [name, start, size] of [
          ['A', e.offsetA, R * e.IN],
          ['B', e.offsetB, e.OUT * R],
        ] as const) {
          const label = `layer ${e.layer} ${e.module} ${name}`;
          expect(
            directionalError(loraGrads, lora.params, start, start + size, loss, rng),
            label,
          ).toBeLessThanOrEqual(gradTolerance);
          const indices = sampleIndices(size, 2, rng).map((i) => start + i);
          const { maxError, report } = gradCheck(loraGrads, lora.params, loss, indices);
          expect(maxError, `${label}: ${report}`).toBeLessThanOrEqual(gradTolerance);
        }
      }
      for (const entry of model.entries) {
        const indices = sampleIndices(entry.size, 2, rng).map((i) => entry.offset + i);
        const { maxError, report } = gradCheck(baseGrads, model.params, loss, indices);
        expect(maxError, `${entry.name}: ${report}`).toBeLessThanOrEqual(gradTolerance);
      }
    });
  }
});

describe('CpuModel forward', () => {
  it('pruned forward equals the full model whose dropped layers have zero o_proj and down_proj', () => {
    const weights = weightsOf(small, 9);
    const pruned = new CpuModel(weights, { keptLayers: [0, 2] }, 'f64');
    for (const layer of [1, 3]) {
      for (const module of ['self_attn.o_proj', 'mlp.down_proj']) {
        weights.tensors.get(`model.layers.${layer}.${module}.weight`)!.data.fill(0);
      }
    }
    const full = new CpuModel(weights, { keptLayers: [0, 1, 2, 3] }, 'f64');
    const adapter = randomAdapter(small, [0, 2], 10);
    pruned.setAdapter(adapter);
    full.setAdapter(adapter);
    const batch = makeBatch(small, 6, 11);
    const prunedHidden = pruned.forwardHidden(batch).map((h) => Float64Array.from(h));
    const fullHidden = full.forwardHidden(batch).map((h) => Float64Array.from(h));
    expect(prunedHidden.length).toBe(3);
    expect(fullHidden.length).toBe(5);
    // pruned entry k <-> full entry: embedding, after layer 0, after layer 2
    [0, 1, 3].forEach((f, k) => {
      expect(prunedHidden[k]).toEqual(fullHidden[f]);
    });
    expect(fullHidden[2]).toEqual(fullHidden[1]); // layer 1 passes the residual through
    const a = Float64Array.from(pruned.forwardLogits(batch));
    const b = full.forwardLogits(batch);
    expect(a).toEqual(Float64Array.from(b));
    expect(pruned.forwardLoss(batch).loss).toBe(full.forwardLoss(batch).loss);
  });

  it('dropping layers changes the output of an ordinary model', () => {
    const weights = weightsOf(small, 9);
    const batch = makeBatch(small, 6, 11);
    const pruned = new CpuModel(weights, { keptLayers: [0, 2] }, 'f64').forwardLoss(batch).loss;
    const full = new CpuModel(weights, { keptLayers: [0, 1, 2, 3] }, 'f64').forwardLoss(batch).loss;
    expect(Math.abs(pruned - full)).toBeGreaterThan(1e-3);
  });

  it('an adapter on each module equals merging W + (alpha / r) B A into the base weight', () => {
    const weights = weightsOf(small, 12);
    const adapter = randomAdapter(small, [1], 13);
    const scale = adapter.config.alpha / adapter.config.r;
    for (const module of loraModules) {
      const name = projectionName(1, module);
      const W = weights.tensors.get(name)!;
      const { A, B } = adapter.weights.get(`1.${module}`)!;
      const [OUT, IN] = W.shape;
      const merged = Float64Array.from(W.data);
      for (let o = 0; o < OUT; o++) {
        for (let i = 0; i < IN; i++) {
          for (let r = 0; r < 2; r++) merged[o * IN + i] += scale * B.data[o * 2 + r] * A.data[r * IN + i];
        }
      }
      // Set the merged weight in the f64 buffer: f32 tensor storage would round it.
      const mergedModel = new CpuModel(weights, { keptLayers: [0, 1] }, 'f64');
      const entry = mergedModel.entries.find((e) => e.name === name)!;
      mergedModel.params.set(merged, entry.offset);
      const single = new CpuModel(weights, { keptLayers: [0, 1] }, 'f64');
      single.setAdapter({
        config: { ...adapter.config, targetModules: [module] },
        layers: [1],
        weights: new Map([[`1.${module}`, adapter.weights.get(`1.${module}`)!]]),
      });
      const batch = makeBatch(small, 6, 14);
      const a = Float64Array.from(single.forwardLogits(batch));
      const b = mergedModel.forwardLogits(batch);
      let maxDiff = 0;
      for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
      expect(maxDiff, module).toBeLessThan(1e-10);
    }
  });

  it('f32 and f64 logits agree to 1e-4 relative', () => {
    const weights = weightsOf(small, 15);
    const adapter = randomAdapter(small, [0, 1, 3], 16);
    const batch = makeBatch(small, 8, 17);
    const logits = (['f32', 'f64'] as const).map((precision) => {
      const model = new CpuModel(weights, { keptLayers: [0, 1, 3] }, precision);
      model.setAdapter(adapter);
      return Float64Array.from(model.forwardLogits(batch));
    });
    let maxDiff = 0;
    let maxAbs = 0;
    for (let i = 0; i < logits[0].length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(logits[0][i] - logits[1][i]));
      maxAbs = Math.max(maxAbs, Math.abs(logits[1][i]));
    }
    expect(maxDiff / maxAbs, `max diff ${maxDiff}, max |logit| ${maxAbs}`).toBeLessThan(1e-4);
  });
});
