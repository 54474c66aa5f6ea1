// `npm run study:fl`: the federated study (packages/cli/src/study/fl.ts) from the command line, with
// a progress bar and an ETA; writes fl.md, fl.json and fl.svg under --out. Resumable: rerun the same
// command after an interruption (--fresh starts over). Usage:
//   npm run study:fl -- [--quick] [--model DIR] [--clients 12] [--tiers 12,9,6] [--rounds 8] [--seeds 0,1]
//     [--runs hetero-heteagg,homo-12,...] [--out docs/results/fl] [--work .prufed/study-fl] [--fresh]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parsePruningStrategy, TASKS } from '@prufed/model';
import { SingleBar } from 'cli-progress';
import { type FlStudyConfig, runFlStudy, runNames } from '../packages/cli/src/study/fl';
import { flReport } from '../packages/cli/src/study/fl-report';
import { parseTasks } from '../packages/cli/src/study/tasks';

const root = resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    model: { type: 'string', default: join(root, 'public/models/prufed-tiny') },
    data: { type: 'string', default: join(root, 'public/datasets/wordnet') },
    tasks: { type: 'string' },
    clients: { type: 'string' },
    alpha: { type: 'string', default: '0.5' },
    tiers: { type: 'string', default: '12,9,6' },
    pruning: { type: 'string', default: 'top' },
    calib: { type: 'string', default: join(root, 'public/datasets/wordnet/corpus-valid.txt') },
    rounds: { type: 'string' },
    fraction: { type: 'string', default: '0.5' },
    'local-steps': { type: 'string' },
    'batch-size': { type: 'string', default: '8' },
    lr: { type: 'string', default: '5e-3' },
    rank: { type: 'string', default: '8' },
    'lora-alpha': { type: 'string', default: '16' },
    'seq-len': { type: 'string', default: '96' },
    seeds: { type: 'string' },
    limit: { type: 'string' },
    'val-limit': { type: 'string' },
    runs: { type: 'string' },
    out: { type: 'string' },
    work: { type: 'string' },
    fresh: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
  },
});

const quick = values.quick!;
/**
 * The default configuration (12 CPU-minutes for both seeds on the 2-core EPYC with the CPU engine's
 * WebAssembly SIMD kernels, 2026-11-26; it was about an hour with the JavaScript loops), or --quick's:
 * a pipeline check in about a minute of CPU, not findings. The learning rate is the pruning study's (5e-3).
 */
const defaults = quick
  ? {
      tasks: 'pos,category',
      clients: '3',
      rounds: '2',
      localSteps: '1',
      seeds: '0',
      limit: '2',
      valLimit: '4',
    }
  : {
      tasks: TASKS.join(','),
      clients: '12',
      rounds: '5',
      localSteps: '6',
      seeds: '0,1',
      limit: '24',
      valLimit: '12',
    };

function numberOption(name: string, value: string, integer = true): number {
  const x = Number(value);
  if (value.trim() === '' || !Number.isFinite(x) || x <= 0 || (integer && !Number.isSafeInteger(x))) {
    console.error(`study-fl: --${name} must be a positive ${integer ? 'integer' : 'number'}, got "${value}"`);
    process.exit(1);
  }
  return x;
}

function listOption(name: string, value: string): number[] {
  return value.split(',').map((item) => {
    const x = Number(item);
    if (item.trim() === '' || !Number.isSafeInteger(x) || x < 0) {
      console.error(`study-fl: --${name} must be comma-separated non-negative integers, got "${value}"`);
      process.exit(1);
    }
    return x;
  });
}

async function main(): Promise<void> {
  const depths = listOption('tiers', values.tiers!);
  const pruning = parsePruningStrategy(values.pruning!);
  const config: FlStudyConfig = {
    model: resolve(values.model!),
    data: resolve(values.data!),
    tasks: parseTasks(values.tasks ?? defaults.tasks),
    clients: numberOption('clients', values.clients ?? defaults.clients),
    alpha: numberOption('alpha', values.alpha!, false),
    depths,
    pruning,
    calib: pruning === 'contribution' || pruning === 'angular' ? resolve(values.calib!) : undefined,
    rounds: numberOption('rounds', values.rounds ?? defaults.rounds),
    fraction: numberOption('fraction', values.fraction!, false),
    localSteps: numberOption('local-steps', values['local-steps'] ?? defaults.localSteps),
    batchSize: numberOption('batch-size', values['batch-size']!),
    lr: numberOption('lr', values.lr!, false),
    rank: numberOption('rank', values.rank!),
    loraAlpha: numberOption('lora-alpha', values['lora-alpha']!, false),
    seqLen: numberOption('seq-len', values['seq-len']!),
    seeds: listOption('seeds', values.seeds ?? defaults.seeds),
    valLimit: numberOption('val-limit', values['val-limit'] ?? defaults.valLimit),
    testLimit: numberOption('limit', values.limit ?? defaults.limit),
    // The full default leaves out hetero-product (B·A averaging; ~10 more CPU-minutes) to fit the time
    // budget; --quick checks its pipeline, and --runs ...,hetero-product adds it to a study.
    runs: values.runs
      ? values.runs.split(',').map((run) => run.trim())
      : runNames(depths).filter((run) => quick || run !== 'hetero-product'),
  };
  const out = resolve(values.out ?? join(root, quick ? '.prufed/study-fl-quick/results' : 'docs/results/fl'));
  const work = resolve(values.work ?? join(root, quick ? '.prufed/study-fl-quick/work' : '.prufed/study-fl'));

  const bar = new SingleBar({
    format: 'study:fl {bar} {value}/{total} rounds+tests | {label} | ETA {eta}',
    etaBuffer: 1,
  });
  const started = performance.now();
  let barStarted = false;
  const running = runFlStudy(config, {
    work,
    fresh: values.fresh,
    onProgress: ({ done, total, doneHere, label }) => {
      if (!barStarted) {
        bar.start(total, done, { label, eta: '-' });
        barStarted = true;
        return;
      }
      const seconds = (performance.now() - started) / 1000;
      const eta = doneHere > 0 ? `${Math.round(((total - done) * seconds) / doneHere / 60)} min` : '-';
      bar.update(done, { label, eta });
    },
  });
  const result = await running.finally(() => bar.stop());
  const report = flReport(result);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'fl.md'), report.markdown);
  writeFileSync(join(out, 'fl.json'), report.json);
  writeFileSync(join(out, 'fl.svg'), report.svg);
  const minutes = ((performance.now() - started) / 60000).toFixed(1);
  console.error(
    `study-fl: wrote ${join(out, 'fl.md')}, fl.json, fl.svg in ${minutes} min (journal: ${work})`,
  );
}

try {
  await main();
} catch (error) {
  const name = (error as Error).name;
  if (name === 'ConfigError' || name === 'InputError' || name === 'FormatError') {
    console.error(`study-fl: ${(error as Error).message}`);
    process.exit(1);
  }
  throw error;
}
