// Regenerates the evidence tables of a base model in docs/results/model/ by running the prufed
// commands themselves, so every number comes with the command that produced it:
//   layers.md / layers.json     held-out loss of every pruning strategy at 9 and 6 kept layers, before
//                               any fine-tuning (`prufed layer-study`);
//   finetune.md / finetune.json each WordNet task: a fresh LoRA adapter trained for a fixed small budget
//                               (`prufed finetune`), its test metric (`prufed eval`) beside the
//                               majority-class and copy-the-prompt baselines on the same test records.
// Usage:
//   npx tsx scripts/model-report.ts [--model public/models/prufed-tiny] [--out docs/results/model]
//     [--tasks define,pos] [--steps 150] [--limit 100] [--jobs 2] [--skip-layers] [--engine cpu|webgpu]
// --engine is passed to `prufed finetune` and `prufed eval` (webgpu: on a GPU machine, with --jobs 1).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  copyPromptBaseline,
  majorityClassBaseline,
  parseTaskJsonl,
  TASKS,
  type TaskName,
  type TaskScores,
} from '@prufed/model';
import { studyInputsSha256 } from '../packages/cli/src/study/inputs-hash';
import { type Hardware, hardware } from '../packages/cli/src/study/machine';
import {
  maxNewTokens,
  metricName,
  noRepeatNgram,
  parseTasks,
  primaryMetric,
} from '../packages/cli/src/study/tasks';

const root = resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'public/models/prufed-tiny' },
    out: { type: 'string', default: 'docs/results/model' },
    work: { type: 'string', default: '.prufed/model-report' },
    data: { type: 'string', default: 'public/datasets/wordnet' },
    tasks: { type: 'string', default: TASKS.join(',') },
    steps: { type: 'string', default: '150' },
    'batch-size': { type: 'string', default: '8' },
    lr: { type: 'string', default: '5e-3' },
    rank: { type: 'string', default: '8' },
    alpha: { type: 'string', default: '16' },
    'seq-len': { type: 'string', default: '96' },
    limit: { type: 'string', default: '100' },
    'layer-limit': { type: 'string', default: '100' },
    jobs: { type: 'string', default: String(Math.max(1, os.cpus().length)) },
    'skip-layers': { type: 'boolean', default: false },
    engine: { type: 'string', default: 'cpu' },
  },
});

let tasks: TaskName[];
try {
  tasks = parseTasks(values.tasks!);
} catch (error) {
  console.error((error as Error).message);
  process.exit(1);
}
const jobs = Number(values.jobs);
if (!Number.isSafeInteger(jobs) || jobs < 1) {
  console.error(`--jobs must be a positive integer, got ${values.jobs}`);
  process.exit(1);
}
// Paths are relative to the working directory, which the prufed commands run in too.
const outDir = resolve(values.out!);
const workDir = resolve(values.work!);
const { model, data } = values;

/** A path as the commands show it: relative to the working directory when inside it. */
function shown(file: string): string {
  const inside = relative('.', file);
  return inside.startsWith('..') ? file : inside;
}

function log(message: string): void {
  console.error(`[model-report ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

/**
 * Runs `prufed ARGS` in the working directory; resolves with its stdout and wall time. Its stderr
 * (progress bars, which would garble each other with several jobs) is shown only when it fails.
 */
function prufed(args: string[]): Promise<{ stdout: string; seconds: number }> {
  const started = performance.now();
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [join(root, 'packages/cli/bin/prufed.js'), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    child.on('error', fail);
    child.on('close', (code) => {
      if (code === 0) done({ stdout, seconds: (performance.now() - started) / 1000 });
      else fail(new Error(`${commandLine(args)} exited with status ${code}:\n${stderr.slice(-2000)}`));
    });
  });
}

function commandLine(args: string[]): string {
  return `npx prufed ${args.join(' ')}`;
}

/** Runs the jobs, at most `limit` at a time. */
async function runAll(work: (() => Promise<void>)[], limit: number): Promise<void> {
  const queue = [...work];
  await Promise.all(
    Array.from({ length: Math.min(limit, queue.length) }, async () => {
      for (let job = queue.shift(); job !== undefined; job = queue.shift()) await job();
    }),
  );
}

const percent = (x: number) => `${(100 * x).toFixed(1)}`;
const signed = (x: number) => `${x >= 0 ? '+' : '−'}${percent(Math.abs(x))}`;

async function layerReport(): Promise<void> {
  const json = join(outDir, 'layers.json');
  const args = [
    'layer-study',
    ...['--model', model!, '--corpus', `${data}/corpus-valid.txt`, '--keep', '9,6'],
    ...['--calib', `${data}/corpus.txt`, '--calib-lines', '64', '--limit', values['layer-limit']!],
    ...['--json', shown(json)],
  ];
  log(`layer study: ${commandLine(args)}`);
  const before = hardware();
  const { stdout: table, seconds } = await prufed(args);
  const result = JSON.parse(readFileSync(json, 'utf8'));
  const top6 = result.rows.find(
    (r: { strategy: string; keepLayers: number }) => r.strategy === 'top' && r.keepLayers === 6,
  );
  const report = {
    command: commandLine(args),
    hardware: before,
    loadAverageAfter: hardware().loadAverage,
    wallSeconds: seconds,
    result,
  };
  writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(
    join(outDir, 'layers.md'),
    `# Layer study: what pruning costs before fine-tuning

Held-out loss (nats/token) of \`${model}\` on the first ${result.limit ?? 'all'} lines of \`${result.corpus}\`
(${result.tokens} target tokens, rows of 128), for the full model and for the variant each pruning strategy
keeps at 9 and 6 of ${result.numLayers} layers. *vs full* is the change of the loss against the full model.
\`contribution\` and \`angular\` are calibrated on the first ${result.calibLines} lines of \`${result.calib}\`,
never on the held-out text. The unigram entropy of the same tokens is ${result.unigramEntropy.toFixed(3)}.

${table}
Dropping the top half (\`top\`, 6 of ${result.numLayers} kept) raises the loss by ${percent(top6.ratio - 1)}%.

Command (${seconds.toFixed(0)} s wall):

    ${commandLine(args)}

Hardware: ${before.cpu}, ${before.cores} cores, ${before.memoryGiB} GiB, ${before.os}, Node ${before.node};
load average ${before.loadAverage} before, ${report.loadAverageAfter} after.
`,
  );
  log(`layer study done in ${seconds.toFixed(0)} s: top at 6 kept ${percent(top6.ratio - 1)}%`);
}

