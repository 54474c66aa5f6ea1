// The pruning study's report (docs/results/pruning/): a Markdown page with the tables a paper would
// print (metric and loss per strategy@depth and task, before -> after fine-tuning, mean ± spread over
// seeds, baselines, mean rank and mean metric relative to the unpruned model), an SVG figure, and a
// JSON with every raw number, so the README's verdicts (is the best strategy task-dependent? which
// is best on average?) can be read off and checked.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { PruningStrategy, TaskName } from '@prufed/model';
import { layerRanges } from '../layer-study';
import type { Hardware } from './machine';
import {
  meanAndSpread,
  type PruningStudyResult,
  ranksDescending,
  type Spread,
  type StudyRow,
} from './pruning';
import { groupedBarChart, smallMultiples } from './svg';
import { metricName, primaryMetric } from './tasks';

/** How the study was run, recorded beside its numbers. */
export interface RunInfo {
  command: string;
  hardware: Hardware;
  /** Wall time of the whole study, resumed parts included only as far as this call ran them. */
  wallSeconds: number;
}

/** One strategy at one depth, summarised over tasks. */
export interface StrategySummary {
  strategy: PruningStrategy;
  keepLayers: number;
  /** Mean over tasks of its rank among the strategies at this depth (1 best; ties share). */
  meanRank: number;
  /**
   * Mean over tasks of its metric after fine-tuning / the unpruned model's after fine-tuning (tasks
   * where the unpruned model scores 0 left out; NaN when that is all of them).
   */
  meanRelative: number;
  /** Its metric after fine-tuning averaged over tasks, mean and spread over seeds. */
  taskMean: Spread;
  /** Same, before fine-tuning (no seeds, no spread). */
  taskMeanBefore: number;
}

export interface DepthSummary {
  keepLayers: number;
  strategies: StrategySummary[];
  /** Per task, the strategies with the best mean metric after fine-tuning (several on a tie). */
  bestPerTask: Partial<Record<TaskName, PruningStrategy[]>>;
  /** Lowest mean rank (several on a tie). */
  bestOnAverage: PruningStrategy[];
  /** Whether the best strategy differs between tasks (no single strategy is best on every task). */
  taskDependent: boolean;
}

/** Metric averaged over tasks, per seed, then mean and spread over the seeds. */
function taskMeanOverSeeds(row: StudyRow, tasks: TaskName[], seeds: number): Spread {
  const perSeed = Array.from({ length: seeds }, (_, s) =>
    mean(tasks.map((t) => row.tasks[t]!.after.metric.values[s])),
  );
  return meanAndSpread(perSeed);
}

const mean = (xs: number[]) => (xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length);

/** The verdict material: ranks, relative metrics and winners per depth. */
export function summarize(result: PruningStudyResult): DepthSummary[] {
  const { tasks, seeds } = result.config;
  const full = result.rows[0];
  return result.config.keep.map((keepLayers) => {
    const rows = result.rows.filter((r) => r.strategy !== 'full' && r.keepLayers === keepLayers);
    const after = (row: StudyRow, task: TaskName) => row.tasks[task]!.after.metric.mean;
    const ranks = new Map(tasks.map((task) => [task, ranksDescending(rows.map((row) => after(row, task)))]));
    const strategies = rows.map(
      (row, i): StrategySummary => ({
        strategy: row.strategy as PruningStrategy,
        keepLayers,
        meanRank: mean(tasks.map((task) => ranks.get(task)![i])),
        meanRelative: mean(
          tasks.filter((task) => after(full, task) > 0).map((task) => after(row, task) / after(full, task)),
        ),
        taskMean: taskMeanOverSeeds(row, tasks, seeds.length),
        taskMeanBefore: mean(tasks.map((task) => row.tasks[task]!.before.metric)),
      }),
    );
    const bestPerTask: DepthSummary['bestPerTask'] = {};
    for (const task of tasks) {
      const best = Math.max(...rows.map((row) => after(row, task)));
      bestPerTask[task] = rows
        .filter((row) => after(row, task) === best)
        .map((row) => row.strategy as PruningStrategy);
    }
    const lowest = Math.min(...strategies.map((s) => s.meanRank));
    const bestEverywhere = strategies.filter((s) =>
      tasks.every((task) => bestPerTask[task]!.includes(s.strategy)),
    );
    return {
      keepLayers,
      strategies,
      bestPerTask,
      bestOnAverage: strategies.filter((s) => s.meanRank === lowest).map((s) => s.strategy),
      taskDependent: bestEverywhere.length === 0,
    };
  });
}

const pct = (x: number) => (Number.isNaN(x) ? '–' : (100 * x).toFixed(1));
const percentOfFull = (x: number) => (Number.isNaN(x) ? '–' : `${pct(x)}%`);
const spread = (s: Spread, format: (x: number) => string) =>
  s.values.length > 1 ? `${format(s.mean)} ± ${format(s.std)}` : format(s.mean);

function rowLabel(row: StudyRow): string {
  if (row.strategy === 'full') return `**full** (${row.keepLayers})`;
  return row.sameAs.length > 0 ? `${row.strategy} (= ${row.sameAs.join(', ')})` : row.strategy;
}

