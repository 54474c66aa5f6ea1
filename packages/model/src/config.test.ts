import { describe, expect, it } from 'vitest';
import { type LlamaConfig, llamaConfigToHf, parseLlamaConfig } from './config';
import { ConfigError } from './errors';

// TinyLlama-1.1B's config.json, verbatim (GQA, untied embeddings).
const tinyLlama = {
  architectures: ['LlamaForCausalLM'],
  attention_bias: false,
  bos_token_id: 1,
  eos_token_id: 2,
  hidden_act: 'silu',
  hidden_size: 2048,
  initializer_range: 0.02,
  intermediate_size: 5632,
  max_position_embeddings: 2048,
  model_type: 'llama',
  num_attention_heads: 32,
  num_hidden_layers: 22,
  num_key_value_heads: 4,
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  rope_scaling: null,
  rope_theta: 10000.0,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
  transformers_version: '4.35.0',
  use_cache: true,
  vocab_size: 32000,
};

const minimal = {
  hidden_size: 64,
  intermediate_size: 128,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  vocab_size: 100,
  max_position_embeddings: 256,
};

describe('parseLlamaConfig', () => {
  it('reads a real config.json', () => {
    expect(parseLlamaConfig(tinyLlama)).toStrictEqual({
      hiddenSize: 2048,
      intermediateSize: 5632,
      numHiddenLayers: 22,
      numAttentionHeads: 32,
      numKeyValueHeads: 4,
      headDim: 64,
      rmsNormEps: 1e-5,
      ropeTheta: 10000,
      vocabSize: 32000,
      maxPositionEmbeddings: 2048,
      tieWordEmbeddings: false,
      bosTokenId: 1,
      eosTokenId: 2,
    });
  });

  it('fills HF defaults for optional fields', () => {
    expect(parseLlamaConfig(minimal)).toStrictEqual({
      hiddenSize: 64,
      intermediateSize: 128,
      numHiddenLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 4,
      headDim: 16,
      rmsNormEps: 1e-6,
      ropeTheta: 10000,
      vocabSize: 100,
      maxPositionEmbeddings: 256,
      tieWordEmbeddings: false,
    });
  });

  it('takes head_dim when given, the first of several eos ids, and tied embeddings', () => {
    const config = parseLlamaConfig({
      ...minimal,
      head_dim: 32,
      eos_token_id: [7, 8],
      bos_token_id: null,
      tie_word_embeddings: true,
      num_key_value_heads: 2,
    });
    expect(config.headDim).toBe(32);
    expect(config.eosTokenId).toBe(7);
    expect(config.bosTokenId).toBeUndefined();
    expect(config.tieWordEmbeddings).toBe(true);
    expect(config.numKeyValueHeads).toBe(2);
  });

  const bad: [string, unknown, RegExp][] = [
    ['a non-object', [1, 2], /must hold a JSON object/],
    ['null', null, /must hold a JSON object/],
    ['a missing size', { ...minimal, vocab_size: undefined }, /missing "vocab_size"/],
    [
      'a non-integer size',
      { ...minimal, hidden_size: 64.5 },
      /"hidden_size" must be a positive integer, got 64.5/,
    ],
    [
      'a string size',
      { ...minimal, intermediate_size: '128' },
      /"intermediate_size" must be a positive integer/,
    ],
    ['a zero size', { ...minimal, num_hidden_layers: 0 }, /"num_hidden_layers" must be a positive integer/],
    [
      'heads not dividing hidden',
      { ...minimal, num_attention_heads: 6 },
      /64\) is not divisible by num_attention_heads \(6/,
    ],
    [
      'NH not a multiple of NKV',
      { ...minimal, num_key_value_heads: 3 },
      /\(4\) must be a multiple of num_key_value_heads \(3\)/,
    ],
    ['an odd head size', { ...minimal, hidden_size: 60, num_attention_heads: 4 }, /head size 15 is odd/],
    ['an odd explicit head_dim', { ...minimal, head_dim: 9 }, /head size 9 is odd/],
    [
      'rope_scaling',
      { ...minimal, rope_scaling: { rope_type: 'llama3', factor: 8 } },
      /RoPE scaling is unsupported/,
    ],
    ['gelu', { ...minimal, hidden_act: 'gelu' }, /hidden_act is "gelu", but only "silu"/],
    [
      'another model type',
      { ...minimal, model_type: 'mistral' },
      /model_type is "mistral", but only "llama"/,
    ],
    [
      'attention biases',
      { ...minimal, attention_bias: true },
      /attention_bias is true, but biases are unsupported/,
    ],
    ['a zero eps', { ...minimal, rms_norm_eps: 0 }, /"rms_norm_eps" must be a positive number, got 0/],
    ['a negative eps', { ...minimal, rms_norm_eps: -1e-5 }, /"rms_norm_eps" must be a positive number/],
    ['a bad rope_theta', { ...minimal, rope_theta: 'big' }, /"rope_theta" must be a positive number/],
    ['a bad token id', { ...minimal, eos_token_id: -1 }, /"eos_token_id" must be a non-negative integer/],
    [
      'a non-boolean tie',
      { ...minimal, tie_word_embeddings: 'yes' },
      /tie_word_embeddings must be true or false/,
    ],
  ];
  for (const [what, json, message] of bad) {
    it(`rejects ${what} with a ConfigError`, () => {
      expect(() => parseLlamaConfig(json)).toThrow(ConfigError);
      expect(() => parseLlamaConfig(json)).toThrow(message);
    });
  }
});

describe('llamaConfigToHf', () => {
  it('writes a full HF config.json that parses back to the same config', () => {
    const configs: LlamaConfig[] = [
      parseLlamaConfig(tinyLlama),
      parseLlamaConfig(minimal),
      { ...parseLlamaConfig(minimal), headDim: 32, tieWordEmbeddings: true, eosTokenId: 0 },
    ];
    for (const config of configs) expect(parseLlamaConfig(llamaConfigToHf(config))).toStrictEqual(config);
  });

  it('has the fields transformers needs', () => {
    const hf = llamaConfigToHf(parseLlamaConfig(tinyLlama), 'float16');
    expect(hf).toMatchObject({
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      hidden_act: 'silu',
      torch_dtype: 'float16',
      num_key_value_heads: 4,
      head_dim: 64,
      rope_scaling: null,
      bos_token_id: 1,
      eos_token_id: 2,
    });
    expect(llamaConfigToHf(parseLlamaConfig(minimal)).torch_dtype).toBe('float32');
  });
});
