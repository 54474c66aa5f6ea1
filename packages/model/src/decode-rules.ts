// Rules that greedy decoding applies to the logits of the next token, shared by the engines' decoder
// (lm-eval.ts) and the ONNX one (@prufed/onnx) so that both decode alike under the same rules.

/**
 * The tokens that may not come next because they would repeat an n-gram of the answer so far:
 * Hugging Face's `no_repeat_ngram_size`, applied to the generated tokens only (the prompt may be
 * echoed, e.g. a word inside its own gloss). `n` < 1 bans nothing; n = 1 bans every token already
 * generated.
 */
export function repeatedNgramBans(generated: readonly number[], n: number): Set<number> {
  const banned = new Set<number>();
  if (n < 1 || generated.length < n - 1) return banned;
  const prefixStart = generated.length - (n - 1); // the last n-1 tokens, which the next one extends
  for (let start = 0; start + n - 1 < generated.length; start++) {
    let same = true;
    for (let k = 0; k < n - 1 && same; k++) same = generated[start + k] === generated[prefixStart + k];
    if (same) banned.add(generated[start + n - 1]);
  }
  return banned;
}

/** The index of the largest logit not in `banned` (lowest index on ties); -1 when all are banned. */
export function argmaxAllowed(logits: ArrayLike<number>, banned?: ReadonlySet<number>): number {
  let best = -1;
  for (let v = 0; v < logits.length; v++) {
    if (banned?.has(v)) continue;
    if (best < 0 || logits[v] > logits[best]) best = v;
  }
  return best;
}
