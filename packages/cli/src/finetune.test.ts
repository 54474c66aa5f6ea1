import { readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  adapterFromPeft,
  createCpuEngine,
  encodeRecord,
  loadTokenizer,
  loraKey,
  padInstructionBatch,
  parseTaskJsonl,
  randomLlamaWeights,
} from '@prufed/model';
import { makeTempTinyModel, readModelDir, writeModelDir } from '@prufed/model/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FinetuneOptions, finetune } from './finetune';

describe('finetune', () => {
  let model = '';
  const out = path.join(os.tmpdir(), `prufed-finetune-${process.pid}`);
  const data = path.resolve(import.meta.dirname, '../../../public/datasets/wordnet');
  beforeAll(async () => {
    // Weights of std 0.3 rather than the usual 0.02, so that logits can move by more than a few tenths.
    const { dir, config } = await makeTempTinyModel({ layers: 3, hidden: 16, heads: 2, kvHeads: 1, seed: 5 });
    const { tokenizerJson } = await readModelDir(dir);
    await writeModelDir(dir, config, randomLlamaWeights(config, { seed: 5, std: 0.3 }), { tokenizerJson });
    model = dir;
  });
  afterAll(async () => {
    await rm(model, { recursive: true, force: true });
    await rm(out, { recursive: true, force: true });
  });

  const options = (): FinetuneOptions => ({
    model,
    task: 'pos',
    data,
    out,
    keep: [0, 2],
    steps: 20,
    batchSize: 4,
    lr: 0.05,
    rank: 4,
    alpha: 8,
    targets: ['q_proj', 'v_proj', 'down_proj'],
    seqLen: 160,
    limit: 8,
    seed: 3,
    engine: 'cpu',
  });

  it('lowers the training loss and writes a PEFT adapter that reproduces the lower loss', async () => {
    const result = await finetune(options());
    expect(result.losses).toHaveLength(20);
    expect(result.lastLoss).toBeLessThan(result.firstLoss - 2);
    expect(result.keptLayers).toEqual([0, 2]);

    const adapter = adapterFromPeft(
      await readFile(path.join(out, 'adapter_model.safetensors')),
      JSON.parse(await readFile(path.join(out, 'adapter_config.json'), 'utf8')),
    );
    expect(adapter.config).toEqual({ r: 4, alpha: 8, targetModules: ['down_proj', 'q_proj', 'v_proj'] });
    expect(adapter.layers).toEqual([0, 2]);
    expect(adapter.weights.get(loraKey(2, 'q_proj'))?.B.data.some((x) => x !== 0)).toBe(true);

    // Independent check: a fresh engine scores the 8 train records with and without the adapter.
    const { weights, tokenizerJson } = await readModelDir(model, [0, 2]);
    const tokenizer = loadTokenizer(tokenizerJson);
    const instruction = {
      encode: (text: string) => tokenizer.encode(text, { addSpecialTokens: false }),
      eosId: tokenizer.eosId!,
      padId: tokenizer.padId!,
      bosId: tokenizer.bosId,
    };
    const records = parseTaskJsonl(await readFile(path.join(data, 'pos/train.jsonl'), 'utf8')).slice(0, 8);
    const padded = padInstructionBatch(
      records.map((record) => encodeRecord(instruction, record)),
      instruction.padId,
    );
    const batch = { batchSize: 8, seqLen: padded.tokens, inputIds: padded.inputIds, labels: padded.labels };
    const engine = createCpuEngine();
    await engine.loadVariant(weights, { keptLayers: [0, 2] });
    const before = (await engine.evaluateLoss(batch)).loss;
    await engine.setAdapter(adapter);
    const after = (await engine.evaluateLoss(batch)).loss;
    engine.dispose();
    // the adapter holds what training learnt: the loss it reached, not the base model's
    expect(after).toBeLessThan(before - 3);
    expect(after).toBeCloseTo(result.lastLoss, 0);
  });

  it('is deterministic for a seed', async () => {
    const a = await finetune({ ...options(), steps: 3 });
    const b = await finetune({ ...options(), steps: 3 });
    expect(b.losses).toEqual(a.losses);
  });

  it('rejects bad input with a clear error', async () => {
    await expect(finetune({ ...options(), task: 'nope' })).rejects.toThrow(/unknown task "nope"/);
    await expect(finetune({ ...options(), steps: 0 })).rejects.toThrow(/--steps must be at least 1/);
    await expect(finetune({ ...options(), data: '/nonexistent' })).rejects.toThrow(
      /train split .* does not exist/,
    );
  });
});
