// Calibration-based pruning on the server: a tiny model whose layer 2 is an exact identity (its output
// projections are zero) must lose that layer under `contribution` and `angular`, the calibration rows
// must be each line's own forward pass, and the server must start with those strategies.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createCpuEngine, loadTokenizer } from '@prufed/model';
import { makeTempTinyModel, readModelDir, writeModelDir } from '@prufed/model/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Calibration, computeCalibration } from './calibration';
import { ProtocolClient } from './protocol-client';
import { removeDirs, startTestServer, tempDataDir } from './test-helpers';
import { planTiers } from './tiers';

const lines = ['a cat: a small feline.', '', 'run: move fast on foot.', 'the end'];
const depths = { a: 1, b: 0.75, c: 0.5 };
let modelDir: string;
let calibrationFile: string;
let calibration: Calibration;
const dirs: string[] = [];

beforeAll(async () => {
  const { dir } = await makeTempTinyModel({ layers: 4, hidden: 32, heads: 4, kvHeads: 2, seed: 11 });
  const model = await readModelDir(dir);
  model.weights.tensors.get('model.layers.2.self_attn.o_proj.weight')!.data.fill(0);
  model.weights.tensors.get('model.layers.2.mlp.down_proj.weight')!.data.fill(0);
  await writeModelDir(dir, model.config, model.weights, { tokenizerJson: model.tokenizerJson });
  const dataDir = await tempDataDir();
  calibrationFile = path.join(dataDir, 'calibration.txt');
  await writeFile(calibrationFile, `${lines.join('\n')}\n`);
  modelDir = dir;
  dirs.push(dir, dataDir);
  calibration = await computeCalibration(model.weights, model.tokenizerJson, {
    file: calibrationFile,
    lines: 32,
    maxTokens: 12,
  });
});

afterAll(() => removeDirs(...dirs));

describe('calibration', () => {
  it("concatenates each non-empty line's own hidden states, cut to maxTokens", async () => {
    // Prepare: the reference runs the engine on each line alone.
    const model = await readModelDir(modelDir);
    const tokenizer = loadTokenizer(model.tokenizerJson);
    const ids = lines.filter((line) => line !== '').map((line) => tokenizer.encode(line).slice(0, 12));
    const engine = createCpuEngine();
    await engine.loadVariant(model.weights, { keptLayers: [0, 1, 2, 3] });
    const C = 32;
    // Assert
    expect(ids.map((x) => x.length)).toEqual([12, 12, ids[2].length]);
    expect(calibration.lastTokenIndices).toEqual([11, 23, 23 + ids[2].length]);
    expect(calibration.hidden).toHaveLength(5);
    let row = 0;
    for (const sequence of ids) {
      const inputIds = Int32Array.from(sequence);
      const alone = await engine.hiddenStates({
        batchSize: 1,
        seqLen: sequence.length,
        inputIds,
        labels: inputIds,
      });
      for (let i = 0; i < 5; i++) {
        expect(Array.from(calibration.hidden[i].subarray(row * C, (row + sequence.length) * C))).toEqual(
          Array.from(alone[i]),
        );
      }
      row += sequence.length;
    }
    expect(calibration.tokens).toBe(row);
  });

  it('drops the identity layer first under contribution and angular, and says why', () => {
    for (const pruning of ['contribution', 'angular'] as const) {
      const plan = planTiers({ numLayers: 4, enabled: ['a', 'b', 'c'], depths, pruning, calibration });
      expect(plan.layers.a).toEqual([0, 1, 2, 3]);
      expect(plan.layers.b).toEqual([0, 1, 3]);
      expect(plan.layers.c).toHaveLength(2);
      expect(plan.layers.c).not.toContain(2);
      expect(plan.reasons.b).toMatch(new RegExp(`^tier b keeps 3 of 4 layers \\[0,1,3\\] \\(${pruning}: `));
    }
    const contribution = planTiers({
      numLayers: 4,
      enabled: ['b'],
      depths,
      pruning: 'contribution',
      calibration,
    });
    expect(contribution.reasons.b).toContain('2: 0.00');
    expect(() => planTiers({ numLayers: 4, enabled: ['b'], depths, pruning: 'angular' })).toThrow(
      /needs calibration hidden states/,
    );
  });

  it('says how to fix a missing calibration file', async () => {
    const model = await readModelDir(modelDir);
    await expect(
      computeCalibration(model.weights, model.tokenizerJson, {
        file: '/no/such/file.txt',
        lines: 4,
        maxTokens: 8,
      }),
    ).rejects.toThrow(/PRUFED_CALIBRATION_FILE/);
  });

  it('starts the server with angular pruning and hands out the calibrated layers', async () => {
    const dataDir = await tempDataDir();
    dirs.push(dataDir);
    const server = await startTestServer(modelDir, dataDir, {
      pruning: 'angular',
      calibrationFile,
      autoStart: false,
    });
    const client = await ProtocolClient.connect(server.url);
    try {
      expect((await client.hello('b')).keptLayers).toEqual([0, 1, 3]);
      expect(
        server.logs.some((line) =>
          line.includes('angular pruning ran the full model on 3 calibration lines'),
        ),
      ).toBe(true);
      expect(
        server.logs.some((line) => line.startsWith('prufed: tier b keeps 3 of 4 layers [0,1,3] (angular')),
      ).toBe(true);
    } finally {
      client.close();
      await server.close();
    }
  });
});
