// `npm run study:pruning`: the paper's first study on our model and data (issue #8). For every
// pruning strategy at every kept depth, and the unpruned model, each WordNet task's test metric and
// loss before and after a fixed LoRA budget, over several seeds; writes pruning.md (tables),
// pruning.svg (figure) and pruning.json (every raw number) to --out. Resumable: finished cells are
// journaled under --work, so rerunning the same command picks up where it stopped (--fresh: start
// over). --quick is a tiny configuration that checks the pipeline (not the findings) in about a
// minute, into .prufed/study-pruning-quick/ unless --out / --work say otherwise.
// Usage:
//   npm run study:pruning -- [--model public/models/prufed-tiny] [--keep 9,6] [--seeds 0,1]
//     [--steps 100] [--limit 40] [--strategies top,symmetric] [--tasks define,pos] [--quick] [--fresh]
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, FormatError, InputError, loraModules, pruningStrategies } from '@prufed/model';
import { SingleBar } from 'cli-progress';
import { parseNameList } from '../packages/cli/src/args';
import { hardware } from '../packages/cli/src/study/machine';
import {
  type AdapterScope,
  type CostModel,
  type PruningStudyConfig,
  runPruningStudy,
} from '../packages/cli/src/study/pruning';
import { writePruningReport } from '../packages/cli/src/study/pruning-report';
import { parseTasks } from '../packages/cli/src/study/tasks';

// Options that --quick changes, with their [default, quick] values.
const budget = {
  tasks: ['define,category,hypernym,pos,antonym', 'pos,category'],
  seeds: ['0,1', '0'],
  steps: ['100', '2'],
  'batch-size': ['8', '4'],
  limit: ['40', '2'],
  'calib-lines': ['64', '8'],
  out: ['docs/results/pruning', '.prufed/study-pruning-quick/results'],
  work: ['.prufed/study-pruning', '.prufed/study-pruning-quick'],
} as const;

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'public/models/prufed-tiny' },
    data: { type: 'string', default: 'public/datasets/wordnet' },
    strategies: { type: 'string', default: pruningStrategies.join(',') },
    keep: { type: 'string', default: '9,6' },
    lr: { type: 'string', default: '5e-3' },
    rank: { type: 'string', default: '8' },
    alpha: { type: 'string', default: '16' },
    targets: { type: 'string', default: loraModules.join(',') },
    adapter: { type: 'string', default: 'multi-task' },
    'seq-len': { type: 'string', default: '96' },
    calib: { type: 'string' },
    engine: { type: 'string', default: 'cpu' },
    fresh: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    ...(Object.fromEntries(Object.keys(budget).map((name) => [name, { type: 'string' }])) as Record<
      keyof typeof budget,
      { type: 'string' }
    >),
  },
});

/** The option's value: as given, else its --quick or default value. */
function option(name: keyof typeof budget): string {
  return values[name] ?? budget[name][values.quick ? 1 : 0];
}

function numbers(name: string, text: string, integer: boolean): number[] {
  return text.split(',').map((item) => {
    const x = Number(item);
    if (item.trim() === '' || !Number.isFinite(x) || x < 0 || (integer && !Number.isSafeInteger(x))) {
      throw new InputError(
        `--${name}: "${item}" is not a non-negative ${integer ? 'integer' : 'number'}; e.g. --${name} ${integer ? '9,6' : '5e-3'}`,
      );
    }
    return x;
  });
}
function names<T extends string>(name: string, text: string, allowed: readonly T[]): T[] {
  try {
    return parseNameList(text, allowed);
  } catch (error) {
    throw new InputError(`--${name}: ${(error as Error).message}`);
  }
}
const one = (name: string, text: string, integer = true) => {
  const list = numbers(name, text, integer);
  if (list.length !== 1) throw new InputError(`--${name} takes one number, got ${text}`);
  return list[0];
};

/**
 * CPU seconds of the CPU engine (WebAssembly SIMD kernels) on the shipped 12-layer model (they scale
 * with depth), measured with `--strategies top --keep 9 --seeds 0 --steps 10 --limit 20` on the
 * reference machine (AMD EPYC, 2 cores, otherwise idle; 2026-11-26): 3.4 s for 80 training examples in
 * the 5-task mixture, 1.9 s to score one task's 20 records. They give the estimate printed before the
 * run and weigh the cells for the progress bar's ETA.
 */
