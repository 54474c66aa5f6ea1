import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  adapterFromPeft,
  initLoraAdapter,
  type LoraAdapter,
  loraKey,
  loraModules,
  parseTaskJsonl,
  SPLITS,
  serializeTaskJsonl,
  TASKS,
} from '@prufed/model';
import { makeTempTinyModel } from '@prufed/model/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClientUpdate, type FlStudyConfig, runFlStudy } from './fl';

const shipped = path.resolve(import.meta.dirname, '../../../../public/datasets/wordnet');
const scratch = path.join(os.tmpdir(), `prufed-study-fl-${process.pid}`);
const peftConfig = { peft_type: 'LORA', r: 2, lora_alpha: 4, target_modules: [...loraModules] };

let model = '';
let modelConfig: Awaited<ReturnType<typeof makeTempTinyModel>>['config'];
const data = path.join(scratch, 'data');

beforeAll(async () => {
  ({ dir: model, config: modelConfig } = await makeTempTinyModel({
    layers: 3,
    hidden: 16,
    heads: 2,
    kvHeads: 1,
    seed: 7,
  }));
  // A small copy of the tasks: 18 train, 2 validation and 1 test record each.
  for (const task of TASKS) {
    mkdirSync(path.join(data, task), { recursive: true });
    for (const split of SPLITS) {
      const file = path.join(shipped, task, `${split}.jsonl`);
      const records = parseTaskJsonl(readFileSync(file, 'utf8'), file).slice(0, split === 'train' ? 18 : 2);
      writeFileSync(path.join(data, task, `${split}.jsonl`), serializeTaskJsonl(records));
    }
  }
});
afterAll(async () => {
  await rm(model, { recursive: true, force: true });
  await rm(scratch, { recursive: true, force: true });
});

const config = (overrides: Partial<FlStudyConfig> = {}): FlStudyConfig => ({
  model,
  data,
  tasks: [...TASKS],
  clients: 3,
  alpha: 0.5,
  depths: [3, 2, 1],
  pruning: 'top',
  rounds: 1,
  fraction: 1,
  localSteps: 2,
  batchSize: 2,
  lr: 0.05,
  rank: 2,
  loraAlpha: 4,
  seqLen: 48,
  seeds: [0],
  valLimit: 2,
  testLimit: 1,
  runs: ['hetero-heteagg'],
  ...overrides,
});

function readGlobal(work: string, run: string, round: number): LoraAdapter {
  const file = path.join(work, 'checkpoints', `${run}-s0-r${round}.safetensors`);
  return adapterFromPeft(readFileSync(file), peftConfig);
}

