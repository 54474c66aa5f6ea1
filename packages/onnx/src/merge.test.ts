// mergeLoraIntoWeights: a hand-computed entry, and the CPU engine's logits with the merged weights
// and no adapter equal its logits with the adapter applied unmerged.
import { InputError, loraKey, projectionName } from '@prufed/model';
import { describe, expect, it } from 'vitest';
import { mergeLoraIntoWeights } from './merge';
import { cpuLogits, expectClose, randomAdapter, randomIds, tinyConfig, tinyWeights } from './testing';

describe('mergeLoraIntoWeights', () => {
  const config = tinyConfig();

  it('adds (alpha / r) B A to the adapted weight only', () => {
    const weights = tinyWeights(config, 1);
    const adapter = randomAdapter(config, [2], 3); // r 4, alpha 8: scale 2
    for (const { A, B } of adapter.weights.values()) {
      A.data.fill(0);
      B.data.fill(0);
    }
    const { A, B } = adapter.weights.get(loraKey(2, 'k_proj'))!; // A (4, 32), B (16, 4)
    A.data[0 * 32 + 3] = 0.5;
    B.data[5 * 4 + 0] = 1.5;
    const name = projectionName(2, 'k_proj');
    const before = Float32Array.from(weights.tensors.get(name)!.data);
    const merged = mergeLoraIntoWeights(weights, adapter);
    const expected = Float32Array.from(before);
    expected[5 * 32 + 3] += 2 * 1.5 * 0.5;
    expect(Array.from(merged.tensors.get(name)!.data)).toEqual(Array.from(expected));
    expect(Array.from(weights.tensors.get(name)!.data)).toEqual(Array.from(before)); // input untouched
    expect(merged.tensors.get(projectionName(1, 'k_proj'))).toBe(
      weights.tensors.get(projectionName(1, 'k_proj')),
    );
  });

  it('gives the logits of the unmerged adapter on the CPU engine', () => {
    const weights = tinyWeights(config, 2);
    const kept = [0, 1, 3];
    const adapter = randomAdapter(config, [1, 3], 4);
    const ids = randomIds(config.vocabSize, 2, 6, 5);
    const unmerged = cpuLogits(weights, kept, adapter, ids, 2, 6);
    const base = cpuLogits(weights, kept, undefined, ids, 2, 6);
    const merged = cpuLogits(mergeLoraIntoWeights(weights, adapter), kept, undefined, ids, 2, 6);
    expectClose(merged, unmerged, 1e-5);
    const change = unmerged.reduce((m, v, i) => Math.max(m, Math.abs(v - base[i])), 0);
    expect(change).toBeGreaterThan(0.05); // the adapter matters, so the comparison tests something
  });

  it('rejects an adapter on layers the weights lack, or of the wrong shape', () => {
    const weights = tinyWeights(config, 1);
    weights.layers = [0, 1];
    expect(() => mergeLoraIntoWeights(weights, randomAdapter(config, [2], 1))).toThrow(InputError);
    const adapter = randomAdapter(config, [1], 1);
    adapter.weights.get(loraKey(1, 'v_proj'))!.A.shape = [2, 32];
    expect(() => mergeLoraIntoWeights(weights, adapter)).toThrow(/shape/);
    weights.tensors.delete(projectionName(1, 'up_proj'));
    expect(() => mergeLoraIntoWeights(weights, randomAdapter(config, [1], 1))).toThrow(/lack .*up_proj/);
  });
});
