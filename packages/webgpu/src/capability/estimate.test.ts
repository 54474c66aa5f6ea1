// estimateVariant against sizes and FLOPs counted by hand for a tiny model, tensor by tensor.
import { ConfigError, InputError } from '@prufed/model';
import { llamaConfigOf } from '@prufed/model/testing';
import { describe, expect, it } from 'vitest';
import { estimateVariant, type TrainShape } from './estimate';

const tiny = llamaConfigOf({ L: 3, C: 4, NH: 2, NKV: 1, F: 6, V: 10, maxPositions: 16, tied: false });
// B 1, T 3 (N 3), R 1 on q_proj and down_proj.
const train: TrainShape = {
  batchSize: 1,
  seqLen: 3,
  lora: { r: 1, alpha: 2, targetModules: ['q_proj', 'down_proj'] },
  localSteps: 5,
  dtypeBytes: 4,
};

describe('estimateVariant', () => {
  it('counts the buffers of 2 kept layers of a tiny model', () => {
    const estimate = estimateVariant(tiny, 2, train);
    // Projections (IN x OUT): q 4x4, k 4x2, v 4x2, o 4x4, gate 4x6, up 4x6, down 6x4 = 120; two norm gains 8.
    const layerWeights = 16 + 8 + 8 + 16 + 24 + 24 + 24 + 8;
    const globalWeights = 40 + 4 + 40; // embedding, final norm, LM head
    expect(estimate.memory.weights).toBe((2 * layerWeights + globalWeights) * 4);
    // LoRA: q R (4 + 4), down R (6 + 4) per layer.
    expect(estimate.adapterParams).toBe(2 * (8 + 10));
    expect(estimate.memory.adapter).toBe(2 * 36 * 4);
    expect(estimate.memory.optimizer).toBe(2 * 36 * 4);
    // Per layer: ln1 12, ln1Rstd 3, q 12, k 6, v 6, lse 6, attOut 12, ln2 12, ln2Rstd 3, gate 18,
    // up 18, h 18, two loraU 3 each, residual 12, residualMid 12.
    const layerActs = 12 + 3 + 12 + 6 + 6 + 6 + 12 + 12 + 3 + 18 + 18 + 18 + 6 + 12 + 12;
    // Once: last residual 12, lnf 12, lnfRstd 3, logits 30, cos + sin 6, scratch 6, proj/dres/dln 36,
    // dq 12, dk 6, dv 6, dattOut 12, dgate/dup/dh 54, dloraU 3.
    const globalActs = 12 + 12 + 3 + 30 + 6 + 6 + 36 + 12 + 6 + 6 + 12 + 54 + 3;
    expect(estimate.memory.activations).toBe((2 * layerActs + globalActs) * 4);
    const { weights, activations, adapter, optimizer, total } = estimate.memory;
    expect(total).toBe(weights + activations + adapter + optimizer);
    expect(estimate.memory.largestBinding).toBe(40 * 4);
    expect(estimate.memory.largestBindingName).toMatch(/embedding/);
  });

  it('counts forward and input-gradient FLOPs, LoRA terms, causal attention and the LM head', () => {
    const estimate = estimateVariant(tiny, 2, train);
    const N = 3;
    const projections = 4 * N * 120; // frozen weights: forward + dx, no dW
    const lora = 6 * N * 1 * (4 + 4) + 6 * N * 1 * (6 + 4);
    // 1 batch x 2 heads x 6 causal (query, key) pairs, 4 HS forward + 14 HS backward each.
    const attention = 12 * (4 + 14) * 2;
    const head = 4 * N * 4 * 10;
    expect(estimate.flopsPerStep).toBe(2 * (projections + lora + attention) + head);
    expect(estimate.flopsPerRound).toBe(5 * estimate.flopsPerStep);
  });

  it('halves base weights and activations with 2-byte storage, not the f32 adapter and optimizer', () => {
    const f32 = estimateVariant(tiny, 3, train);
    const f16 = estimateVariant(tiny, 3, { ...train, dtypeBytes: 2 });
    expect(f16.memory.weights).toBe(f32.memory.weights / 2);
    expect(f16.memory.activations).toBe(f32.memory.activations / 2);
    expect(f16.memory.adapter).toBe(f32.memory.adapter);
    expect(f16.memory.optimizer).toBe(f32.memory.optimizer);
  });

  it('rejects depths outside the model and unusable training shapes, saying what is allowed', () => {
    expect(() => estimateVariant(tiny, 4, train)).toThrow(ConfigError);
    expect(() => estimateVariant(tiny, 0, train)).toThrow(/1 to 3 layers/);
    expect(() => estimateVariant(tiny, 2, { ...train, seqLen: 0 })).toThrow(InputError);
    expect(() => estimateVariant(tiny, 2, { ...train, dtypeBytes: 8 as 4 })).toThrow(
      /4 \(f32\) or 2 \(f16\)/,
    );
  });
});
