import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { byteLevelBpeTokenizerJson, type LlamaConfig, randomLlamaWeights } from '@prufed/model';
import { writeModelDir } from '@prufed/model/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CorpusEvalResult, evaluate, type TaskEvalResult } from './eval';

describe('evaluate', () => {
  // Zero linear weights: every logit is 0, so the loss of any token is exactly ln V.
  const config: LlamaConfig = {
    hiddenSize: 16,
    intermediateSize: 32,
    numHiddenLayers: 4,
    numAttentionHeads: 4,
    numKeyValueHeads: 2,
    headDim: 4,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    vocabSize: 259,
    maxPositionEmbeddings: 256,
    tieWordEmbeddings: true,
  };
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'prufed-eval-'));
    const tokenizerJson = byteLevelBpeTokenizerJson({
      specialTokens: ['<|bos|>', '<|eos|>', '<|pad|>'],
      bosToken: '<|bos|>',
    });
    await writeModelDir(dir, config, randomLlamaWeights(config, { seed: 1, std: 0 }), { tokenizerJson });
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const base = {
    split: 'test',
    data: path.resolve(import.meta.dirname, '../../../public/datasets/wordnet'),
    seqLen: 32,
    batchSize: 4,
    maxNewTokens: 3,
    engine: 'cpu',
  };

  it('corpus mode: loss ln V of a uniform model beside the unigram entropy', async () => {
    const corpus = path.join(base.data, 'corpus-valid.txt');
    const result = (await evaluate({ ...base, model: dir, corpus, limit: 20 })) as CorpusEvalResult;
    expect(result.loss).toBeCloseTo(Math.log(259), 5);
    expect(result.perplexity).toBeCloseTo(259, 2);
    expect(result.unigramEntropy).toBeGreaterThan(2);
    expect(result.unigramEntropy).toBeLessThan(Math.log(259));
    expect(result.keptLayers).toEqual([0, 1, 2, 3]);
  });

  it('task mode on a pruned variant: loss ln V and the task metric', async () => {
    const result = (await evaluate({
      ...base,
      model: dir,
      task: 'pos',
      limit: 3,
      strategy: 'top',
      keepLayers: 2,
    })) as TaskEvalResult;
    expect(result.keptLayers).toEqual([0, 1]);
    expect(result.count).toBe(3);
    expect(result.loss).toBeCloseTo(Math.log(259), 5);
    // every logit ties, so greedy picks id 0 (a NUL byte): never a part of speech
    expect(result.exactMatch).toBe(0);
    expect(result.f1).toBe(0);
  });

  it('--block-repeats: greedy decoding repeats no n-gram of the answer', async () => {
    // Every logit ties, so greedy repeats id 0; blocking 1-grams takes ids 0, 1, 2 in turn.
    const decode = async (blockRepeats: number) => {
      const options = { ...base, model: dir, task: 'pos', limit: 1, predictions: true, blockRepeats };
      const result = (await evaluate(options)) as TaskEvalResult;
      return [...result.predictions![0].prediction].map((c) => c.codePointAt(0));
    };
    const free = await decode(0);
    const blocked = await decode(1);
    expect(free).toHaveLength(3);
    expect(new Set(free).size).toBe(1);
    expect(blocked).toHaveLength(3);
    expect(new Set(blocked).size).toBe(3);
  });

  it('rejects ambiguous options with a clear error', async () => {
    await expect(evaluate({ ...base, model: dir })).rejects.toThrow(/--task T .* or --corpus FILE/);
    await expect(
      evaluate({ ...base, model: dir, task: 'pos', keep: [0], strategy: 'top', keepLayers: 1 }),
    ).rejects.toThrow(/either --keep or --strategy/);
    await expect(evaluate({ ...base, model: dir, task: 'nope' })).rejects.toThrow(/unknown task/);
  });
});
