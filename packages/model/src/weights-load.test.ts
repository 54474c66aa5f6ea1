import { describe, expect, it } from 'vitest';
import { FormatError, InputError } from './errors';
import { expectedTensorShape, hfGlobalTensorNames, hfLayerTensorNames, llamaTensorSpecs } from './hf-names';
import type { Tensor } from './tensor';
import { llamaConfigOf } from './testing';
import { llamaWeightsFromMap, loadLlamaWeights } from './weights-load';

const config = llamaConfigOf({ L: 4, C: 8, NH: 4, NKV: 2, F: 12, V: 10, maxPositions: 32, tied: false });

// Shapes written out by hand from the LLaMA architecture, (out, in) for linear weights.
const handShapes: Record<string, number[]> = {
  'model.embed_tokens.weight': [10, 8],
  'model.norm.weight': [8],
  'lm_head.weight': [10, 8],
  'input_layernorm.weight': [8],
  'self_attn.q_proj.weight': [8, 8],
  'self_attn.k_proj.weight': [4, 8],
  'self_attn.v_proj.weight': [4, 8],
  'self_attn.o_proj.weight': [8, 8],
  'post_attention_layernorm.weight': [8],
  'mlp.gate_proj.weight': [12, 8],
  'mlp.up_proj.weight': [12, 8],
  'mlp.down_proj.weight': [8, 12],
};

function handShape(name: string): number[] {
  return handShapes[name.replace(/^model\.layers\.\d+\./, '')];
}

/** Every tensor of the full model, each filled with a value that identifies it. */
function fullModel(): Map<string, Tensor> {
  const tensors = new Map<string, Tensor>();
  const names = ['model.embed_tokens.weight', 'model.norm.weight', 'lm_head.weight'];
  for (let layer = 0; layer < 4; layer++) {
    for (const part of Object.keys(handShapes).slice(3)) names.push(`model.layers.${layer}.${part}`);
  }
  names.forEach((name, i) => {
    const shape = handShape(name);
    tensors.set(name, { shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(i) });
  });
  return tensors;
}

describe('tensor names and shapes', () => {
  it('names a layer in HF order', () => {
    expect(hfLayerTensorNames(3)).toEqual([
      'model.layers.3.input_layernorm.weight',
      'model.layers.3.self_attn.q_proj.weight',
      'model.layers.3.self_attn.k_proj.weight',
      'model.layers.3.self_attn.v_proj.weight',
      'model.layers.3.self_attn.o_proj.weight',
      'model.layers.3.post_attention_layernorm.weight',
      'model.layers.3.mlp.gate_proj.weight',
      'model.layers.3.mlp.up_proj.weight',
      'model.layers.3.mlp.down_proj.weight',
    ]);
  });

  it('drops lm_head when embeddings are tied', () => {
    expect(hfGlobalTensorNames(config)).toEqual([
      'model.embed_tokens.weight',
      'model.norm.weight',
      'lm_head.weight',
    ]);
    expect(hfGlobalTensorNames({ ...config, tieWordEmbeddings: true })).toEqual([
      'model.embed_tokens.weight',
      'model.norm.weight',
    ]);
  });

  it('lists a variant in forward order: embedding, kept layers, final norm, LM head', () => {
    const specs = llamaTensorSpecs(config, [2]);
    expect(specs.map((s) => s.name)).toEqual([
      'model.embed_tokens.weight',
      ...hfLayerTensorNames(2),
      'model.norm.weight',
      'lm_head.weight',
    ]);
    for (const { name, shape } of specs) expect(shape, name).toEqual(handShape(name));
  });

  it('gives the hand-computed shapes, including GQA and an explicit head_dim', () => {
    for (const name of fullModel().keys())
      expect(expectedTensorShape(config, name), name).toEqual(handShape(name));
    const wideHeads = { ...config, headDim: 4 }; // NH * HS = 16 != C
    expect(expectedTensorShape(wideHeads, 'model.layers.0.self_attn.q_proj.weight')).toEqual([16, 8]);
    expect(expectedTensorShape(wideHeads, 'model.layers.0.self_attn.k_proj.weight')).toEqual([8, 8]);
    expect(expectedTensorShape(wideHeads, 'model.layers.0.self_attn.o_proj.weight')).toEqual([8, 16]);
    expect(expectedTensorShape({ ...config, tieWordEmbeddings: true }, 'lm_head.weight')).toEqual([10, 8]);
  });

  it('rejects unknown names and layers beyond the model', () => {
    expect(() => expectedTensorShape(config, 'model.layers.4.mlp.up_proj.weight')).toThrow(/layer 4.*has 4/);
    expect(() => expectedTensorShape(config, 'model.layers.0.mlp.q_proj.weight')).toThrow(InputError);
    expect(() => expectedTensorShape(config, 'model.rotary.inv_freq')).toThrow(/not a LLaMA weight name/);
  });
});

