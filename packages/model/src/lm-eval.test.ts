// Unit tests of the language-model evaluation helpers against hand-computed packings and entropies.
import { describe, expect, it } from 'vitest';
import type { TrainingEngine } from './engine';
import { InputError } from './errors';
import { greedyDecode, packedBatch, packLines, unigramEntropy } from './lm-eval';
import type { Tensor } from './tensor';

describe('corpus packing', () => {
  it('packs <|bos|> line <|eos|> into whole rows and masks <|bos|> targets', () => {
    const stream = packLines([[5, 6], [7], [8, 9]], 1, 2, 3);
    // 4 + 3 + 4 = 11 tokens -> 3 rows of 3; the rest is dropped
    expect([...stream]).toEqual([1, 5, 6, 2, 1, 7, 2, 1, 8]);
    const batch = packedBatch(stream, [1, 2], 3, 1);
    expect([...batch.inputIds]).toEqual([2, 1, 7, 2, 1, 8]);
    expect([...batch.labels]).toEqual([2, -100, 7, 2, -100, 8]);
    expect(() => packLines([[5]], 1, 2, 4)).toThrow(InputError);
  });

  it('unigram entropy counts the loss targets only', () => {
    // rows [1,5,6] [2,1,7]: row starts and <|bos|> are skipped, leaving 5, 6, 7 once each
    expect(unigramEntropy(Int32Array.from([1, 5, 6, 2, 1, 7]), 3, 1)).toBeCloseTo(Math.log(3), 12);
    // rows [1,5,5] [1,5,6]: targets 5, 5, 5, 6
    const p = [0.75, 0.25];
    const expected = -p.reduce((h, q) => h + q * Math.log(q), 0);
    expect(unigramEntropy(Int32Array.from([1, 5, 5, 1, 5, 6]), 3, 1)).toBeCloseTo(expected, 12);
  });
});

describe('greedyDecode', () => {
  // logits favour (last token + 1) mod V
  const V = 6;
  const engine = {
    async logits(batch: { seqLen: number; inputIds: Int32Array }): Promise<Tensor> {
      const T = batch.seqLen;
      const data = new Float32Array(T * V);
      for (let t = 0; t < T; t++) data[t * V + ((batch.inputIds[t] + 1) % V)] = 1;
      return { shape: [1, T, V], data };
    },
  } as unknown as TrainingEngine;

  it('stops at eos, at maxNewTokens and at maxLength', async () => {
    expect(await greedyDecode(engine, [0], 10, 4, 100)).toEqual([1, 2, 3]);
    expect(await greedyDecode(engine, [0], 2, 4, 100)).toEqual([1, 2]);
    expect(await greedyDecode(engine, [0, 1], 10, 5, 3)).toEqual([2]);
  });

  it('with noRepeatNgram takes the best token that repeats no n-gram of the answer', async () => {
    // The answer 1 2 3 4 5 0 1 would go on with 2, repeating its bigram (1, 2); the rule takes the
    // runner-up instead (token 0, the lowest index among the equal zeros). The prompt is not counted.
    expect(await greedyDecode(engine, [0], 8, -1, 100)).toEqual([1, 2, 3, 4, 5, 0, 1, 2]);
    expect(await greedyDecode(engine, [0], 8, -1, 100, { noRepeatNgram: 2 })).toEqual([
      1, 2, 3, 4, 5, 0, 1, 0,
    ]);
    expect(await greedyDecode(engine, [0], 8, -1, 100, { noRepeatNgram: 0 })).toEqual([
      1, 2, 3, 4, 5, 0, 1, 2,
    ]);
  });
});