/** Table lines: a row per strategy@depth, a before → after cell per task, then extra columns. */
function beforeAfterTable(
  result: PruningStudyResult,
  field: 'metric' | 'loss',
  extra: { header: string[]; cells: (row: StudyRow) => string[] },
): string[] {
  const { tasks } = result.config;
  const format = field === 'metric' ? pct : (x: number) => x.toFixed(3);
  const taskHeader = (task: TaskName) =>
    field === 'metric' ? `${task} (${metricName[primaryMetric[task]]})` : task;
  const header = ['strategy', 'kept', 'layers', ...tasks.map(taskHeader), ...extra.header];
  const lines = [
    `| ${header.join(' | ')} |`,
    `|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
  ];
  for (const row of result.rows) {
    const cells = tasks.map((task) => {
      const r = row.tasks[task]!;
      return `${format(r.before[field])} → ${spread(r.after[field], format)}`;
    });
    const label = [rowLabel(row), String(row.keepLayers), layerRanges(row.keptLayers)];
    lines.push(`| ${[...label, ...cells, ...extra.cells(row)].join(' | ')} |`);
  }
  return lines;
}

/** Mean seconds of the cells this result holds, per kind and depth: what a cell costs here. */
function cellSeconds(result: PruningStudyResult): string[] {
  const depths = [...new Set(result.variants.map((v) => v.length))];
  const lines = [
    '| kept | before: one task (s) | after: train + score all tasks (s) | of which training (s) |',
    '|---:|---:|---:|---:|',
  ];
  for (const depth of depths) {
    const before = result.cells
      .filter((c) => c.kind === 'before')
      .filter((c) => c.keptLayers.length === depth);
    const after = result.cells.filter((c) => c.kind === 'after').filter((c) => c.keptLayers.length === depth);
    const avg = (xs: number[]) => (xs.length > 0 ? mean(xs).toFixed(1) : '–');
    lines.push(
      `| ${depth} | ${avg(before.map((c) => c.seconds))} | ${avg(after.map((c) => c.seconds))} | ${avg(after.map((c) => c.trainSeconds))} |`,
    );
  }
  return lines;
}

export function pruningMarkdown(result: PruningStudyResult, run: RunInfo): string {
  const { config, numLayers } = result;
  const { tasks } = config;
  const summary = summarize(result);
  const strategyOf = (row: StudyRow) =>
    summary.find((d) => d.keepLayers === row.keepLayers)?.strategies.find((s) => s.strategy === row.strategy);
  const metricTable = beforeAfterTable(result, 'metric', {
    header: ['mean rank', 'vs full'],
    cells: (row) => {
      const s = strategyOf(row);
      return row.strategy === 'full' || s === undefined
        ? ['–', '100%']
        : [s.meanRank.toFixed(2), percentOfFull(s.meanRelative)];
    },
  });
  const baselineRow = (name: string, pick: 'majority' | 'copyPrompt') =>
    `| *${name}* | | | ${tasks.map((t) => pct(result.baselines[t]![pick][primaryMetric[t]])).join(' | ')} | | |`;
  metricTable.push(
    baselineRow("majority (train's most frequent answer)", 'majority'),
    baselineRow('copy the word', 'copyPrompt'),
  );
  const lossTable = beforeAfterTable(result, 'loss', { header: [], cells: () => [] });
  const verdicts = [
    `| kept | ${tasks.join(' | ')} | best on average (mean rank) | best strategy task-dependent |`,
    `|---:|${tasks.map(() => '---').join('|')}|---|---|`,
    ...summary.map((d) => {
      const rank = Math.min(...d.strategies.map((s) => s.meanRank)).toFixed(2);
      const names = (list: PruningStrategy[]) =>
        list.length === d.strategies.length ? 'all tie' : list.join(', ');
      const best = tasks.map((t) => names(d.bestPerTask[t]!));
      return `| ${d.keepLayers} | ${best.join(' | ')} | ${names(d.bestOnAverage)} (${rank}) | ${d.taskDependent ? 'yes' : 'no'} |`;
    }),
  ];
  const perStrategy = [
    '| strategy | kept | before | after | mean rank | vs full |',
    '|---|---:|---:|---:|---:|---:|',
    ...summary.flatMap((d) =>
      [...d.strategies]
        .sort((a, b) => a.meanRank - b.meanRank)
        .map(
          (s) =>
            `| ${s.strategy} | ${s.keepLayers} | ${pct(s.taskMeanBefore)} | ${spread(s.taskMean, pct)} | ${s.meanRank.toFixed(2)} | ${percentOfFull(s.meanRelative)} |`,
        ),
    ),
  ];
  const scope =
    config.adapter === 'multi-task'
      ? `ONE multi-task adapter per variant and seed, trained on a seeded shuffle of all ${tasks.length} tasks' train splits together`
      : "one adapter per variant, seed and task, trained on that task's train split";
  const h = run.hardware;
  return `# Pruning study: which layers to keep, before and after LoRA fine-tuning

\`${config.model}\` (${numLayers} layers) on the WordNet tasks in \`${config.data}\`. For every pruning strategy at
${config.keep.join(' and ')} of ${numLayers} kept layers, and for the unpruned model: each task's metric on the first
${config.limit} test records (greedy decoding, in percent) and response loss, **before** fine-tuning and **after** a
fixed LoRA budget: ${config.steps} AdamW steps of ${config.batchSize} examples (lr ${config.lr}, constant; r ${config.rank},
alpha ${config.alpha}, ${config.targets.join(', ')}), ${scope}. After-fine-tuning numbers are mean ± sample standard
deviation over seeds ${config.seeds.join(', ')} (the seed sets the LoRA initialisation and the example order);
before-fine-tuning numbers do not depend on the seed. Strategies that keep the same layers at a depth share one
run, marked "(= ...)": ${result.variants.length} distinct variants were run for ${result.rows.length} rows.
\`contribution\` and \`angular\` are calibrated on the first ${config.calibLines} lines of \`${config.calib}\`.
*mean rank*: the strategy's rank among the ${config.strategies.length} strategies at its depth by mean metric after
fine-tuning (1 best, ties share), averaged over tasks; *vs full*: its metric after fine-tuning over the unpruned
model's after fine-tuning, averaged over tasks.

## Metric, before → after fine-tuning (percent)

${metricTable.join('\n')}

## Response loss (nats/token), before → after fine-tuning

${lossTable.join('\n')}

## Which strategy is best (by mean metric after fine-tuning)

${verdicts.join('\n')}

## Per strategy, averaged over tasks (percent)

${perStrategy.join('\n')}

![metric per strategy and depth, before and after fine-tuning](pruning.svg)

## How it was run

    ${run.command}

${(run.wallSeconds / 60).toFixed(1)} minutes wall for the cells this run computed (${result.computed} of ${result.cells.length}, layer
selections included; the rest were resumed from the journal). Mean seconds per cell:

${cellSeconds(result).join('\n')}

Hardware: ${h.cpu}, ${h.cores} cores, ${h.memoryGiB} GiB, ${h.os}, Node ${h.node}; load average ${h.loadAverage} at the start.
`;
}

/** The figure: the task mean, then one panel per task; bars per strategy, before and after per depth. */
export function pruningSvg(result: PruningStudyResult): string {
  const { tasks, keep } = result.config;
  const summary = summarize(result);
  const full = result.rows[0];
  const series = keep.flatMap((k) => [`${k} kept, before`, `${k} kept, after`]);
  const strategies = result.config.strategies;
  const panel = (
    title: string,
    yLabel: string,
    value: (row: StudyRow) => { before: number; after: Spread },
  ): string => {
    const groups = strategies.map((strategy) => {
      const cells = keep.map((k) =>
        value(result.rows.find((r) => r.strategy === strategy && r.keepLayers === k)!),
      );
      return {
        label: strategy,
        values: cells.flatMap((c) => [100 * c.before, 100 * c.after.mean]),
        errors: cells.flatMap((c) => [0, 100 * c.after.std]),
      };
    });
    const reference = value(full);
    return groupedBarChart(groups, series, {
      title,
      yLabel,
      width: 760,
      height: 340,
      referenceLines: [
        { value: 100 * reference.before, label: `full, before (${pct(reference.before)})` },
        { value: 100 * reference.after.mean, label: `full, after (${pct(reference.after.mean)})` },
      ],
    });
  };
  const meanPanel = panel('mean over tasks', 'metric (%)', (row) => {
    const s = row.strategy === 'full' ? undefined : summary.find((d) => d.keepLayers === row.keepLayers);
    const own = s?.strategies.find((x) => x.strategy === row.strategy);
    return own
      ? { before: own.taskMeanBefore, after: own.taskMean }
      : {
          before: mean(tasks.map((t) => row.tasks[t]!.before.metric)),
          after: taskMeanOverSeeds(row, tasks, result.config.seeds.length),
        };
  });
  const taskPanels = tasks.map((task) =>
    panel(task, `${metricName[primaryMetric[task]]} (%)`, (row) => ({
      before: row.tasks[task]!.before.metric,
      after: row.tasks[task]!.after.metric,
    })),
  );
  return smallMultiples(
    [meanPanel, ...taskPanels],
    2,
    'test metric per pruning strategy, before and after LoRA fine-tuning (bars: mean ± std over seeds)',
  );
}

/** Everything, raw: config, run, per-row aggregates, verdict summary, every cell. */
export function pruningJson(result: PruningStudyResult, run: RunInfo): string {
  return `${JSON.stringify({ study: 'pruning', ...run, ...result, summary: summarize(result) }, null, 2)}\n`;
}

/** Writes pruning.md, pruning.svg and pruning.json into `outDir`; returns their paths. */
export async function writePruningReport(
  outDir: string,
  result: PruningStudyResult,
  run: RunInfo,
): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const files: [string, string][] = [
    ['pruning.md', pruningMarkdown(result, run)],
    ['pruning.svg', pruningSvg(result)],
    ['pruning.json', pruningJson(result, run)],
  ];
  for (const [name, text] of files) await writeFile(path.join(outDir, name), text);
  return files.map(([name]) => path.join(outDir, name));
}