describe('loadLlamaWeights', () => {
  it('fetches only the global tensors and the kept layers, in order', async () => {
    const model = fullModel();
    const asked: string[] = [];
    const weights = await loadLlamaWeights(
      config,
      async (name) => {
        asked.push(name);
        return model.get(name)!;
      },
      [1, 3],
    );
    const expectedNames = [
      ...hfGlobalTensorNames(config),
      ...hfLayerTensorNames(1),
      ...hfLayerTensorNames(3),
    ];
    expect(asked).toEqual(expectedNames);
    expect(weights.layers).toEqual([1, 3]);
    expect([...weights.tensors.keys()]).toEqual(expectedNames);
    expect(weights.tensors.get('model.layers.3.mlp.down_proj.weight')).toBe(
      model.get('model.layers.3.mlp.down_proj.weight'),
    );
    expect(weights.config).toBe(config);
  });

  it('ignores lm_head in the file when embeddings are tied', () => {
    const tied = { ...config, tieWordEmbeddings: true };
    const weights = llamaWeightsFromMap(tied, fullModel(), [0, 1, 2, 3]);
    expect(weights.tensors.has('lm_head.weight')).toBe(false);
    expect(weights.tensors.size).toBe(2 + 4 * 9);
  });

  it('names the tensor, the expected and the found shape on a mismatch', async () => {
    const model = fullModel();
    model.set('model.layers.2.self_attn.k_proj.weight', { shape: [8, 8], data: new Float32Array(64) });
    await expect(loadLlamaWeights(config, async (name) => model.get(name)!, [2])).rejects.toThrow(
      FormatError,
    );
    expect(() => llamaWeightsFromMap(config, model, [2])).toThrow(
      'tensor "model.layers.2.self_attn.k_proj.weight" has shape [8,8] but config.json implies [4,8]',
    );
    expect(() => llamaWeightsFromMap(config, model, [1])).not.toThrow();
    model.set('model.norm.weight', { shape: [8], data: new Float32Array(7) });
    expect(() => llamaWeightsFromMap(config, model, [1])).toThrow(
      /holds 7 values, but its shape \[8\] needs 8/,
    );
  });

  it('reports a missing tensor', () => {
    const model = fullModel();
    model.delete('model.layers.0.mlp.gate_proj.weight');
    expect(() => llamaWeightsFromMap(config, model, [0])).toThrow(
      /lack tensor "model.layers.0.mlp.gate_proj.weight"/,
    );
  });

  it('rejects kept layers that are unsorted, repeated or out of range', () => {
    const model = fullModel();
    for (const kept of [[3, 1], [1, 1], [4], [-1], [0.5]]) {
      expect(() => llamaWeightsFromMap(config, model, kept), `${kept}`).toThrow(InputError);
    }
    expect(() => llamaWeightsFromMap(config, model, [2, 0])).toThrow(/ascending and unique/);
    expect(() => llamaWeightsFromMap(config, model, [0, 4])).toThrow(
      /kept layer 4 is not a layer index in \[0, 4\)/,
    );
  });
});
