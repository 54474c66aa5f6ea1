// Tests of the tiny-model factory: the directory it writes reads back through readModelDir with the
// seeded random weights, a safetensors header of the expected layout, and a working tokenizer.
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, InputError } from '../errors';
import { randomLlamaWeights } from '../init';
import { loadTokenizer } from '../tokenizer';
import { readModelDir } from './model-dir';
import { makeTempTinyModel } from './tiny-model';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tiny(options: Parameters<typeof makeTempTinyModel>[0]) {
  const model = await makeTempTinyModel(options);
  dirs.push(model.dir);
  return model;
}

describe('makeTempTinyModel', () => {
  it('writes a directory that readModelDir reads back with the seeded weights', async () => {
    const { dir, config } = await tiny({
      layers: 3,
      hidden: 16,
      heads: 4,
      kvHeads: 2,
      ffn: 24,
      vocab: 300,
      seed: 7,
    });
    expect(config).toMatchObject({
      numHiddenLayers: 3,
      hiddenSize: 16,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      headDim: 4,
      intermediateSize: 24,
      vocabSize: 300,
      tieWordEmbeddings: false,
      bosTokenId: 256,
      eosTokenId: 257,
    });
    const model = await readModelDir(dir);
    expect(model.config).toEqual(config);
    const expected = randomLlamaWeights(config, { seed: 7 });
    expect([...model.weights.tensors.keys()].sort()).toEqual([...expected.tensors.keys()].sort());
    for (const [name, tensor] of expected.tensors) {
      expect(model.weights.tensors.get(name)!.shape).toEqual(tensor.shape);
      expect(model.weights.tensors.get(name)!.data).toEqual(tensor.data);
    }
  });

  it('writes a safetensors header with HF names, F32 and (out, in) shapes', async () => {
    const { dir } = await tiny({ layers: 1, hidden: 8, heads: 2, kvHeads: 1, seed: 1 });
    const bytes = await readFile(path.join(dir, 'model.safetensors'));
    const headerLength = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
    expect(header['model.embed_tokens.weight']).toMatchObject({ dtype: 'F32', shape: [259, 8] });
    expect(header['model.layers.0.self_attn.k_proj.weight']).toMatchObject({ dtype: 'F32', shape: [4, 8] });
    expect(header['model.layers.0.mlp.down_proj.weight']).toMatchObject({ dtype: 'F32', shape: [8, 24] });
  });

  it('writes a tokenizer whose vocabulary is the model vocabulary, with bos prepended', async () => {
    const { dir, config } = await tiny({ layers: 1, hidden: 8, heads: 2, kvHeads: 2, vocab: 512, seed: 1 });
    const tokenizer = loadTokenizer((await readModelDir(dir)).tokenizerJson);
    expect(tokenizer.vocabSize).toBe(config.vocabSize);
    expect(tokenizer.encode('hi!')).toEqual([256, 104, 105, 33]);
    expect([tokenizer.bosId, tokenizer.eosId, tokenizer.padId]).toEqual([256, 257, 258]);
    expect(tokenizer.decode(tokenizer.encode('naïve 日本'), { skipSpecialTokens: true })).toBe('naïve 日本');
  });

  it('ties the embeddings when asked (no lm_head) and stores F16 within half precision', async () => {
    const { dir, config } = await tiny({
      layers: 1,
      hidden: 8,
      heads: 2,
      kvHeads: 1,
      seed: 3,
      tied: true,
      dtype: 'F16',
    });
    const model = await readModelDir(dir);
    expect(model.config.tieWordEmbeddings).toBe(true);
    expect(model.weights.tensors.has('lm_head.weight')).toBe(false);
    const expected = randomLlamaWeights(config, { seed: 3 }).tensors.get(
      'model.layers.0.self_attn.q_proj.weight',
    )!;
    const stored = model.weights.tensors.get('model.layers.0.self_attn.q_proj.weight')!;
    let maxDiff = 0;
    for (let i = 0; i < expected.data.length; i++)
      maxDiff = Math.max(maxDiff, Math.abs(stored.data[i] - expected.data[i]));
    expect(maxDiff).toBeGreaterThan(0);
    expect(maxDiff).toBeLessThan(1e-4); // f16 keeps ~11 bits: |w| < 0.1 rounds by < 0.1 * 2^-11
  });

  it('rejects sizes that do not make a model', async () => {
    await expect(tiny({ layers: 1, hidden: 8, heads: 2, kvHeads: 1, vocab: 100, seed: 1 })).rejects.toThrow(
      InputError,
    );
    await expect(tiny({ layers: 1, hidden: 10, heads: 4, kvHeads: 1, seed: 1 })).rejects.toThrow(
      /multiple of heads/,
    );
    await expect(tiny({ layers: 1, hidden: 12, heads: 4, kvHeads: 3, seed: 1 })).rejects.toThrow(ConfigError);
  });
});
