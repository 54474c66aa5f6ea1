import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createCpuEngine, pruningStrategies, randomLlamaWeights, type TrainingEngine } from '@prufed/model';
import { makeTempTinyModel, readModelDir, writeModelDir } from '@prufed/model/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  aggregate,
  cellSeconds,
  meanAndSpread,
  type PruningStudyConfig,
  type PruningStudyResult,
  ranksDescending,
  runPruningStudy,
  type StudyCell,
  type StudyProgress,
} from './pruning';

/** A CPU engine that counts the variants it loads and the training steps it runs. */
function countingEngine(counts: { loadVariant: number; trainStep: number }): () => Promise<TrainingEngine> {
  return async () => {
    const engine = createCpuEngine();
    return new Proxy(engine, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          if (property === 'loadVariant' || property === 'trainStep') counts[property]++;
          return value.apply(target, args);
        };
      },
    });
  };
}

describe('pruning study', () => {
  const data = path.resolve(import.meta.dirname, '../../../../public/datasets/wordnet');
  const work = path.join(os.tmpdir(), `prufed-pruning-study-${process.pid}`);
  let model = '';
  beforeAll(async () => {
    model = (await makeTempTinyModel({ layers: 4, hidden: 16, heads: 2, kvHeads: 1, seed: 11 })).dir;
  });
  afterAll(async () => {
    await rm(model, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
  });

  const config = (overrides: Partial<PruningStudyConfig> = {}): PruningStudyConfig => ({
    model,
    data,
    strategies: [...pruningStrategies],
    keep: [3, 2],
    tasks: ['pos', 'antonym'],
    seeds: [0, 1],
    steps: 2,
    batchSize: 2,
    lr: 0.05,
    rank: 2,
    alpha: 4,
    targets: ['q_proj', 'v_proj'],
    adapter: 'multi-task',
    limit: 2,
    seqLen: 64,
    calib: path.join(data, 'corpus.txt'),
    calibLines: 4,
    engine: 'cpu',
    ...overrides,
  });

  let twoSeeds: PruningStudyResult;
  const counts = { loadVariant: 0, trainStep: 0 };

  it('reports every strategy at every depth for every task, running each kept set once', async () => {
    twoSeeds = await runPruningStudy(config(), {
      journal: path.join(work, 'two-seeds.jsonl'),
      createEngine: countingEngine(counts),
    });
    const { rows, variants } = twoSeeds;
    expect(rows).toHaveLength(1 + 2 * pruningStrategies.length);
    expect(rows[0]).toMatchObject({ strategy: 'full', keepLayers: 4, keptLayers: [0, 1, 2, 3] });
    for (const k of [3, 2]) {
      expect(rows.filter((r) => r.keepLayers === k).map((r) => r.strategy)).toEqual([...pruningStrategies]);
    }
    for (const row of rows) {
      for (const task of ['pos', 'antonym'] as const) {
        const result = row.tasks[task]!;
        expect(Number.isFinite(result.before.loss)).toBe(true);
        expect(result.after.loss.values).toHaveLength(2);
        expect(result.after.metric.values).toEqual(result.after.exactMatch.values); // both tasks judge EM
      }
    }
    // Hand-derived (DESIGN.md): 3 of 4 kept, top keeps 0,1,2 and alternate-odd drops layer 3: the same.
    const at3 = (s: string) => rows.find((r) => r.keepLayers === 3 && r.strategy === s)!;
    expect(at3('top').keptLayers).toEqual([0, 1, 2]);
    expect(at3('alternate-odd').keptLayers).toEqual([0, 1, 2]);
    expect(at3('top').sameAs).toContain('alternate-odd');
    expect(at3('alternate-odd').sameAs).toContain('top');
    expect(at3('top').tasks).toEqual(at3('alternate-odd').tasks);
    // Each distinct kept set is loaded and trained once per seed: 2 steps, 1 multi-task adapter.
    const distinct = new Set(rows.map((r) => r.keptLayers.join('|')));
    expect(variants).toHaveLength(distinct.size);
    expect(variants.length).toBeLessThan(rows.length);
    expect(counts.loadVariant).toBe(variants.length);
    expect(counts.trainStep).toBe(variants.length * 2 * 2);
    expect(twoSeeds.cells.filter((c) => c.kind === 'before')).toHaveLength(variants.length * 2);
    expect(twoSeeds.baselines.pos?.metric).toBe('exactMatch');
  });

  it('resumes: a finished study runs nothing again, an interrupted one only what is left', async () => {
    const again = { loadVariant: 0, trainStep: 0 };
    const resumed = await runPruningStudy(config(), {
      journal: path.join(work, 'two-seeds.jsonl'),
      createEngine: countingEngine(again),
    });
    expect(again).toEqual({ loadVariant: 0, trainStep: 0 });
    expect(resumed.computed).toBe(0);
    expect(resumed.rows).toEqual(twoSeeds.rows);

    const journal = path.join(work, 'interrupted.jsonl');
    const first = { loadVariant: 0, trainStep: 0 };
    await expect(
      runPruningStudy(config({ seeds: [0] }), {
        journal,
        createEngine: countingEngine(first),
        onProgress: ({ done }) => {
          if (done === 5) throw new Error('interrupted');
        },
      }),
    ).rejects.toThrow('interrupted');
    const second = { loadVariant: 0, trainStep: 0 };
    const finished = await runPruningStudy(config({ seeds: [0] }), {
      journal,
      createEngine: countingEngine(second),
    });
    // cells per variant: 2 before + 1 after; 5 done = the full model's 3 and 2 befores of the next
    expect(first.trainStep).toBe(2);
    expect(second.trainStep).toBe((finished.variants.length - 1) * 2);
    expect(finished.computed).toBe(3 * finished.variants.length - 5);
  });

  it('weighs progress by the cost model: resumed work counts from the first report, all adds up to the estimate', async () => {
    const cost = { trainExample: 0.5, lossRecord: 0.1, decodeToken: 0.2 };
    const journal = path.join(work, 'weighted.jsonl');
    await expect(
      runPruningStudy(config({ seeds: [0] }), {
        journal,
        cost,
        onProgress: ({ done }) => {
          if (done === 2) throw new Error('interrupted');
        },
      }),
    ).rejects.toThrow('interrupted');
    const reports: StudyProgress[] = [];
    let planned = { workDone: Number.NaN, workTotal: Number.NaN };
    const finished = await runPruningStudy(config({ seeds: [0] }), {
      journal,
      cost,
      onPlan: (plan) => {
        planned = plan;
      },
      onProgress: (p) => reports.push(p),
    });
    const numLayers = 4;
    const full = finished.variants[0];
    const cell = cellSeconds(config({ seeds: [0] }), numLayers, cost);
    // the interrupted run finished the full model's two before-cells (one per task)
    const resumed = config().tasks.reduce((sum, task) => sum + cell.before(full, task), 0);
    expect(reports[0].workDone).toBeCloseTo(resumed, 9);
    expect([planned.workDone, planned.workTotal]).toEqual([reports[0].workDone, reports[0].workTotal]);
    const last = reports[reports.length - 1];
    expect(last.done).toBe(last.total);
    expect(last.workDone).toBeCloseTo(last.workTotal, 9);
    // every variant: each task scored before fine-tuning, each training group trained and scored once (seed 0)
    const everyCell = finished.variants.reduce(
      (sum, layers) =>
        sum +
        config().tasks.reduce((s, task) => s + cell.before(layers, task), 0) +
        cell.after(layers, config().tasks),
      0,
    );
    expect(last.workTotal).toBeCloseTo(everyCell, 9);
    // a trained cell weighs more than a scored one
    expect(cell.after(full, config().tasks)).toBeGreaterThan(cell.before(full, config().tasks[0]));
  });

  it('keeps finished cells when a study is split by strategy and extended with a seed', async () => {
    const journal = path.join(work, 'split.jsonl');
    await runPruningStudy(config({ strategies: ['top'], seeds: [0] }), { journal });
    await runPruningStudy(config({ strategies: ['alternate-even'], seeds: [0] }), { journal });
    const again = { loadVariant: 0, trainStep: 0 };
    const both = await runPruningStudy(config({ strategies: ['top', 'alternate-even'], seeds: [0, 1] }), {
      journal,
      createEngine: countingEngine(again),
    });
    // only seed 1's fine-tuning of the distinct variants (full, top 3, top 2, alternate-even 3, 2) runs
    expect(both.variants).toHaveLength(5);
    expect(again.trainStep).toBe(5 * 2);
    expect(both.rows.map((row) => row.strategy)).toEqual([
      'full',
      'top',
      'alternate-even',
      'top',
      'alternate-even',
    ]);
  });

  it('refuses to resume a journal written for other weights at the same path', async () => {
    const tiny = await makeTempTinyModel({ layers: 4, hidden: 16, heads: 2, kvHeads: 1, seed: 12 });
    const small = config({
      model: tiny.dir,
      strategies: ['top'],
      keep: [2],
      tasks: ['pos'],
      seeds: [0],
      limit: 1,
    });
    const journal = path.join(work, 'reexported.jsonl');
    try {
      await runPruningStudy(small, { journal });
      const { tokenizerJson } = await readModelDir(tiny.dir);
      await writeModelDir(tiny.dir, tiny.config, randomLlamaWeights(tiny.config, { seed: 13 }), {
        tokenizerJson,
      });
      await expect(runPruningStudy(small, { journal })).rejects.toThrow(/different configuration/);
    } finally {
      await rm(tiny.dir, { recursive: true, force: true });
    }
  });

  it('seeds change only the fine-tuned numbers', async () => {
    const seedOne = await runPruningStudy(config({ seeds: [1] }), {
      journal: path.join(work, 'seed-one.jsonl'),
    });
    seedOne.rows.forEach((row, i) => {
      for (const task of ['pos', 'antonym'] as const) {
        const both = twoSeeds.rows[i].tasks[task]!;
        const one = row.tasks[task]!;
        expect(one.before).toEqual(both.before);
        expect(one.after.loss.values).toEqual([both.after.loss.values[1]]);
      }
    });
    const afterLosses = twoSeeds.rows.map((row) => row.tasks.pos!.after.loss.values);
    expect(afterLosses.some(([seed0, seed1]) => seed0 !== seed1)).toBe(true);
  });

  it('aggregates hand-made cells into means and sample standard deviations', () => {
    const scores = (metric: number, loss: number) => ({ loss, exactMatch: metric, f1: 0, metric });
    const cells: StudyCell[] = [
      { kind: 'select', strategy: 'top', keepLayers: 1, keptLayers: [0] },
      { kind: 'before', keptLayers: [0, 1], task: 'pos', scores: scores(0.1, 3), seconds: 0 },
      { kind: 'before', keptLayers: [0], task: 'pos', scores: scores(0, 4), seconds: 0 },
      ...[0.2, 0.4, 0.9].map(
        (metric, seed): StudyCell => ({
          kind: 'after',
          keptLayers: [0],
          seed,
          trainedOn: ['pos'],
          losses: [],
          scores: { pos: scores(metric, 2 - metric) },
          trainSeconds: 0,
          seconds: 0,
        }),
      ),
      ...[0, 1, 2].map(
        (seed): StudyCell => ({
          kind: 'after',
          keptLayers: [0, 1],
          seed,
          trainedOn: ['pos'],
          losses: [],
          scores: { pos: scores(0.5, 1) },
          trainSeconds: 0,
          seconds: 0,
        }),
      ),
    ];
    const rows = aggregate(
      { ...config(), strategies: ['top'], keep: [1], tasks: ['pos'], seeds: [0, 1, 2] },
      2,
      cells,
    );
    expect(rows.map((r) => r.strategy)).toEqual(['full', 'top']);
    const top = rows[1].tasks.pos!;
    expect(top.before.loss).toBe(4);
    expect(top.after.metric.mean).toBeCloseTo(0.5, 12);
    // deviations -0.3, -0.1, 0.4: sum of squares 0.26, over n - 1 = 2
    expect(top.after.metric.std).toBeCloseTo(Math.sqrt(0.13), 12);
    expect(top.after.loss.mean).toBeCloseTo(1.5, 12);
    expect(rows[0].tasks.pos!.after.metric.std).toBe(0);
    expect(meanAndSpread([7])).toEqual({ mean: 7, std: 0, values: [7] });
    expect(ranksDescending([0.5, 0.7, 0.5, 0.1])).toEqual([2.5, 1, 2.5, 4]);
  });
});