describe('runFlStudy', () => {
  it('makes the hetero global the hand-computed HeteAgg of the clients updates, with their bytes', async () => {
    // Prepare
    const work = path.join(scratch, 'hetero');
    const updates: ClientUpdate[] = [];
    // Execute
    const result = await runFlStudy(config(), {
      work,
      fresh: true,
      onClientUpdate: (update) => updates.push(update),
    });
    // Assert: clients 0, 1, 2 on depths 3, 2, 1 keep layers [0,1,2], [0,1], [0] (top pruning).
    expect(result.layers).toEqual({ 3: [0, 1, 2], 2: [0, 1], 1: [0] });
    expect(updates.map((u) => u.result.adapter.layers)).toEqual([[0, 1, 2], [0, 1], [0]]);
    const global = readGlobal(work, 'hetero-heteagg', 1);
    for (const layer of [0, 1, 2]) {
      const holders = updates.filter((u) => u.result.adapter.layers.includes(layer));
      const total = holders.reduce((sum, u) => sum + u.result.numSamples, 0);
      for (const module of loraModules) {
        const key = loraKey(layer, module);
        for (const factor of ['A', 'B'] as const) {
          const expected = global.weights
            .get(key)!
            [factor].data.map(
              (_, i) =>
                holders.reduce(
                  (sum, u) => sum + u.result.numSamples * u.result.adapter.weights.get(key)![factor].data[i],
                  0,
                ) / total,
            );
          expect(Array.from(global.weights.get(key)![factor].data)).toEqual(
            Array.from(expected).map((x) => expect.closeTo(x, 6)),
          );
        }
      }
    }
    // Every client trained 2 steps of 2 examples: weight 4 each.
    expect(updates.map((u) => u.result.numSamples)).toEqual([4, 4, 4]);
    const [cell] = result.rounds;
    expect(cell).toMatchObject({ run: 'hetero-heteagg', strategy: 'heteagg', round: 1 });
    expect(cell.bytesDown).toBe(updates.reduce((sum, u) => sum + u.bytesDown, 0));
    expect(cell.bytesUp).toBe(updates.reduce((sum, u) => sum + u.bytesUp, 0));
    // Each payload carries 4-byte floats of every pair: per layer 7 modules x r (in + out), by hand:
    // q,o (16+16), k,v (16+8), gate,up (16+48), down (48+16) -> 2 x 248 = 496 floats.
    expect(cell.bytesUp).toBeGreaterThan(4 * 496 * (3 + 2 + 1));
    expect(cell.bytesUp).toBeLessThan(4 * 496 * (3 + 2 + 1) + 3 * 16384);
    expect(Object.keys(cell.valLoss).sort()).toEqual(['1', '2', '3']);
    expect(Object.keys(result.finals[0].test).sort()).toEqual(['1', '2', '3']);
    expect(result.finals[0].test[3].mean.loss).toBeGreaterThan(0);
  });

  it('runs a homogeneous baseline with FedAvg, every client at the one depth', async () => {
    const work = path.join(scratch, 'homo');
    const updates: ClientUpdate[] = [];
    const result = await runFlStudy(config({ runs: ['homo-2'] }), {
      work,
      fresh: true,
      onClientUpdate: (update) => updates.push(update),
    });
    expect(result.rounds[0].strategy).toBe('fedavg');
    expect(result.rounds[0].clients.map((c) => c.depth)).toEqual([2, 2, 2]);
    expect(updates.map((u) => u.result.adapter.layers)).toEqual([
      [0, 1],
      [0, 1],
      [0, 1],
    ]);
    // Layer 2, which no client holds, keeps its initial value.
    const init = initLoraAdapter(
      modelConfig,
      { r: 2, alpha: 4, targetModules: [...loraModules] },
      [0, 1, 2],
      0,
    );
    const global = readGlobal(work, 'homo-2', 1);
    expect(global.weights.get(loraKey(2, 'q_proj'))!.A.data).toEqual(
      init.weights.get(loraKey(2, 'q_proj'))!.A.data,
    );
    expect(Object.keys(result.rounds[0].valLoss)).toEqual(['2']);
  });

  it('resumes a killed study with the result of an uninterrupted one', async () => {
    const study = config({ rounds: 3, fraction: 0.5, runs: ['hetero-fedadam', 'homo-1'] });
    const whole = await runFlStudy(study, { work: path.join(scratch, 'whole'), fresh: true });
    const work = path.join(scratch, 'killed');
    await expect(
      runFlStudy(study, {
        work,
        fresh: true,
        onProgress: ({ doneHere }) => {
          if (doneHere === 2) throw new Error('killed');
        },
      }),
    ).rejects.toThrow('killed');
    let restored = -1;
    const resumed = await runFlStudy(study, {
      work,
      onProgress: ({ done, doneHere }) => {
        if (doneHere === 0) restored = done;
      },
    });
    expect(restored).toBe(2);
    const strip = (cells: { seconds: number; cpuSeconds: number }[]) =>
      cells.map(({ seconds: _, cpuSeconds: __, ...rest }) => rest);
    expect(strip(resumed.rounds)).toEqual(strip(whole.rounds));
    expect(strip(resumed.finals)).toEqual(strip(whole.finals));
    expect(resumed.rounds[1].serverState.length).toBeGreaterThan(0); // FedAdam moments were restored
  });

  it('keeps finished cells when a study is extended with another seed, run by another process first', async () => {
    const work = path.join(scratch, 'extended');
    const seed0 = await runFlStudy(config({ seeds: [0] }), { work, fresh: true });
    const seed1 = await runFlStudy(config({ seeds: [1] }), { work });
    let restored = -1;
    const both = await runFlStudy(config({ seeds: [0, 1] }), {
      work,
      onProgress: ({ done, doneHere }) => {
        if (doneHere === 0) restored = done;
      },
    });
    expect(restored).toBe(4); // 2 seeds x (1 round + the final test): nothing ran again
    expect(both.rounds).toEqual([...seed0.rounds, ...seed1.rounds]);
    expect(seed1.rounds.map((cell) => cell.seed)).toEqual([1]);
  });
});
