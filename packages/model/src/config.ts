// LLaMA model configuration read from a Hugging Face config.json.
// Dimension letters used across the project: B batch, T tokens, C hidden, NH heads,
// NKV kv-heads, HS head size, F ffn, V vocab, R LoRA rank, L layers.
import { ConfigError } from './errors';

export interface LlamaConfig {
  hiddenSize: number; // C
  intermediateSize: number; // F
  numHiddenLayers: number; // L
  numAttentionHeads: number; // NH
  numKeyValueHeads: number; // NKV (divides NH)
  headDim: number; // HS = C / NH unless config.json says head_dim
  rmsNormEps: number;
  ropeTheta: number;
  vocabSize: number; // V
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  bosTokenId?: number;
  eosTokenId?: number;
}

// Defaults of transformers' LlamaConfig for the fields a config.json may leave out.
const defaultRmsNormEps = 1e-6;
const defaultRopeTheta = 10000;

type Json = Record<string, unknown>;

function positiveInteger(json: Json, key: string): number {
  const value = json[key];
  if (value === undefined || value === null) {
    throw new ConfigError(`config.json is missing "${key}"; add it (a positive integer) to config.json`);
  }
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new ConfigError(`config.json "${key}" must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

function positiveNumber(json: Json, key: string, fallback: number): number {
  const value = json[key] ?? fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ConfigError(`config.json "${key}" must be a positive number, got ${JSON.stringify(value)}`);
  }
  return value;
}

function tokenId(json: Json, key: string): number | undefined {
  // Some checkpoints list several eos ids; the first one is the canonical one.
  const raw = json[key];
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new ConfigError(
      `config.json "${key}" must be a non-negative integer or a list of them, got ${JSON.stringify(raw)}`,
    );
  }
  return value;
}

function rejectUnsupported(json: Json): void {
  if (json.model_type !== undefined && json.model_type !== 'llama') {
    throw new ConfigError(
      `config.json model_type is ${JSON.stringify(json.model_type)}, but only "llama" is supported; ` +
        'use a LLaMA-architecture checkpoint (Llama, TinyLlama, SmolLM, ...)',
    );
  }
  if (json.hidden_act !== undefined && json.hidden_act !== 'silu') {
    throw new ConfigError(
      `config.json hidden_act is ${JSON.stringify(json.hidden_act)}, but only "silu" (SwiGLU MLP) is supported`,
    );
  }
  if (json.rope_scaling !== undefined && json.rope_scaling !== null) {
    throw new ConfigError(
      `config.json rope_scaling is ${JSON.stringify(json.rope_scaling)}, but RoPE scaling is unsupported; ` +
        'use a checkpoint with "rope_scaling": null (plain RoPE)',
    );
  }
  for (const key of ['attention_bias', 'mlp_bias']) {
    if (json[key] !== undefined && json[key] !== false) {
      throw new ConfigError(`config.json ${key} is ${JSON.stringify(json[key])}, but biases are unsupported`);
    }
  }
}

/** Reads and validates a Hugging Face LLaMA config.json (already JSON-parsed). */
export function parseLlamaConfig(json: unknown): LlamaConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ConfigError('config.json must hold a JSON object with the LLaMA hyper-parameters');
  }
  const hf = json as Json;
  rejectUnsupported(hf);
  const hiddenSize = positiveInteger(hf, 'hidden_size');
  const numAttentionHeads = positiveInteger(hf, 'num_attention_heads');
  const numKeyValueHeads =
    hf.num_key_value_heads === undefined || hf.num_key_value_heads === null
      ? numAttentionHeads
      : positiveInteger(hf, 'num_key_value_heads');
  if (numAttentionHeads % numKeyValueHeads !== 0) {
    throw new ConfigError(
      `config.json num_attention_heads (${numAttentionHeads}) must be a multiple of num_key_value_heads ` +
        `(${numKeyValueHeads}) for grouped-query attention`,
    );
  }
  let headDim: number;
  if (hf.head_dim === undefined || hf.head_dim === null) {
    if (hiddenSize % numAttentionHeads !== 0) {
      throw new ConfigError(
        `config.json hidden_size (${hiddenSize}) is not divisible by num_attention_heads ` +
          `(${numAttentionHeads}); fix the sizes or give head_dim explicitly`,
      );
    }
    headDim = hiddenSize / numAttentionHeads;
  } else {
    headDim = positiveInteger(hf, 'head_dim');
  }
  if (headDim % 2 !== 0) {
    throw new ConfigError(
      `head size ${headDim} is odd, but RoPE rotates pairs of dimensions and needs it even`,
    );
  }
  const tieWordEmbeddings = hf.tie_word_embeddings ?? false;
  if (typeof tieWordEmbeddings !== 'boolean') {
    throw new ConfigError(
      `config.json tie_word_embeddings must be true or false, got ${JSON.stringify(tieWordEmbeddings)}`,
    );
  }
  const config: LlamaConfig = {
    hiddenSize,
    intermediateSize: positiveInteger(hf, 'intermediate_size'),
    numHiddenLayers: positiveInteger(hf, 'num_hidden_layers'),
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    rmsNormEps: positiveNumber(hf, 'rms_norm_eps', defaultRmsNormEps),
    ropeTheta: positiveNumber(hf, 'rope_theta', defaultRopeTheta),
    vocabSize: positiveInteger(hf, 'vocab_size'),
    maxPositionEmbeddings: positiveInteger(hf, 'max_position_embeddings'),
    tieWordEmbeddings,
  };
  const bosTokenId = tokenId(hf, 'bos_token_id');
  const eosTokenId = tokenId(hf, 'eos_token_id');
  if (bosTokenId !== undefined) config.bosTokenId = bosTokenId;
  if (eosTokenId !== undefined) config.eosTokenId = eosTokenId;
  return config;
}

/**
 * Throws a ConfigError unless `config` passes config.json's checks (positive sizes, NH a multiple of
 * NKV, an even head size, positive rmsNormEps and ropeTheta); for configs built in code.
 */
export function assertLlamaConfig(config: LlamaConfig): void {
  parseLlamaConfig(llamaConfigToHf(config));
}

/** A full Hugging Face config.json object for `config`, loadable by transformers' LlamaForCausalLM. */
export function llamaConfigToHf(
  config: LlamaConfig,
  torchDtype: 'float32' | 'float16' = 'float32',
): Record<string, unknown> {
  const hf: Record<string, unknown> = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_act: 'silu',
    hidden_size: config.hiddenSize,
    intermediate_size: config.intermediateSize,
    num_hidden_layers: config.numHiddenLayers,
    num_attention_heads: config.numAttentionHeads,
    num_key_value_heads: config.numKeyValueHeads,
    head_dim: config.headDim,
    rms_norm_eps: config.rmsNormEps,
    rope_theta: config.ropeTheta,
    rope_scaling: null,
    attention_bias: false,
    attention_dropout: 0,
    mlp_bias: false,
    vocab_size: config.vocabSize,
    max_position_embeddings: config.maxPositionEmbeddings,
    tie_word_embeddings: config.tieWordEmbeddings,
    initializer_range: 0.02,
    pretraining_tp: 1,
    use_cache: true,
    torch_dtype: torchDtype,
  };
  if (config.bosTokenId !== undefined) hf.bos_token_id = config.bosTokenId;
  if (config.eosTokenId !== undefined) hf.eos_token_id = config.eosTokenId;
  return hf;
}
