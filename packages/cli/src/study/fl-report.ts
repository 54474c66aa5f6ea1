// The federated study's report: Markdown tables (per depth, the heterogeneous HeteAgg global
// against the homogeneous FedAvg run at that depth; the HeteAgg variants; communication bytes),
// the raw results as JSON, and one SVG of validation loss per round with a panel per depth. Every
// number is a mean over seeds ± their sample standard deviation.
import type { FinalCell, FlStudyResult, RoundCell } from './fl';
import { type LineSeries, lineChart, smallMultiples } from './svg';
import { metricName, primaryMetric } from './tasks';

export interface FlReport {
  markdown: string;
  json: string;
  svg: string;
}

export interface MeanSpread {
  mean: number;
  /** Sample standard deviation over seeds; 0 for one seed. */
  spread: number;
  n: number;
}

export function meanSpread(values: readonly number[]): MeanSpread {
  const n = values.length;
  const mean = values.reduce((sum, x) => sum + x, 0) / n;
  const spread = n > 1 ? Math.sqrt(values.reduce((sum, x) => sum + (x - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, spread, n };
}

function show({ mean, spread, n }: MeanSpread, digits: number, scale = 1): string {
  if (n === 0 || !Number.isFinite(mean)) return '–';
  const value = (mean * scale).toFixed(digits);
  return n > 1 ? `${value} ± ${(spread * scale).toFixed(digits)}` : value;
}

function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

/** The final test scores (mean over tasks) of a run at a depth, one per seed. */
function finals(result: FlStudyResult, run: string, depth: number): FinalCell['test'][string]['mean'][] {
  return result.finals
    .filter((cell) => cell.run === run && cell.test[depth])
    .map((cell) => cell.test[depth].mean);
}

function roundsOf(result: FlStudyResult, run: string): RoundCell[] {
  return result.rounds.filter((cell) => cell.run === run);
}

export function flReport(result: FlStudyResult): FlReport {
  const { config } = result;
  const depths = config.depths;
  const runs = config.runs;
  const heteroRunsDone = runs.filter((run) => run.startsWith('hetero-'));
  const metricOf = config.tasks.map((task) => `${task}: ${metricName[primaryMetric[task]]}`).join(', ');
  const lines: string[] = [];
  lines.push(
    `Clients ${config.clients} (tiers: depths ${depths.join('/')}, round-robin), Dirichlet alpha ${config.alpha}, ` +
      `pruning \`${config.pruning}\`, ${config.rounds} rounds, fraction ${config.fraction}, ${config.localSteps} local steps ` +
      `of batch ${config.batchSize} at lr ${config.lr}, LoRA r ${config.rank} alpha ${config.loraAlpha}, ` +
      `seeds ${config.seeds.join(',')}; test: first ${config.testLimit} records per task, validation: first ${config.valLimit}. ` +
      `Metric = mean over the tasks of each task's primary metric (${metricOf}); loss = mean response loss, ` +
      'nats/token. Values: mean ± sample standard deviation over seeds.',
    '',
  );

  if (runs.includes('hetero-heteagg')) {
    lines.push(
      '### Heterogeneous (HeteAgg) against homogeneous (FedAvg), per depth',
      '',
      '| depth | layers | hetero metric | homo metric | hetero − homo | hetero loss | homo loss |',
      '|---|---|---|---|---|---|---|',
    );
    for (const depth of depths) {
      const hetero = finals(result, 'hetero-heteagg', depth);
      const homo = finals(result, `homo-${depth}`, depth);
      const paired = hetero.length === homo.length && homo.length > 0;
      const difference = paired
        ? show(meanSpread(hetero.map((h, i) => h.metric - homo[i].metric)), 1, 100)
        : '–';
      lines.push(
        `| ${depth} | [${result.layers[depth]}] | ${show(meanSpread(hetero.map((s) => s.metric)), 1, 100)} | ` +
          `${show(meanSpread(homo.map((s) => s.metric)), 1, 100)} | ${difference} | ` +
          `${show(meanSpread(hetero.map((s) => s.loss)), 3)} | ${show(meanSpread(homo.map((s) => s.loss)), 3)} |`,
      );
    }
    lines.push('', 'Metrics in percent; hetero − homo is paired by seed.', '');
  }

  if (heteroRunsDone.length > 0) {
    lines.push(
      '### HeteAgg variants (heterogeneous clients), test metric / loss per depth',
      '',
      `| run | ${depths.map((depth) => `depth ${depth}`).join(' | ')} | final validation loss (mean of depths) |`,
      `|---|${depths.map(() => '---').join('|')}|---|`,
    );
    for (const run of heteroRunsDone) {
      const cells = depths.map((depth) => {
        const scores = finals(result, run, depth);
        return `${show(meanSpread(scores.map((s) => s.metric)), 1, 100)} / ${show(meanSpread(scores.map((s) => s.loss)), 3)}`;
      });
      const last = roundsOf(result, run).filter((cell) => cell.round === config.rounds);
      const validation = meanSpread(
        last.map((cell) => depths.reduce((sum, depth) => sum + cell.valLoss[depth].mean, 0) / depths.length),
      );
      lines.push(`| ${run} | ${cells.join(' | ')} | ${show(validation, 3)} |`);
    }
    lines.push('');
  }

  lines.push(
    '### Communication per run (PEFT safetensors bytes of the slices sent and the updates returned)',
    '',
    '| run | down per round | up per round | total (down + up, all rounds) |',
    '|---|---|---|---|',
  );
  for (const run of runs) {
    const cells = roundsOf(result, run);
    if (cells.length === 0) continue;
    const totals = config.seeds.map((seed) =>
      cells
        .filter((cell) => cell.seed === seed)
        .reduce((sum, cell) => sum + cell.bytesDown + cell.bytesUp, 0),
    );
    lines.push(
      `| ${run} | ${kib(meanSpread(cells.map((cell) => cell.bytesDown)).mean)} | ` +
        `${kib(meanSpread(cells.map((cell) => cell.bytesUp)).mean)} | ${kib(meanSpread(totals).mean)} |`,
    );
  }
  lines.push('');
  const cells = [...result.rounds, ...result.finals];
  const total = (pick: (cell: { seconds: number; cpuSeconds: number }) => number) =>
    (cells.reduce((sum, cell) => sum + pick(cell), 0) / 60).toFixed(1);
  lines.push(
    `Time: ${total((cell) => cell.seconds)} min wall, ${total((cell) => cell.cpuSeconds)} CPU-min ` +
      '(rounds and test evaluations; the CPU engine on one thread).',
    '',
  );

  const charts = depths.map((depth) => {
    const series: LineSeries[] = runs
      .filter((run) => run.startsWith('hetero-') || run === `homo-${depth}`)
      .map((run) => {
        const cells = roundsOf(result, run).filter((cell) => cell.valLoss[depth]);
        const rounds = [...new Set(cells.map((cell) => cell.round))].sort((a, b) => a - b);
        return {
          name: run,
          points: rounds.map((round) => {
            const { mean, spread } = meanSpread(
              cells.filter((cell) => cell.round === round).map((cell) => cell.valLoss[depth].mean),
            );
            return { x: round, y: mean, error: spread };
          }),
        };
      })
      .filter((line) => line.points.length > 0);
    return lineChart(series, {
      title: `depth ${depth}: validation loss per round`,
      xLabel: 'round',
      yLabel: 'loss (nats/token)',
    });
  });
  const svg = smallMultiples(
    charts,
    Math.min(3, charts.length),
    'Federated study: validation loss per round',
  );
  return { markdown: `${lines.join('\n')}\n`, json: `${JSON.stringify(result, null, 2)}\n`, svg };
}