const cpuCost: CostModel = { trainExample: 0.043, lossRecord: 0.005, decodeToken: 0.0095 };

function studyConfig(): PruningStudyConfig {
  const data = values.data!;
  if (values.adapter !== 'multi-task' && values.adapter !== 'per-task') {
    throw new InputError(`--adapter must be multi-task or per-task, got ${values.adapter}`);
  }
  return {
    model: values.model!,
    data,
    strategies: names('strategies', values.strategies!, pruningStrategies),
    keep: numbers('keep', values.keep!, true),
    tasks: parseTasks(option('tasks')),
    seeds: numbers('seeds', option('seeds'), true),
    steps: one('steps', option('steps')),
    batchSize: one('batch-size', option('batch-size')),
    lr: one('lr', values.lr!, false),
    rank: one('rank', values.rank!),
    alpha: one('alpha', values.alpha!, false),
    targets: names('targets', values.targets!, loraModules),
    adapter: values.adapter as AdapterScope,
    limit: one('limit', option('limit')),
    seqLen: one('seq-len', values['seq-len']!),
    calib: values.calib ?? `${data}/corpus.txt`,
    calibLines: one('calib-lines', option('calib-lines')),
    engine: values.engine!,
  };
}

const duration = (seconds: number) =>
  seconds < 120 ? `${seconds.toFixed(0)} s` : `${(seconds / 60).toFixed(seconds < 1200 ? 1 : 0)} minutes`;

async function main(): Promise<void> {
  const config = studyConfig();
  const outDir = resolve(option('out'));
  const workDir = resolve(option('work'));
  const machine = hardware();
  const started = performance.now();
  // cli-progress's own ETA counts cells as equal and is fed every training step: our ETA scales this
  // run's elapsed time by the estimated work still to do over the estimated work done so far.
  const bar = new SingleBar({
    format: 'pruning study {bar} {value}/{total} cells | ETA {remaining} | {activity}',
    hideCursor: true,
    // a run logged to a file still shows where it is, a line every 30 s
    noTTYOutput: true,
    notTTYSchedule: 30_000,
  });
  let running = false;
  let workAtStart: number | undefined; // resumed cells' work, from the first progress report
  const runStarted = performance.now();
  const eta = (workDone: number, workTotal: number) => {
    workAtStart ??= workDone;
    const ran = workDone - workAtStart;
    if (ran <= 0) return 'after the first cell';
    return duration((((performance.now() - runStarted) / 1000) * (workTotal - workDone)) / ran);
  };
  const result = await runPruningStudy(config, {
    journal: `${workDir}/journal.jsonl`,
    fresh: values.fresh,
    cost: cpuCost,
    onPlan: ({ variants, done, total, workDone, workTotal }) => {
      const seconds = workTotal - workDone; // cpuCost-weighted cells, resumed ones left out
      console.error(
        `pruning study: ${variants.length} distinct variants (the unpruned one included) for ` +
          `${config.strategies.length} strategies x ${config.keep.length} depths; ${total} cells, ${done} already in ` +
          `${workDir}/journal.jsonl. Estimate for the rest: at most ${duration(seconds)} on one free core of the reference machine ` +
          '(CPU engine, every answer decoded to its max new tokens; fine-tuned models stop earlier).',
      );
      bar.start(total, done, { activity: 'starting', remaining: 'after the first cell' });
      running = true;
    },
    onProgress: ({ done, workDone, workTotal, activity }) => {
      if (running) bar.update(done, { activity, remaining: eta(workDone, workTotal) });
    },
  });
  bar.stop();
  const command = ['npm run study:pruning --', ...process.argv.slice(2)].join(' ');
  const files = await writePruningReport(outDir, result, {
    command,
    hardware: machine,
    wallSeconds: (performance.now() - started) / 1000,
  });
  console.error(
    `pruning study: wrote ${files.join(', ')} in ${((performance.now() - started) / 60000).toFixed(1)} minutes`,
  );
}

try {
  await main();
} catch (error) {
  if (error instanceof InputError || error instanceof ConfigError || error instanceof FormatError) {
    console.error(`study:pruning: ${error.message}`);
    process.exit(1);
  }
  throw error;
}
