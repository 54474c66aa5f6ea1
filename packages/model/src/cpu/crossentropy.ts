// Causal-LM cross-entropy, Hugging Face convention: labels are aligned with the input ids and
// shifted inside, so position t predicts labels[t + 1]; label -100 is masked; the loss is the mean
// over unmasked targets (NaN, with zero gradients, when there are none).
import type { LossResult } from '../engine';
import type { FloatArray } from '../tensor';

export const ignoreIndex = -100;

/** The target of position t in row b, or ignoreIndex (always for the last position). */
function target(labels: Int32Array, b: number, t: number, T: number): number {
  return t + 1 < T ? labels[b * T + t + 1] : ignoreIndex;
}

/** Log-sum-exp of logits[offset .. offset + V). */
function logSumExp(logits: FloatArray, offset: number, V: number): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let v = 0; v < V; v++) max = Math.max(max, logits[offset + v]);
  let sum = 0;
  for (let v = 0; v < V; v++) sum += Math.exp(logits[offset + v] - max);
  return max + Math.log(sum);
}

/** Loss of logits (B, T, V) against labels (B, T), labels already checked to be -100 or in [0, V). */
export function crossentropyForward(
  logits: FloatArray,
  labels: Int32Array,
  B: number,
  T: number,
  V: number,
): LossResult {
  let sum = 0;
  let tokens = 0;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const y = target(labels, b, t, T);
      if (y === ignoreIndex) continue;
      const row = (b * T + t) * V;
      sum += logSumExp(logits, row, V) - logits[row + y];
      tokens++;
    }
  }
  return { loss: tokens === 0 ? Number.NaN : sum / tokens, tokens };
}

/**
 * dlogits (B, T, V) = (softmax(logits) - onehot(target)) / tokens on unmasked positions, 0 elsewhere.
 * Writes (does not accumulate) so that dlogits may be the logits buffer itself, as in llm.c.
 */
export function crossentropyBackward(
  dlogits: FloatArray,
  logits: FloatArray,
  labels: Int32Array,
  B: number,
  T: number,
  V: number,
  tokens: number,
): void {
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const y = target(labels, b, t, T);
      const row = (b * T + t) * V;
      if (y === ignoreIndex) {
        dlogits.fill(0, row, row + V);
        continue;
      }
      const rowLse = logSumExp(logits, row, V);
      for (let v = 0; v < V; v++) dlogits[row + v] = Math.exp(logits[row + v] - rowLse) / tokens;
      dlogits[row + y] -= 1 / tokens;
    }
  }
}