interface TaskReport {
  task: TaskName;
  metric: 'exactMatch' | 'f1';
  finetuneCommand: string;
  evalCommand: string;
  finetune: {
    firstLoss: number;
    lastLoss: number;
    seconds: number;
    tokensPerSecond: number;
    losses: number[];
  };
  eval: { count: number; loss: number; exactMatch: number; f1: number };
  majority: TaskScores;
  copyPrompt: TaskScores;
  finetuneSeconds: number;
  evalSeconds: number;
}

function records(task: TaskName, split: string) {
  const file = join(data!, task, `${split}.jsonl`);
  return parseTaskJsonl(readFileSync(file, 'utf8'), file);
}

/** The engine flag of the spawned commands: none for the CPU default, so the printed commands stay as before. */
const engineArgs = values.engine === 'cpu' ? [] : ['--engine', values.engine!];

async function taskReport(task: TaskName): Promise<TaskReport> {
  const adapterDir = shown(join(workDir, task));
  const finetuneArgs = [
    'finetune',
    ...['--model', model!, '--task', task, '--steps', values.steps!, '--batch-size', values['batch-size']!],
    ...[
      '--lr',
      values.lr!,
      '--rank',
      values.rank!,
      '--alpha',
      values.alpha!,
      '--seq-len',
      values['seq-len']!,
    ],
    ...['--seed', '0', '--out', adapterDir],
    ...engineArgs,
  ];
  log(`${task}: ${commandLine(finetuneArgs)}`);
  const trained = await prufed(finetuneArgs);
  const finetune = JSON.parse(trained.stdout);
  log(
    `${task}: trained in ${trained.seconds.toFixed(0)} s, loss ${finetune.firstLoss.toFixed(3)} -> ${finetune.lastLoss.toFixed(3)}`,
  );
  const evalArgs = [
    'eval',
    ...['--model', model!, '--adapter', `${adapterDir}/adapter_model.safetensors`, '--task', task],
    ...['--split', 'test', '--limit', values.limit!, '--max-new-tokens', String(maxNewTokens[task])],
    ...(noRepeatNgram[task] > 0 ? ['--block-repeats', String(noRepeatNgram[task])] : []),
    ...engineArgs,
  ];
  log(`${task}: ${commandLine(evalArgs)}`);
  const evaluated = await prufed(evalArgs);
  const scores = JSON.parse(evaluated.stdout);
  const test = records(task, 'test').slice(0, Number(values.limit));
  const report: TaskReport = {
    task,
    metric: primaryMetric[task],
    finetuneCommand: commandLine(finetuneArgs),
    evalCommand: commandLine(evalArgs),
    finetune: {
      firstLoss: finetune.firstLoss,
      lastLoss: finetune.lastLoss,
      seconds: finetune.seconds,
      tokensPerSecond: finetune.tokensPerSecond,
      losses: finetune.losses,
    },
    eval: { count: scores.count, loss: scores.loss, exactMatch: scores.exactMatch, f1: scores.f1 },
    majority: majorityClassBaseline(records(task, 'train'), test),
    copyPrompt: copyPromptBaseline(test),
    finetuneSeconds: trained.seconds,
    evalSeconds: evaluated.seconds,
  };
  const metric = report.metric;
  log(
    `${task}: ${metric} ${percent(report.eval[metric])} (majority ${percent(report.majority[metric])}, ` +
      `copy ${percent(report.copyPrompt[metric])}) in ${evaluated.seconds.toFixed(0)} s`,
  );
  return report;
}

