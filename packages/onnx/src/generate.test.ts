// Loss and greedy decoding on an exported model, against the CPU reference engine: batchLoss on a
// right-padded instruction batch must equal the engine's evaluateLoss, and greedyDecodeBatch on
// prompts of different lengths (decoded together, right-padded) must equal lm-eval's greedyDecode
// run on each prompt alone.
import { CpuEngine, greedyDecode, InputError, padInstructionBatch } from '@prufed/model';
import { describe, expect, it } from 'vitest';
import { exportOnnx } from './export';
import { createNodeSession, onnxLogitsNode } from './node';
import { batchLoss, greedyDecodeBatch, type LogitsFunction } from './run';
import { randomAdapter, randomIds, tinyConfig, tinyWeights } from './testing';

const config = tinyConfig();
const weights = tinyWeights(config, 1);
const kept = [0, 2, 3];
const adapter = randomAdapter(config, kept, 5);

async function onnxLogitsFunction(): Promise<LogitsFunction> {
  const session = await createNodeSession(exportOnnx(weights, kept, adapter));
  return (ids, B, T) => onnxLogitsNode(session, ids, B, T);
}

async function cpuEngine(): Promise<CpuEngine> {
  const engine = new CpuEngine();
  await engine.loadVariant(weights, { keptLayers: kept });
  await engine.setAdapter(adapter);
  return engine;
}

describe('batchLoss', () => {
  it("equals the CPU engine's loss on a right-padded batch with masked prompts", async () => {
    const examples = [
      { inputIds: [1, 2, 3, 4, 5, 6], labels: [-100, -100, -100, 4, 5, 6] },
      { inputIds: [7, 8, 9], labels: [-100, 8, 9] },
      { inputIds: [10, 11, 12, 13, 14, 15, 16, 17], labels: [-100, -100, 12, 13, 14, 15, 16, 17] },
    ];
    const padded = padInstructionBatch(examples, 0);
    const batch = {
      batchSize: padded.batch,
      seqLen: padded.tokens,
      inputIds: padded.inputIds,
      labels: padded.labels,
    };
    const onnx = await batchLoss(await onnxLogitsFunction(), batch);
    const cpu = await (await cpuEngine()).evaluateLoss(batch);
    expect(onnx.tokens).toBe(3 + 2 + 6); // the unmasked labels
    expect(onnx.tokens).toBe(cpu.tokens);
    expect(Math.abs(onnx.loss - cpu.loss)).toBeLessThan(1e-4 * cpu.loss);
  });

  it('refuses labels outside the vocabulary', async () => {
    const logits = await onnxLogitsFunction();
    const batch = { batchSize: 1, seqLen: 2, inputIds: Int32Array.of(1, 2), labels: Int32Array.of(-100, 99) };
    await expect(batchLoss(logits, batch)).rejects.toThrow(InputError);
  });
});

describe('greedyDecodeBatch', () => {
  it('decodes prompts of different lengths together as greedyDecode does each alone', async () => {
    const prompts = [3, 9, 5].map((T, k) => [...randomIds(config.vocabSize, 1, T, 20 + k)]);
    // An eos that prompt 0 produces, so that the stop is exercised; prompt 1 already fills maxLength.
    const engine = await cpuEngine();
    const free = await greedyDecode(engine, prompts[0], 6, -1, 64);
    const eosId = free[3];
    const maxLength = 9;
    const expected = await Promise.all(
      prompts.map((prompt) => greedyDecode(engine, prompt, 6, eosId, maxLength)),
    );
    const streamed = prompts.map((): number[] => []);
    const actual = await greedyDecodeBatch(await onnxLogitsFunction(), prompts, {
      maxNewTokens: 6,
      eosId,
      padId: 0,
      maxLength,
      onToken: (prompt, token) => streamed[prompt].push(token),
    });
    expect(actual).toEqual(expected);
    expect(streamed).toEqual(expected);
    expect(actual[0]).toEqual(free.slice(0, free.indexOf(eosId))); // stopped at eos
    expect(actual[1]).toEqual([]);
    expect(actual[2].length).toBeLessThanOrEqual(maxLength - 5);
  });

  it('applies noRepeatNgram to each answer as greedyDecode does', async () => {
    const prompts = [2, 4].map((T, k) => [...randomIds(config.vocabSize, 1, T, 40 + k)]);
    const engine = await cpuEngine();
    const rules = { noRepeatNgram: 1 }; // no token twice in an answer
    const expected = await Promise.all(
      prompts.map((prompt) => greedyDecode(engine, prompt, 12, -1, 64, rules)),
    );
    const actual = await greedyDecodeBatch(await onnxLogitsFunction(), prompts, {
      maxNewTokens: 12,
      eosId: -1,
      padId: 0,
      maxLength: 64,
      ...rules,
    });
    expect(actual).toEqual(expected);
    for (const answer of actual) expect(new Set(answer).size).toBe(answer.length);
  });

  it('refuses an empty prompt', async () => {
    const options = { maxNewTokens: 2, eosId: 1, padId: 0, maxLength: 8 };
    await expect(greedyDecodeBatch(await onnxLogitsFunction(), [[1], []], options)).rejects.toThrow(
      /prompt 1 has no tokens/,
    );
  });
});
