import type { PruningStrategy, TaskName } from '@prufed/model';
import { describe, expect, it } from 'vitest';
import { meanAndSpread, type PruningStudyResult, type StudyRow } from './pruning';
import { pruningJson, pruningMarkdown, pruningSvg, type RunInfo, summarize } from './pruning-report';
import { countClass, parseXml } from './xml-check';

/** A row whose metric before is `before` and after is `after` per seed, per task; loss = 2 - metric. */
function row(
  strategy: StudyRow['strategy'],
  keptLayers: number[],
  metrics: Record<'pos' | 'define', [number, number[]]>,
  sameAs: PruningStrategy[] = [],
): StudyRow {
  const tasks: StudyRow['tasks'] = {};
  for (const [task, [before, after]] of Object.entries(metrics)) {
    const scores = (m: number) => ({ loss: 2 - m, exactMatch: m, f1: m, metric: m });
    tasks[task as TaskName] = {
      before: scores(before),
      after: {
        metric: meanAndSpread(after),
        loss: meanAndSpread(after.map((m) => 2 - m)),
        exactMatch: meanAndSpread(after),
        f1: meanAndSpread(after),
      },
    };
  }
  return { strategy, keepLayers: keptLayers.length, keptLayers, sameAs, tasks };
}

// Hand-made: on pos top wins, on define symmetric wins; both average rank 1.5, magnitude 3.
const result: PruningStudyResult = {
  config: {
    model: 'm',
    data: 'd',
    strategies: ['top', 'symmetric', 'magnitude'],
    keep: [2],
    tasks: ['pos', 'define'],
    seeds: [0, 1],
    steps: 1,
    batchSize: 1,
    lr: 0.1,
    rank: 1,
    alpha: 1,
    targets: ['q_proj'],
    adapter: 'multi-task',
    limit: 1,
    seqLen: 8,
    calib: 'c',
    calibLines: 1,
    engine: 'cpu',
  },
  numLayers: 4,
  variants: [
    [0, 1, 2, 3],
    [0, 1],
    [0, 3],
    [2, 3],
  ],
  rows: [
    row('full', [0, 1, 2, 3], { pos: [0.2, [0.6, 0.6]], define: [0.1, [0.5, 0.5]] }),
    row('top', [0, 1], { pos: [0.1, [0.4, 0.6]], define: [0, [0.2, 0.2]] }),
    row('symmetric', [0, 3], { pos: [0, [0.3, 0.3]], define: [0, [0.4, 0.4]] }),
    row('magnitude', [2, 3], { pos: [0, [0.1, 0.1]], define: [0, [0.1, 0.1]] }),
  ],
  baselines: {
    pos: {
      metric: 'exactMatch',
      majority: { count: 1, exactMatch: 0.25, f1: 0.25 },
      copyPrompt: { count: 1, exactMatch: 0, f1: 0 },
    },
    define: {
      metric: 'f1',
      majority: { count: 1, exactMatch: 0, f1: 0.05 },
      copyPrompt: { count: 1, exactMatch: 0, f1: 0.02 },
    },
  },
  cells: [],
  computed: 0,
  seconds: 1,
};
const run: RunInfo = {
  command: 'npm run study:pruning -- --keep 2',
  hardware: { cpu: 'cpu', cores: 2, memoryGiB: 1, os: 'os', node: 'v20', loadAverage: '0 0 0' },
  wallSeconds: 60,
};

describe('pruning report', () => {
  it('ranks strategies per task and on average, relative to the unpruned model', () => {
    const [depth] = summarize(result);
    const top = depth.strategies.find((s) => s.strategy === 'top')!;
    expect(depth.bestPerTask).toEqual({ pos: ['top'], define: ['symmetric'] });
    expect(depth.bestOnAverage).toEqual(['top', 'symmetric']);
    expect(depth.taskDependent).toBe(true);
    expect(top.meanRank).toBe(1.5);
    expect(depth.strategies.find((s) => s.strategy === 'magnitude')!.meanRank).toBe(3);
    expect(top.meanRelative).toBeCloseTo((0.5 / 0.6 + 0.2 / 0.5) / 2, 12);
    // task means per seed: (0.4 + 0.2) / 2 = 0.3 and (0.6 + 0.2) / 2 = 0.4
    expect(top.taskMean.mean).toBeCloseTo(0.35, 12);
    expect(top.taskMean.std).toBeCloseTo(Math.sqrt(0.005), 12);
    expect(top.taskMeanBefore).toBeCloseTo(0.05, 12);
  });

  it('tables every strategy with before -> after, mean ± spread, baselines and verdicts', () => {
    const md = pruningMarkdown(result, run);
    const topRow = md.split('\n').find((line) => line.startsWith('| top | 2 | 0,1 |') && line.includes('→'))!;
    expect(topRow).toBe('| top | 2 | 0,1 | 10.0 → 50.0 ± 14.1 | 0.0 → 20.0 ± 0.0 | 1.50 | 61.7% |');
    expect(md).toContain('| **full** (4) | 4 | 0-3 | 20.0 → 60.0 ± 0.0 | 10.0 → 50.0 ± 0.0 | – | 100% |');
    expect(md).toContain("| *majority (train's most frequent answer)* | | | 25.0 | 5.0 | | |");
    expect(md).toContain('| 2 | top | symmetric | top, symmetric (1.50) | yes |');
    expect(md).toContain('| pos (exact match) | define (token F1) |');
    expect(md).toContain('| top | 2 | 0,1 | 1.900 → 1.500 ± 0.141 | 2.000 → 1.800 ± 0.000 |'); // losses
    for (const strategy of result.config.strategies) expect(md).toContain(`| ${strategy} | 2 |`);
    expect(md).toContain(run.command);
  });

  it('draws a well-formed figure: a panel per task plus the mean, before and after bars per strategy', () => {
    const elements = parseXml(pruningSvg(result));
    expect(elements.filter((e) => e.name === 'svg')).toHaveLength(1 + 3);
    expect(countClass(elements, 'bar')).toBe(3 * 3 * 2);
    // whiskers where seeds disagree: top's task mean and top on pos
    expect(countClass(elements, 'error')).toBe(2);
    expect(countClass(elements, 'reference')).toBe(3 * 2);
  });

  it('writes every raw number to the JSON', () => {
    const json = JSON.parse(pruningJson(result, run));
    expect(json.command).toBe(run.command);
    expect(json.rows[1].tasks.pos.after.metric.values).toEqual([0.4, 0.6]);
    expect(json.summary[0].bestOnAverage).toEqual(['top', 'symmetric']);
  });
});
