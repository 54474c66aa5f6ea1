// Language-model evaluation helpers shared by pretraining and `prufed eval`: packing tokenised lines
// into rows, the unigram-entropy baseline of the same tokens, mean loss over a packed stream, and
// greedy decoding. Dimension letters: B batch, T tokens, V vocab.
import { argmaxAllowed, repeatedNgramBans } from './decode-rules';
import type { Batch, TrainingEngine } from './engine';
import { InputError } from './errors';

/** Label value ignored by the loss (HF convention). */
const ignoredLabel = -100;

/**
 * Packs tokenised lines as `<|bos|> line <|eos|>` one after another and cuts the stream into rows of
 * T tokens (the remainder that fills no row is dropped). Returns the stream of whole rows (rows, T).
 */
export function packLines(lines: readonly number[][], bosId: number, eosId: number, T: number): Int32Array {
  let length = 0;
  for (const ids of lines) length += ids.length + 2;
  const rows = Math.floor(length / T);
  if (rows === 0) {
    throw new InputError(`the text holds ${length} tokens, fewer than one row of ${T}; give more text`);
  }
  const stream = new Int32Array(rows * T); // (rows, T)
  let t = 0;
  const push = (id: number) => {
    if (t < stream.length) stream[t++] = id;
  };
  for (const ids of lines) {
    push(bosId);
    for (const id of ids) push(id);
    push(eosId);
    if (t === stream.length) break;
  }
  return stream;
}

/**
 * The batch of the given rows of a packed stream. <|bos|> targets are masked: after <|eos|> the next
 * <|bos|> is certain, and counting it would flatter the loss.
 */
export function packedBatch(stream: Int32Array, rows: readonly number[], T: number, bosId: number): Batch {
  const B = rows.length;
  const inputIds = new Int32Array(B * T); // (B, T)
  const labels = new Int32Array(B * T); // (B, T)
  rows.forEach((row, b) => {
    const ids = stream.subarray(row * T, (row + 1) * T);
    inputIds.set(ids, b * T);
    for (let t = 0; t < T; t++) labels[b * T + t] = ids[t] === bosId ? ignoredLabel : ids[t];
  });
  return { batchSize: B, seqLen: T, inputIds, labels };
}

/**
 * Entropy (nats per token) of the empirical unigram distribution of the tokens a packed stream's
 * loss counts: every token but the first of each row, <|bos|> excluded. A model that ignores
 * context can do no better than this.
 */
export function unigramEntropy(stream: Int32Array, T: number, bosId: number): number {
  const counts = new Map<number, number>();
  let total = 0;
  for (let i = 0; i < stream.length; i++) {
    if (i % T === 0 || stream[i] === bosId) continue;
    counts.set(stream[i], (counts.get(stream[i]) ?? 0) + 1);
    total++;
  }
  let entropy = 0;
  for (const count of counts.values()) entropy -= (count / total) * Math.log(count / total);
  return entropy;
}

/** Mean loss over every row of a packed stream, B rows at a time, weighted by target tokens. */
export async function packedLoss(
  engine: TrainingEngine,
  stream: Int32Array,
  T: number,
  bosId: number,
  B: number,
  onBatch?: (rowsDone: number) => void,
): Promise<{ loss: number; tokens: number }> {
  const rows = stream.length / T;
  let sum = 0;
  let tokens = 0;
  for (let start = 0; start < rows; start += B) {
    const batchRows = Array.from({ length: Math.min(B, rows - start) }, (_, b) => start + b);
    const result = await engine.evaluateLoss(packedBatch(stream, batchRows, T, bosId));
    if (result.tokens > 0) {
      sum += result.loss * result.tokens;
      tokens += result.tokens;
    }
    onBatch?.(start + batchRows.length);
  }
  return { loss: sum / tokens, tokens };
}

export interface DecodeRules {
  /** Never repeat an n-gram of the answer (Hugging Face's no_repeat_ngram_size); 0 or absent: off. */
  noRepeatNgram?: number;
}

/**
 * Greedy decoding: appends the most likely next token (under `rules`) until `eosId` or
 * `maxNewTokens` tokens, re-running the model on the whole growing sequence (no KV cache; answers
 * are short). Returns the new tokens without the final eos.
 */
export async function greedyDecode(
  engine: TrainingEngine,
  promptIds: readonly number[],
  maxNewTokens: number,
  eosId: number,
  maxLength: number,
  rules: DecodeRules = {},
): Promise<number[]> {
  const ids = [...promptIds];
  const generated: number[] = [];
  while (generated.length < maxNewTokens && ids.length < maxLength) {
    const T = ids.length;
    const inputIds = Int32Array.from(ids); // (1, T)
    const logits = await engine.logits({ batchSize: 1, seqLen: T, inputIds, labels: inputIds }); // (1, T, V)
    const V = logits.shape[2];
    const last = logits.data.subarray((T - 1) * V, T * V); // (V)
    const next = argmaxAllowed(last, repeatedNgramBans(generated, rules.noRepeatNgram ?? 0));
    if (next < 0 || next === eosId) break;
    ids.push(next);
    generated.push(next);
  }
  return generated;
}
