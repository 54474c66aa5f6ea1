// Byte-level BPE training (GPT-2 style) on a text corpus: split the text into words with the same
// regex as the ByteLevel pre-tokenizer of tokenizer.json, count distinct words, then repeatedly merge
// the most frequent adjacent symbol pair. Pair counts are updated incrementally, touching only the
// words that hold the merged pair, so a 1.5 MB corpus trains in seconds. Deterministic: among pairs
// of equal count the lexicographically smallest (left token, then right token) wins.
import { InputError } from './errors';
import { byteLevelChars } from './tokenizer';

/** The GPT-2 pre-tokenizer pattern used by the ByteLevel pre-tokenizer (use_regex: true). */
const byteLevelPattern = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

const encoder = new TextEncoder();

/** The pre-tokenized words of `text`, each written in byteLevelChars (as tokenizer.json's vocab). */
export function byteLevelWords(text: string): string[] {
  return (text.match(byteLevelPattern) ?? []).map((word) =>
    Array.from(encoder.encode(word), (byte) => byteLevelChars[byte]).join(''),
  );
}

export interface BpeTrainOptions {
  /** Tokens to end with: the 256 bytes plus the merged tokens (fewer when no pair occurs twice). */
  numTokens: number;
  /** Called every `progressEvery` merges with the number learned so far. */
  onProgress?: (merges: number) => void;
  progressEvery?: number;
}

export interface BpeModel {
  /** Learned merges in priority order, written in byteLevelChars. */
  merges: [string, string][];
  /**
   * Token strings by id: ids 0..255 the bytes, then each merge's new token (as
   * byteLevelBpeTokenizerJson numbers them; a merge whose result already exists adds none).
   */
  tokens: string[];
}

/** A pair of symbol ids as one number; ids stay below 2^20. */
const pairKey = (a: number, b: number): number => a * 0x100000 + b;
const pairLeft = (key: number): number => Math.floor(key / 0x100000);
const pairRight = (key: number): number => key % 0x100000;

/** Learns byte-level BPE merges from the corpus lines until the vocabulary holds `numTokens`. */
export function trainByteLevelBpe(texts: Iterable<string>, options: BpeTrainOptions): BpeModel {
  const { numTokens } = options;
  if (!Number.isSafeInteger(numTokens) || numTokens < 256 || numTokens > 0x100000) {
    throw new InputError(
      `numTokens must be an integer in [256, ${0x100000}] (256 bytes plus merges), got ${numTokens}`,
    );
  }
  const tokens = [...byteLevelChars];
  const idOfToken = new Map(tokens.map((c, i) => [c, i]));

  // distinct words with their counts, each as a growing-shrinking list of symbol ids
  const wordCounts = new Map<string, number>();
  for (const text of texts) {
    for (const word of byteLevelWords(text)) wordCounts.set(word, (wordCounts.get(word) ?? 0) + 1);
  }
  const words: number[][] = [];
  const counts: number[] = [];
  for (const [word, count] of wordCounts) {
    words.push(Array.from(word, (c) => idOfToken.get(c)!));
    counts.push(count);
  }

  // pair -> total count, and pair -> indices of words that hold it (possibly stale: re-checked)
  const pairCounts = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const addPairs = (w: number, sign: number) => {
    const symbols = words[w];
    for (let i = 0; i + 1 < symbols.length; i++) {
      const key = pairKey(symbols[i], symbols[i + 1]);
      pairCounts.set(key, (pairCounts.get(key) ?? 0) + sign * counts[w]);
      if (sign > 0) {
        const set = pairWords.get(key);
        if (set === undefined) pairWords.set(key, new Set([w]));
        else set.add(w);
      }
    }
  };
  for (let w = 0; w < words.length; w++) addPairs(w, 1);

  const merges: [string, string][] = [];
  while (tokens.length < numTokens) {
    let best = -1;
    let bestCount = 0;
    for (const [key, count] of pairCounts) {
      if (count === 0) pairCounts.delete(key);
      if (count < 2 || count < bestCount) continue; // a pair must occur twice to be worth a token
      if (count > bestCount || best < 0 || comparePairs(tokens, key, best) < 0) {
        best = key;
        bestCount = count;
      }
    }
    if (best < 0) break;
    const a = pairLeft(best);
    const b = pairRight(best);
    const token = tokens[a] + tokens[b];
    let merged = idOfToken.get(token);
    if (merged === undefined) {
      merged = tokens.length;
      tokens.push(token);
      idOfToken.set(token, merged);
    }
    merges.push([tokens[a], tokens[b]]);
    for (const w of pairWords.get(best) ?? []) {
      const symbols = words[w];
      if (!holdsPair(symbols, a, b)) continue;
      addPairs(w, -1);
      words[w] = mergePair(symbols, a, b, merged);
      addPairs(w, 1);
    }
    pairCounts.delete(best);
    pairWords.delete(best);
    if (options.onProgress && merges.length % (options.progressEvery ?? 100) === 0) {
      options.onProgress(merges.length);
    }
  }
  return { merges, tokens };
}

function comparePairs(tokens: string[], x: number, y: number): number {
  const [xa, xb, ya, yb] = [
    tokens[pairLeft(x)],
    tokens[pairRight(x)],
    tokens[pairLeft(y)],
    tokens[pairRight(y)],
  ];
  if (xa !== ya) return xa < ya ? -1 : 1;
  if (xb !== yb) return xb < yb ? -1 : 1;
  return 0;
}

function holdsPair(symbols: number[], a: number, b: number): boolean {
  for (let i = 0; i + 1 < symbols.length; i++) if (symbols[i] === a && symbols[i + 1] === b) return true;
  return false;
}

/** Replaces each non-overlapping occurrence of (a, b), left to right, by `merged`. */
function mergePair(symbols: number[], a: number, b: number, merged: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < symbols.length; i++) {
    if (i + 1 < symbols.length && symbols[i] === a && symbols[i + 1] === b) {
      out.push(merged);
      i++;
    } else {
      out.push(symbols[i]);
    }
  }
  return out;
}

/**
 * Encodes text with a trained model by applying its merges in learned order to each word: the
 * trainer's own view of the tokenization, the reference that the tokenizer library must match.
 * Returns token ids in the layout of BpeModel.tokens.
 */
export function bpeEncode(model: BpeModel, text: string): number[] {
  const idOf = new Map(model.tokens.map((t, i) => [t, i]));
  const ids: number[] = [];
  for (const word of byteLevelWords(text)) {
    let symbols = Array.from(word, (c) => idOf.get(c)!);
    for (const [a, b] of model.merges)
      symbols = mergePair(symbols, idOf.get(a)!, idOf.get(b)!, idOf.get(a + b)!);
    ids.push(...symbols);
  }
  return ids;
}
