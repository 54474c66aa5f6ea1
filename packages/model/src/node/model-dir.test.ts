import { mkdtemp, readFile, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LlamaConfig } from '../config';
import { FormatError, InputError } from '../errors';
import { expectedTensorShape, hfGlobalTensorNames, hfLayerTensorNames } from '../hf-names';
import { readSafetensors, writeSafetensors } from '../safetensors';
import type { Tensor } from '../tensor';
import { llamaConfigOf } from '../testing';
import type { LlamaWeights } from '../weights';
import { readModelDir, writeModelDir } from './model-dir';

const config: LlamaConfig = {
  ...llamaConfigOf({ L: 3, C: 4, NH: 2, NKV: 1, F: 6, V: 5, maxPositions: 16, tied: false }),
  bosTokenId: 1,
  eosTokenId: 2,
};

/** Full weights whose values (multiples of 1/8) are exact in float16 too. */
function fullWeights(c: LlamaConfig): LlamaWeights {
  const layers = [0, 1, 2];
  const tensors = new Map<string, Tensor>();
  [...hfGlobalTensorNames(c), ...layers.flatMap(hfLayerTensorNames)].forEach((name, i) => {
    const shape = expectedTensorShape(c, name);
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1)).map((_, j) => i + j / 8 - 3);
    tensors.set(name, { shape, data });
  });
  return { config: c, layers, tensors };
}

const tokenizerJson = { version: '1.0', model: { type: 'BPE', vocab: { a: 0 } } };
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'prufed-model-dir-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writeModelDir / readModelDir', () => {
  it('round-trips config, weights and tokenizer as an HF directory', async () => {
    const weights = fullWeights(config);
    await writeModelDir(dir, config, weights, { tokenizerJson });
    const hf = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8'));
    expect(hf).toMatchObject({
      model_type: 'llama',
      hidden_size: 4,
      num_key_value_heads: 1,
      torch_dtype: 'float32',
    });
    const file = readSafetensors(await readFile(path.join(dir, 'model.safetensors')));
    expect(file).toEqual(weights.tensors);

    const model = await readModelDir(dir);
    expect(model.dir).toBe(path.resolve(dir));
    expect(model.config).toStrictEqual(config);
    expect(model.weights.layers).toEqual([0, 1, 2]);
    expect(model.weights.tensors).toEqual(weights.tensors);
    expect(model.tokenizerJson).toEqual(tokenizerJson);
  });

  it('reads only the kept layers of a pruned variant', async () => {
    await writeModelDir(dir, config, fullWeights(config), { dtype: 'F16' });
    const model = await readModelDir(dir, [0, 2]);
    expect(model.weights.layers).toEqual([0, 2]);
    expect(model.tokenizerJson).toBeUndefined();
    const names = [...hfGlobalTensorNames(config), ...hfLayerTensorNames(0), ...hfLayerTensorNames(2)];
    expect([...model.weights.tensors.keys()]).toEqual(names);
    const full = fullWeights(config).tensors;
    for (const name of names) expect(model.weights.tensors.get(name)).toEqual(full.get(name));
  });

  it('handles tied embeddings (no lm_head written or read)', async () => {
    const tied = { ...config, tieWordEmbeddings: true };
    const weights = fullWeights(config); // carries an lm_head, which tying makes redundant
    await writeModelDir(dir, tied, { ...weights, config: tied });
    const file = readSafetensors(await readFile(path.join(dir, 'model.safetensors')));
    expect(file.has('lm_head.weight')).toBe(false);
    const model = await readModelDir(dir);
    expect(model.config.tieWordEmbeddings).toBe(true);
    expect(model.weights.tensors.has('lm_head.weight')).toBe(false);
  });

  it('reads a sharded checkpoint through model.safetensors.index.json', async () => {
    const { tensors } = fullWeights(config);
    const names = [...tensors.keys()];
    const shardOf = (name: string) =>
      name.includes('layers.2') ? 'model-00002-of-00002.safetensors' : 'model-00001-of-00002.safetensors';
    for (const shard of new Set(names.map(shardOf))) {
      const part = new Map(names.filter((n) => shardOf(n) === shard).map((n) => [n, tensors.get(n)!]));
      await writeFile(path.join(dir, shard), writeSafetensors(part));
    }
    const weightMap = Object.fromEntries(names.map((n) => [n, shardOf(n)]));
    await writeFile(
      path.join(dir, 'model.safetensors.index.json'),
      JSON.stringify({ metadata: {}, weight_map: weightMap }),
    );
    await writeFile(path.join(dir, 'config.json'), JSON.stringify({ ...configJsonOf(config) }));
    expect((await readModelDir(dir)).weights.tensors).toEqual(tensors);

    await unlink(path.join(dir, 'model-00002-of-00002.safetensors'));
    await expect(readModelDir(dir, [0, 1])).resolves.toBeDefined();
    await expect(readModelDir(dir)).rejects.toThrow(/lacks model-00002-of-00002.safetensors, a shard listed/);
  });

  it('refuses to write a pruned variant as a full model', async () => {
    const weights = fullWeights(config);
    await expect(writeModelDir(dir, config, { ...weights, layers: [0, 2] })).rejects.toThrow(InputError);
  });
});

function configJsonOf(c: LlamaConfig) {
  return {
    model_type: 'llama',
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numHiddenLayers,
    num_attention_heads: c.numAttentionHeads,
    num_key_value_heads: c.numKeyValueHeads,
    rms_norm_eps: c.rmsNormEps,
    vocab_size: c.vocabSize,
    max_position_embeddings: c.maxPositionEmbeddings,
    bos_token_id: c.bosTokenId,
    eos_token_id: c.eosTokenId,
  };
}

describe('readModelDir errors', () => {
  it('says which file is missing and what a model directory holds', async () => {
    await expect(readModelDir(path.join(dir, 'nowhere'))).rejects.toThrow(
      /has no config\.json; a model directory must contain config\.json and model\.safetensors/,
    );
    await writeFile(path.join(dir, 'config.json'), JSON.stringify(configJsonOf(config)));
    await expect(readModelDir(dir)).rejects.toThrow(InputError);
    await expect(readModelDir(dir)).rejects.toThrow(/has no model\.safetensors/);
  });

  it('reports corrupt JSON, a truncated weights file and a config that does not match the weights', async () => {
    await writeModelDir(dir, config, fullWeights(config));
    const weightsFile = path.join(dir, 'model.safetensors');
    const size = (await readFile(weightsFile)).length;
    await writeFile(
      path.join(dir, 'config.json'),
      JSON.stringify({ ...configJsonOf(config), intermediate_size: 8 }),
    );
    await expect(readModelDir(dir)).rejects.toThrow(/has shape \[6,4\] but config\.json implies \[8,4\]/);
    await writeFile(path.join(dir, 'config.json'), '{"hidden_size": 4,');
    await expect(readModelDir(dir)).rejects.toThrow(/config\.json is not valid JSON/);
    await writeFile(path.join(dir, 'config.json'), JSON.stringify(configJsonOf(config)));
    await truncate(weightsFile, size - 4);
    await expect(readModelDir(dir, [0])).rejects.toThrow(FormatError);
    await expect(readModelDir(dir, [0])).rejects.toThrow(
      /model\.safetensors is truncated or corrupt: expected \d+ bytes of data, found \d+/,
    );
  });
});
