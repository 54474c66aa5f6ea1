// Integration tests of `prufed prune`, running the real command line against a temporary tiny model.
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { blockInfluence, createCpuEngine, type LlamaConfig, loadTokenizer, makeBatch } from '@prufed/model';
import { makeTempTinyModel, readModelDir } from '@prufed/model/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPrufed } from './run-prufed';

let model: { dir: string; config: LlamaConfig };
let calib: string;

beforeAll(async () => {
  model = await makeTempTinyModel({ layers: 6, hidden: 16, heads: 4, kvHeads: 2, seed: 2 });
  calib = path.join(model.dir, 'calib.txt');
  await writeFile(calib, 'the cat sat on the mat\n\nrivers flow to the sea\nsmall models learn fast\n');
});
afterAll(async () => {
  await rm(model.dir, { recursive: true, force: true });
});

function prune(strategy: string, keep: number, ...extra: string[]) {
  return runPrufed([
    'prune',
    '--model',
    model.dir,
    '--strategy',
    strategy,
    '--keep-layers',
    String(keep),
    ...extra,
  ]);
}

describe('prufed prune', () => {
  it('prints the layers the structural strategies keep', async () => {
    const runs = await Promise.all([
      prune('top', 4),
      prune('alternate-odd', 4),
      prune('alternate-odd', 2),
      prune('symmetric', 3),
    ]);
    for (const run of runs) expect(run.stderr).toBe('');
    // top keeps 0..k-1; alternate-odd drops 5, 3 (then 1) from the top; symmetric keeps ceil(3/2) bottom + 1 top.
    expect(runs.map((run) => JSON.parse(run.stdout))).toEqual([
      [0, 1, 2, 3],
      [0, 1, 2, 4],
      [0, 2],
      [0, 1, 5],
    ]);
  });

  it('scores layers on calibration text for contribution and angular', async () => {
    const [contribution, angular] = await Promise.all([
      prune('contribution', 4, '--calib', calib),
      prune('angular', 3, '--calib', calib),
    ]);
    expect(contribution.stderr).toBe('');
    const kept = JSON.parse(contribution.stdout) as number[];
    expect(kept).toHaveLength(4);
    expect([...new Set(kept)].sort()).toEqual(kept);
    expect(kept.every((layer) => layer >= 0 && layer < 6)).toBe(true);
    // angular drops one contiguous block of 3 layers.
    const keptAngular = JSON.parse(angular.stdout) as number[];
    const dropped = [0, 1, 2, 3, 4, 5].filter((layer) => !keptAngular.includes(layer));
    expect(dropped).toHaveLength(3);
    expect(dropped[2] - dropped[0]).toBe(2);
  });

  it('keeps the layers of highest block influence on a one-line calibration text', async () => {
    const line = 'one calibration sample';
    const file = path.join(model.dir, 'one-line.txt');
    await writeFile(file, `${line}\n`);
    const run = await prune('contribution', 4, '--calib', file);
    const { weights, tokenizerJson } = await readModelDir(model.dir);
    const ids = loadTokenizer(tokenizerJson).encode(line);
    const engine = createCpuEngine();
    await engine.loadVariant(weights, { keptLayers: weights.layers });
    const scores = blockInfluence(
      await engine.hiddenStates(makeBatch([ids], [ids], 0)),
      model.config.hiddenSize,
    );
    const dropped = [0, 1, 2, 3, 4, 5].sort((a, b) => scores[a] - scores[b]).slice(0, 2);
    expect(JSON.parse(run.stdout)).toEqual([0, 1, 2, 3, 4, 5].filter((layer) => !dropped.includes(layer)));
  });

  it('fails with exit 1 and a clear message on bad input', async () => {
    const runs = await Promise.all([
      prune('contribution', 4),
      prune('bottom', 2),
      prune('top', 9),
      runPrufed([
        'prune',
        '--model',
        path.join(model.dir, 'nope'),
        '--strategy',
        'top',
        '--keep-layers',
        '2',
      ]),
    ]);
    const messages = [
      /needs calibration text: pass --calib/,
      /unknown pruning strategy "bottom"/,
      /cannot keep 9 of 6/,
      /has no config\.json/,
    ];
    runs.forEach((run, i) => {
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/^prufed: /);
      expect(run.stderr).toMatch(messages[i]);
    });
  });
});
