// Tiny random LLaMA checkpoints for tests and benchmarks: a complete HF model directory
// (config.json, model.safetensors, tokenizer.json) with random weights and a byte-level tokenizer,
// written in milliseconds. Dimension letters: L layers, C hidden, NH heads, NKV kv-heads, F ffn, V vocab.
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { assertLlamaConfig, type LlamaConfig } from '../config';
import { InputError } from '../errors';
import { randomLlamaWeights } from '../init';
import { llamaConfigOf } from '../testing';
import { byteLevelBpeTokenizerJson } from '../tokenizer';
import { type WriteModelDirOptions, writeModelDir } from './model-dir';

export interface TinyModelOptions {
  layers: number; // L
  hidden: number; // C
  heads: number; // NH
  kvHeads: number; // NKV
  /** F; default 3 * hidden. */
  ffn?: number;
  /** V; default and minimum: the 256 byte tokens + <|bos|>, <|eos|>, <|pad|>. Larger pads with reserved tokens. */
  vocab?: number;
  seed: number;
  /** Tie lm_head to the embedding; default false. */
  tied?: boolean;
  dtype?: WriteModelDirOptions['dtype'];
}

const specialTokens = ['<|bos|>', '<|eos|>', '<|pad|>'];
const minVocab = 256 + specialTokens.length;

/** Writes a random tiny LLaMA model directory; ids 256, 257, 258 are <|bos|>, <|eos|>, <|pad|>. */
export async function writeTinyModel(
  dir: string,
  options: TinyModelOptions,
): Promise<{ dir: string; config: LlamaConfig }> {
  const { layers, hidden, heads, kvHeads, seed } = options;
  const vocab = options.vocab ?? minVocab;
  if (!Number.isInteger(vocab) || vocab < minVocab) {
    throw new InputError(
      `a tiny model's vocab must be an integer >= ${minVocab} (256 bytes + 3 specials), got ${vocab}`,
    );
  }
  if (!Number.isInteger(hidden) || !Number.isInteger(heads) || hidden % heads !== 0) {
    throw new InputError(`hidden (${hidden}) must be a multiple of heads (${heads})`);
  }
  const config: LlamaConfig = {
    ...llamaConfigOf({
      L: layers,
      C: hidden,
      NH: heads,
      NKV: kvHeads,
      F: options.ffn ?? 3 * hidden,
      V: vocab,
      maxPositions: 2048,
      tied: options.tied ?? false,
    }),
    bosTokenId: 256,
    eosTokenId: 257,
  };
  assertLlamaConfig(config); // NH a multiple of NKV, even head size, positive sizes
  const tokenizerJson = byteLevelBpeTokenizerJson({ specialTokens, bosToken: '<|bos|>', vocabSize: vocab });
  const weights = randomLlamaWeights(config, { seed });
  await writeModelDir(dir, config, weights, { dtype: options.dtype, tokenizerJson });
  return { dir: path.resolve(dir), config };
}

/** writeTinyModel into a fresh directory under os.tmpdir(); the caller removes it. */
export async function makeTempTinyModel(
  options: TinyModelOptions,
): Promise<{ dir: string; config: LlamaConfig }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'prufed-tiny-'));
  return writeTinyModel(dir, options);
}
