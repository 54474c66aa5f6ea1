// In-context copying probe (the induction-head test of Olsson et al., 2022): a random token sequence
// shown twice; a model that can copy from its context predicts the second showing, one that cannot
// stays near chance. Tasks that rewrite the prompt's word (antonym: scripted -> unscripted) need
// this ability, so it is tracked beside the held-out loss. Dimension letters: B batch, T tokens, V vocab.
import type { TrainingEngine } from './engine';
import { InputError } from './errors';
import { Rng } from './rng';
import type { PrufedTokenizer } from './tokenizer';

export interface CopyProbeOptions {
  /** Random sequences (the batch). */
  count: number; // B
  /** Tokens of each sequence; the model sees it twice. */
  length: number;
  /** Each sequence holds distinct ids drawn uniformly from [low, high): ordinary tokens, no special
   * ones (distinct, so that every token of the first showing has one continuation to recall). */
  low: number;
  high: number;
  seed: number;
  /** Put before each row when given. */
  bosId?: number;
}

/** The probe's usual size and seed (npm run eval:copy and the model card). */
export const copyProbeDefaults = { count: 64, length: 16, seed: 0 } as const;

export interface CopyProbeResult {
  /** Share of the second showing's tokens (all but its first) that greedy prediction gets right. */
  accuracy: number;
  /** Mean cross-entropy of those tokens, nats/token; ln(high - low) is a uniform guess. */
  loss: number;
  /** Greedy accuracy of a model that does not copy: 1 / (high - low). */
  chance: number;
  tokens: number;
}

/**
 * The ordinary tokens of a byte-level BPE tokenizer for copy runs: the merged sub-words, above the
 * 256 byte tokens and below the special tokens (which such tokenizers add at the end).
 */
export function ordinaryTokenRange(
  tokenizer: Pick<PrufedTokenizer, 'vocabSize' | 'bosId' | 'eosId' | 'padId'>,
): { low: number; high: number } {
  const specials = [tokenizer.bosId, tokenizer.eosId, tokenizer.padId].filter((id) => id !== undefined);
  return { low: 256, high: Math.min(tokenizer.vocabSize, ...specials) };
}

/** `length` distinct ids drawn uniformly from [low, high) (needs high - low >= length). */
export function distinctRun(rng: Rng, length: number, low: number, high: number): number[] {
  const drawn = new Set<number>();
  while (drawn.size < length) drawn.add(low + Math.floor(rng.uniform() * (high - low)));
  return [...drawn];
}

export async function copyProbe(engine: TrainingEngine, options: CopyProbeOptions): Promise<CopyProbeResult> {
  const { count: B, length: L, low, high } = options;
  if (B < 1 || L < 2 || high - low < Math.max(L, 2)) {
    throw new InputError(
      `copy probe needs count >= 1, length >= 2 and at least length ids in [low, high); got ${B}, ${L}, [${low}, ${high})`,
    );
  }
  const rng = new Rng(options.seed);
  const start = options.bosId === undefined ? 0 : 1;
  const T = start + 2 * L;
  const inputIds = new Int32Array(B * T); // (B, T)
  for (let b = 0; b < B; b++) {
    if (options.bosId !== undefined) inputIds[b * T] = options.bosId;
    distinctRun(rng, L, low, high).forEach((id, k) => {
      inputIds[b * T + start + k] = id;
      inputIds[b * T + start + L + k] = id;
    });
  }
  const logits = await engine.logits({ batchSize: B, seqLen: T, inputIds, labels: inputIds }); // (B, T, V)
  const V = logits.shape[2];
  let right = 0;
  let loss = 0;
  let tokens = 0;
  for (let b = 0; b < B; b++) {
    // position t predicts token t + 1: the second showing's tokens 1..L-1
    for (let t = start + L; t < T - 1; t++) {
      const row = logits.data.subarray((b * T + t) * V, (b * T + t + 1) * V); // (V)
      const target = inputIds[b * T + t + 1];
      let best = 0;
      let max = row[0];
      for (let v = 1; v < V; v++) {
        if (row[v] > max) {
          max = row[v];
          best = v;
        }
      }
      let sum = 0;
      for (let v = 0; v < V; v++) sum += Math.exp(row[v] - max);
      loss += Math.log(sum) + max - row[target];
      if (best === target) right++;
      tokens++;
    }
  }
  return { accuracy: right / tokens, loss: loss / tokens, chance: 1 / (high - low), tokens };
}
