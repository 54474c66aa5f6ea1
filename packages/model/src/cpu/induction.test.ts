// End-to-end learning check of the CPU engine: a 2-layer model trained from scratch on sequences
// shown twice must learn to copy from its context (form an induction head, Olsson et al. 2022),
// measured by copyProbe on sequences it never saw. Attention with RoPE, the backward pass and AdamW
// have to work together for this to happen within a few hundred steps (causality has its own tests in
// attention.test.ts: a leaky mask would let the model read the answer instead).
import { describe, expect, it } from 'vitest';
import type { LlamaConfig } from '../config';
import { copyProbe, distinctRun } from '../copy-probe';
import { defaultAdamW } from '../engine';
import { randomLlamaWeights } from '../init';
import { Rng } from '../rng';
import { createCpuEngine } from './engine';

const V = 32; // ids 2..31 are ordinary, 1 is <|bos|>
const L = 8; // tokens per sequence, shown twice
const config: LlamaConfig = {
  hiddenSize: 32,
  intermediateSize: 64,
  numHiddenLayers: 2,
  numAttentionHeads: 2,
  numKeyValueHeads: 2,
  headDim: 16,
  rmsNormEps: 1e-5,
  ropeTheta: 10000,
  vocabSize: V,
  maxPositionEmbeddings: 64,
  tieWordEmbeddings: true,
};

/** B rows of <|bos|> s s (s: L distinct random ids); targets: the second s after its first token. */
function copyBatch(rng: Rng, B: number) {
  const T = 1 + 2 * L;
  const inputIds = new Int32Array(B * T); // (B, T)
  const labels = new Int32Array(B * T).fill(-100); // (B, T)
  for (let b = 0; b < B; b++) {
    inputIds[b * T] = 1;
    distinctRun(rng, L, 2, V).forEach((id, k) => {
      inputIds[b * T + 1 + k] = id;
      inputIds[b * T + 1 + L + k] = id;
      if (k > 0) labels[b * T + 1 + L + k] = id;
    });
  }
  return { batchSize: B, seqLen: T, inputIds, labels };
}

describe('CPU engine learns in-context copying', () => {
  it('a 2-layer model trained on repeated sequences copies unseen ones (probe accuracy > 0.9)', async () => {
    const engine = createCpuEngine();
    const weights = randomLlamaWeights(config, { seed: 0, std: 0.1 });
    await engine.loadVariant(weights, { keptLayers: weights.layers, trainBase: true });
    const probe = { count: 32, length: L, low: 2, high: V, seed: 9, bosId: 1 };
    const before = await copyProbe(engine, probe);
    expect(before.accuracy).toBeLessThan(0.2);
    const rng = new Rng(1);
    const optimizer = { ...defaultAdamW, lr: 3e-3, weightDecay: 0 };
    for (let step = 0; step < 250; step++) await engine.trainStep(copyBatch(rng, 16), optimizer);
    const after = await copyProbe(engine, probe);
    expect(after.accuracy).toBeGreaterThan(0.9);
    expect(after.loss).toBeLessThan(0.5);
    engine.dispose();
  }, 60_000);
});
