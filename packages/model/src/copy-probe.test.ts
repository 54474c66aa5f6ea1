import { describe, expect, it } from 'vitest';
import { copyProbe, ordinaryTokenRange } from './copy-probe';
import type { Batch, TrainingEngine } from './engine';
import { InputError } from './errors';
import type { Tensor } from './tensor';

const V = 50;

/** A fake engine whose logits are a function of the tokens before each position. */
function engineOf(predict: (ids: Int32Array, t: number) => number): TrainingEngine {
  return {
    async logits(batch: Batch): Promise<Tensor> {
      const { batchSize: B, seqLen: T } = batch;
      const data = new Float32Array(B * T * V);
      for (let b = 0; b < B; b++) {
        const ids = batch.inputIds.subarray(b * T, (b + 1) * T);
        for (let t = 0; t < T; t++) data[(b * T + t) * V + predict(ids, t)] = 30;
      }
      return { shape: [B, T, V], data };
    },
  } as unknown as TrainingEngine;
}

describe('copyProbe', () => {
  const options = { count: 6, length: 10, low: 3, high: V, seed: 1, bosId: 0 };

  it('an induction head (find the last earlier occurrence, predict what followed) scores 1', async () => {
    const induction = engineOf((ids, t) => {
      for (let s = t - 1; s >= 0; s--) if (ids[s] === ids[t]) return ids[s + 1];
      return 1;
    });
    const result = await copyProbe(induction, options);
    expect(result.accuracy).toBe(1);
    expect(result.loss).toBeLessThan(1e-6);
    expect(result.tokens).toBe(6 * 9);
  });

  it('a model that ignores its context scores near chance with loss near its logit gap', async () => {
    const constant = engineOf(() => 1); // never an ordinary token
    const result = await copyProbe(constant, options);
    expect(result.accuracy).toBe(0);
    expect(result.chance).toBeCloseTo(1 / 47, 12);
    // target logit 0 against one logit 30 and V - 1 zeros
    expect(result.loss).toBeCloseTo(Math.log(Math.exp(30) + V - 1), 6);
  });

  it('is deterministic in the seed and refuses degenerate settings', async () => {
    const echo = engineOf((ids, t) => ids[t]);
    expect(await copyProbe(echo, options)).toEqual(await copyProbe(echo, options));
    await expect(copyProbe(echo, { ...options, length: 1 })).rejects.toThrow(InputError);
    await expect(copyProbe(echo, { ...options, low: 5, high: 6 })).rejects.toThrow(InputError);
  });
});

describe('ordinaryTokenRange', () => {
  it('spans the merged sub-words: above the 256 bytes, below the first special token', () => {
    expect(ordinaryTokenRange({ vocabSize: 2048, bosId: 2045, eosId: 2046, padId: 2047 })).toEqual({
      low: 256,
      high: 2045,
    });
    expect(ordinaryTokenRange({ vocabSize: 1000 })).toEqual({ low: 256, high: 1000 });
  });
});
