// The shared fixtures against their configs written out field by field, as the tests and
// benchmarks that now use them had them.
import { describe, expect, it } from 'vitest';
import { assertLlamaConfig } from './config';
import { InputError } from './errors';
import { benchLlamaConfig, benchModelShape, llamaConfigOf, tinyLlamaConfig } from './testing';

describe('llamaConfigOf / tinyLlamaConfig', () => {
  it('gives the tiny engine-test model, field by field', () => {
    const config = tinyLlamaConfig({ V: 300 });
    expect(config).toStrictEqual({
      hiddenSize: 64,
      intermediateSize: 128,
      numHiddenLayers: 4,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      headDim: 16,
      rmsNormEps: 1e-5,
      ropeTheta: 10000,
      vocabSize: 300,
      maxPositionEmbeddings: 64,
      tieWordEmbeddings: true,
    });
    expect(() => assertLlamaConfig(config)).not.toThrow();
  });

  it('derives the head size from C / NH', () => {
    const config = llamaConfigOf({ L: 3, C: 4, NH: 2, NKV: 1, F: 6, V: 5, maxPositions: 16, tied: false });
    expect(config.headDim).toBe(2);
    expect(config.tieWordEmbeddings).toBe(false);
    expect(config.numHiddenLayers).toBe(3);
  });
});

describe('benchModelShape / benchLlamaConfig', () => {
  it('gives the shipped default model, field by field', () => {
    expect(benchLlamaConfig(benchModelShape('default'))).toStrictEqual({
      hiddenSize: 128,
      intermediateSize: 384,
      numHiddenLayers: 12,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      headDim: 32,
      rmsNormEps: 1e-5,
      ropeTheta: 10000,
      vocabSize: 2048,
      maxPositionEmbeddings: 256,
      tieWordEmbeddings: true,
    });
  });

  it('names the known shapes for an unknown one', () => {
    expect(() => benchModelShape('huge')).toThrow(InputError);
    expect(() => benchModelShape('huge')).toThrow(/use default, large/);
  });
});
