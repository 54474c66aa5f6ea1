import { readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pruningStrategies, randomLlamaWeights } from '@prufed/model';
import { makeTempTinyModel, readModelDir, writeModelDir } from '@prufed/model/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LayerStudyOptions, type LayerStudyResult, layerStudy } from './layer-study';
import { runPrufed } from './run-prufed';

describe('layer-study', () => {
  const data = path.resolve(import.meta.dirname, '../../../public/datasets/wordnet');
  let model = '';
  let uniform = '';
  beforeAll(async () => {
    model = (await makeTempTinyModel({ layers: 4, hidden: 16, heads: 2, kvHeads: 1, seed: 7 })).dir;
    // Zero linear weights: every logit is 0, so every variant's loss is exactly ln V.
    const zero = await makeTempTinyModel({ layers: 4, hidden: 16, heads: 2, kvHeads: 1, seed: 7 });
    const { tokenizerJson } = await readModelDir(zero.dir);
    await writeModelDir(zero.dir, zero.config, randomLlamaWeights(zero.config, { seed: 1, std: 0 }), {
      tokenizerJson,
    });
    uniform = zero.dir;
  });
  afterAll(async () => {
    await rm(model, { recursive: true, force: true });
    await rm(uniform, { recursive: true, force: true });
  });

  const options = (dir: string): LayerStudyOptions => ({
    model: dir,
    corpus: path.join(data, 'corpus-valid.txt'),
    keep: [3, 2],
    strategies: [...pruningStrategies],
    calib: path.join(data, 'corpus.txt'),
    calibLines: 4,
    limit: 12,
    seqLen: 32,
    batchSize: 8,
    engine: 'cpu',
  });

  it('a uniform model loses ln V whatever it keeps', async () => {
    const result = await layerStudy(options(uniform));
    expect(result.fullLoss).toBeCloseTo(Math.log(259), 5);
    expect(result.rows).toHaveLength(2 * pruningStrategies.length);
    for (const row of result.rows) {
      expect(row.loss).toBeCloseTo(Math.log(259), 5);
      expect(row.ratio).toBeCloseTo(1, 6);
    }
  });

  it('prints a row per strategy with the layers it keeps, and writes the JSON', async () => {
    const json = path.join(os.tmpdir(), `prufed-layer-study-${process.pid}.json`);
    const calib = path.join(os.tmpdir(), `prufed-layer-study-calib-${process.pid}.txt`);
    await writeFile(
      calib,
      (await readFile(path.join(data, 'corpus.txt'), 'utf8')).split('\n').slice(0, 4).join('\n'),
    );
    try {
      const run = await runPrufed([
        'layer-study',
        ...['--model', model, '--corpus', path.join(data, 'corpus-valid.txt'), '--calib', calib],
        ...['--keep', '2', '--limit', '12', '--seq-len', '32', '--json', json],
      ]);
      expect(run.stderr).not.toMatch(/prufed:/);
      expect(run.code).toBe(0);
      const result = JSON.parse(await readFile(json, 'utf8')) as LayerStudyResult;
      const kept = Object.fromEntries(result.rows.map((row) => [row.strategy, row.keptLayers]));
      // Hand-derived choices for keeping 2 of 4 layers (DESIGN.md, "Pruning strategies").
      expect(kept.top).toEqual([0, 1]);
      expect(kept['alternate-even']).toEqual([1, 3]); // drops 2, then 0
      expect(kept['alternate-odd']).toEqual([0, 2]); // drops 3, then 1
      expect(kept.symmetric).toEqual([0, 3]);
      expect(Object.keys(kept).sort()).toEqual([...pruningStrategies].sort());
      for (const row of result.rows) {
        expect(row.ratio).toBeCloseTo(row.loss / result.fullLoss, 10);
        expect(row.loss).not.toBeCloseTo(result.fullLoss, 4); // a random model changes when layers go
      }
      const lines = run.stdout.trim().split('\n');
      expect(lines[0]).toBe('| strategy | 2 kept: layers | loss | vs full |');
      expect(lines[2]).toMatch(/^\| full \(4\) \| 0-3 \| \d+\.\d{3} \| 0\.0% \|$/);
      for (const strategy of pruningStrategies) {
        const row = result.rows.find((r) => r.strategy === strategy)!;
        const change = `${row.ratio >= 1 ? '+' : ''}${((row.ratio - 1) * 100).toFixed(1)}%`;
        expect(lines).toContain(
          `| ${strategy} | ${row.keptLayers.join(',')} | ${row.loss.toFixed(3)} | ${change} |`,
        );
      }
    } finally {
      await rm(json, { force: true });
      await rm(calib, { force: true });
    }
  });

  it('rejects a depth the model does not have', async () => {
    await expect(layerStudy({ ...options(uniform), keep: [5] })).rejects.toThrow(
      /cannot keep 5 of the model's 4 layers/,
    );
  });
});
