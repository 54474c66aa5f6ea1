import { TASKS } from '@prufed/model';
import { describe, expect, it } from 'vitest';
import type { FinalCell, FlStudyResult, RoundCell } from './fl';
import { flReport, meanSpread } from './fl-report';
import { countClass, parseXml } from './xml-check';

/** Every task at `value`, so the task mean is `value`. */
function losses(value: number) {
  return Object.fromEntries([...TASKS, 'mean'].map((task) => [task, value])) as RoundCell['valLoss'][string];
}

function round(run: string, seed: number, roundNumber: number, depths: number[], loss: number): RoundCell {
  return {
    run,
    seed,
    round: roundNumber,
    strategy: run.startsWith('homo') ? 'fedavg' : 'heteagg',
    clients: [],
    trainLoss: 1,
    bytesDown: 1024 * roundNumber,
    bytesUp: 2048,
    valLoss: Object.fromEntries(depths.map((depth) => [depth, losses(loss)])),
    serverState: [],
    seconds: 1,
    cpuSeconds: 1,
  };
}

function final(run: string, seed: number, depths: number[], metric: number, loss: number): FinalCell {
  const score = { loss, metric };
  const byTask = Object.fromEntries([...TASKS, 'mean'].map((task) => [task, score]));
  return {
    run,
    seed,
    test: Object.fromEntries(depths.map((depth) => [depth, byTask])) as FinalCell['test'],
    seconds: 1,
    cpuSeconds: 1,
  };
}

const result: FlStudyResult = {
  config: {
    model: 'm',
    data: 'd',
    tasks: [...TASKS],
    clients: 4,
    alpha: 0.5,
    depths: [2, 1],
    pruning: 'top',
    rounds: 2,
    fraction: 1,
    localSteps: 1,
    batchSize: 1,
    lr: 1e-3,
    rank: 2,
    loraAlpha: 4,
    seqLen: 32,
    seeds: [0, 1],
    valLimit: 2,
    testLimit: 1,
    runs: ['hetero-heteagg', 'homo-2', 'homo-1'],
  },
  layers: { 2: [0, 1], 1: [0] },
  rounds: [0, 1].flatMap((seed) =>
    [1, 2].flatMap((r) => [
      round('hetero-heteagg', seed, r, [2, 1], 3 - r + seed),
      round('homo-2', seed, r, [2], 4 - r),
      round('homo-1', seed, r, [1], 5 - r),
    ]),
  ),
  finals: [
    final('hetero-heteagg', 0, [2, 1], 0.2, 2.5),
    final('hetero-heteagg', 1, [2, 1], 0.4, 2.7),
    final('homo-2', 0, [2], 0.3, 2.4),
    final('homo-2', 1, [2], 0.3, 2.4),
    final('homo-1', 0, [1], 0.1, 3.0),
    final('homo-1', 1, [1], 0.1, 3.2),
  ],
};

describe('meanSpread', () => {
  it('is the mean and the sample standard deviation', () => {
    expect(meanSpread([1, 3])).toEqual({ mean: 2, spread: Math.SQRT2, n: 2 });
    expect(meanSpread([5])).toEqual({ mean: 5, spread: 0, n: 1 });
  });
});

describe('flReport', () => {
  const report = flReport(result);

  it('tables hetero against homo per depth with mean ± spread over seeds', () => {
    // depth 2: hetero metric 20%, 40% -> 30.0 ± 14.1; homo 30.0; paired difference -10, +10 -> 0.0 ± 14.1.
    expect(report.markdown).toContain(
      '| 2 | [0,1] | 30.0 ± 14.1 | 30.0 ± 0.0 | 0.0 ± 14.1 | 2.600 ± 0.141 | 2.400 ± 0.000 |',
    );
    // depth 1: homo metric 10% and loss 3.0, 3.2 -> 3.100 ± 0.141; difference +10, +30 -> 20.0 ± 14.1.
    expect(report.markdown).toContain(
      '| 1 | [0] | 30.0 ± 14.1 | 10.0 ± 0.0 | 20.0 ± 14.1 | 2.600 ± 0.141 | 3.100 ± 0.141 |',
    );
  });

  it('tables the variants with the last round validation loss, and the bytes', () => {
    // Last round (2) validation loss of hetero: seeds 0, 1 -> 1, 2 -> 1.500 ± 0.707.
    expect(report.markdown).toContain(
      '| hetero-heteagg | 30.0 ± 14.1 / 2.600 ± 0.141 | 30.0 ± 14.1 / 2.600 ± 0.141 | 1.500 ± 0.707 |',
    );
    // Down 1 KiB then 2 KiB (mean 1.5), up 2 KiB per round; total per seed 1 + 2 + 2 + 2 = 7 KiB.
    expect(report.markdown).toContain('| homo-1 | 1.5 KiB | 2.0 KiB | 7.0 KiB |');
    expect(JSON.parse(report.json)).toEqual(result);
  });

  it('draws one panel per depth with a line per run trained at that depth', () => {
    const elements = parseXml(report.svg);
    // depth 2: hetero-heteagg and homo-2; depth 1: hetero-heteagg and homo-1.
    expect(countClass(elements, 'line')).toBe(4);
    expect(countClass(elements, 'point')).toBe(8);
    expect(report.svg).toContain('depth 2: validation loss per round');
  });
});