function finetuneMarkdown(reports: TaskReport[], before: Hardware, seconds: number): string {
  const rows = reports.map((r) => {
    const m = r.metric;
    const best = Math.max(r.majority[m], r.copyPrompt[m]);
    return (
      `| ${r.task} | ${metricName[m]} | **${percent(r.eval[m])}** | ${percent(r.majority[m])} | ${percent(r.copyPrompt[m])} | ` +
      `${r.eval[m] > best ? 'yes' : 'no'} (${signed(r.eval[m] - best)}) | ${percent(r.eval.exactMatch)} / ${percent(r.eval.f1)} | ${r.eval.loss.toFixed(3)} | ` +
      `${r.finetune.firstLoss.toFixed(2)} → ${r.finetune.lastLoss.toFixed(2)} | ${r.finetuneSeconds.toFixed(0)} + ${r.evalSeconds.toFixed(0)} |`
    );
  });
  const commands = reports.flatMap((r) => [`    ${r.finetuneCommand}`, `    ${r.evalCommand}`]);
  return `# LoRA fine-tuning of the base model on each WordNet task

\`${model}\`, all layers kept, a fresh LoRA adapter (r ${values.rank}, alpha ${values.alpha}, all seven projections)
trained on the task's train split for a fixed small budget: ${values.steps} AdamW steps of ${values['batch-size']} examples
(lr ${values.lr}, constant; examples cut at ${values['seq-len']} tokens; record order shuffled with seed 0). Scored on the
first ${values.limit} records of the test split by greedy decoding, in percent, beside the two floor baselines on
the same records: the train split's most frequent answer (*majority*) and the word itself (*copy*).

| task | metric | fine-tuned | majority | copy | beats both (points over the better) | EM / F1 | test loss | train loss (first → last tenth) | seconds (train + eval) |
|---|---|---:|---:|---:|---|---:|---:|---|---:|
${rows.join('\n')}

Reproduce the table (the tasks run ${jobs} at a time; the last run took ${(seconds / 60).toFixed(1)} minutes wall):

    npx tsx scripts/model-report.ts --skip-layers --tasks ${reports.map((r) => r.task).join(',')} ${settingsArgs()}

which runs, per task:

${commands.join('\n')}

Hardware: ${before.cpu}, ${before.cores} cores, ${before.memoryGiB} GiB, ${before.os}, Node ${before.node};
load average ${before.loadAverage} at the start. Wall times include other jobs running beside each one.
`;
}

/** The fine-tuning settings as model-report options. */
function settingsArgs(): string {
  return [
    ...['steps', 'batch-size', 'lr', 'rank', 'alpha', 'seq-len', 'limit'].map(
      (k) => `--${k} ${values[k as keyof typeof values]}`,
    ),
    ...engineArgs,
  ].join(' ');
}

/**
 * The task reports of an earlier finetune.json made with the same model (path and weights), data and
 * settings, else none.
 */
function earlierReports(
  file: string,
  settings: Record<string, unknown>,
  inputs: Record<string, string>,
): TaskReport[] {
  if (!existsSync(file)) return [];
  const earlier = JSON.parse(readFileSync(file, 'utf8'));
  const same =
    earlier.model === model &&
    JSON.stringify(earlier.settings) === JSON.stringify(settings) &&
    JSON.stringify(earlier.inputs) === JSON.stringify(inputs);
  return same ? (earlier.tasks as TaskReport[]) : [];
}

async function main(): Promise<void> {
  mkdirSync(outDir, { recursive: true });
  mkdirSync(workDir, { recursive: true });
  const before = hardware();
  const started = performance.now();
  const reports = new Map<TaskName, TaskReport>();
  const work = [
    ...(values['skip-layers'] ? [] : [layerReport]),
    ...tasks.map((task) => async () => {
      reports.set(task, await taskReport(task));
    }),
  ];
  await runAll(work, jobs);
  const seconds = (performance.now() - started) / 1000;
  if (tasks.length > 0) {
    const settings = Object.fromEntries(
      ['steps', 'batch-size', 'lr', 'rank', 'alpha', 'seq-len', 'limit']
        .map((k) => [k, values[k as keyof typeof values]])
        // the engine only where it is not the default, so tables made before the flag stay comparable
        .concat(values.engine === 'cpu' ? [] : [['engine', values.engine]]),
    );
    // Tasks run earlier with the same model and settings stay in the table (a run may cover some
    // tasks, e.g. one task again); other settings start a fresh table.
    const inputs = await studyInputsSha256(model, data, TASKS);
    const earlier = earlierReports(join(outDir, 'finetune.json'), settings, inputs);
    for (const report of earlier) if (!reports.has(report.task)) reports.set(report.task, report);
    const ordered = TASKS.filter((task) => reports.has(task)).map((task) => reports.get(task)!);
    if (earlier.length > 0) log(`kept ${ordered.length - tasks.length} tasks of the earlier finetune.json`);
    writeFileSync(
      join(outDir, 'finetune.json'),
      `${JSON.stringify({ model, inputs, settings, hardware: before, wallSeconds: seconds, tasks: ordered }, null, 2)}\n`,
    );
    writeFileSync(join(outDir, 'finetune.md'), finetuneMarkdown(ordered, before, seconds));
  }
  log(`wrote ${shown(outDir)} in ${(seconds / 60).toFixed(1)} minutes`);
}

await main();
