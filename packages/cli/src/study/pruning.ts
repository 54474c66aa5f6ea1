// The pruning study (issue #8, the paper's first study): for every pruning strategy and kept depth,
// and for every WordNet task, the test metric and response loss of the pruned variant before any
// fine-tuning and after a fixed LoRA budget, over several seeds, beside the unpruned model. Config
// in, results out; every finished cell goes to a journal first, so an interrupted study resumes.
//
// Cost control, all visible in the result: strategies that keep the same layers share one variant
// (computed once, reported for each); before-fine-tuning numbers do not depend on the seed (one cell
// per variant and task, a fresh adapter has B = 0); with `adapter: 'multi-task'` ONE adapter per
// (variant, seed) trains on a seeded shuffle of all tasks' train splits, with 'per-task' one per task.
// Dimension letters: B batch, T tokens, R LoRA rank.
import {
  copyPromptBaseline,
  encodeRecord,
  InputError,
  type InstructionExample,
  initLoraAdapter,
  instructionTokenizer,
  type LoraModule,
  loadTokenizer,
  majorityClassBaseline,
  type PruningStrategy,
  type TaskName,
  type TaskRecord,
  type TaskScores,
  type TrainingEngine,
} from '@prufed/model';
import { readModelDir } from '@prufed/model/node';
import { createEngine } from '../engines';
import { layerRanges } from '../layer-study';
import { prune } from '../prune';
import { readTaskRecords, scoreTask, trainLoraSteps } from '../task-run';
import { withCalibrationHead } from './calibration';
import { studyInputsSha256 } from './inputs-hash';
import { Journal } from './journal';
import { maxNewTokens, noRepeatNgram, primaryMetric } from './tasks';

export type AdapterScope = 'multi-task' | 'per-task';

/** Everything that changes the numbers; the journal refuses to mix runs of different configs. */
export interface PruningStudyConfig {
  model: string;
  data: string;
  strategies: PruningStrategy[];
  /** Kept depths, e.g. [9, 6]. */
  keep: number[];
  tasks: TaskName[];
  seeds: number[];
  /** LoRA budget per adapter: AdamW steps of batchSize examples at a constant lr. */
  steps: number;
  batchSize: number; // B
  lr: number;
  rank: number; // R
  alpha: number;
  targets: LoraModule[];
  adapter: AdapterScope;
  /** Score the first `limit` test records of each task. */
  limit: number;
  /** Most tokens of prompt + response. */
  seqLen: number; // T at most
  /** Calibration text of contribution and angular, and how many of its lines they use. */
  calib: string;
  calibLines: number;
  engine: string;
}

export interface Scores {
  /** Mean response cross-entropy, nats/token. */
  loss: number;
  exactMatch: number;
  f1: number;
  /** The task's primary metric (exact match or token F1). */
  metric: number;
}

/** A finished unit of work, as the journal stores it. */
export type StudyCell =
  | { kind: 'select'; strategy: PruningStrategy; keepLayers: number; keptLayers: number[] }
  | { kind: 'before'; keptLayers: number[]; task: TaskName; scores: Scores; seconds: number }
  | {
      kind: 'after';
      keptLayers: number[];
      seed: number;
      /** The tasks the adapter trained on (all of them for a multi-task adapter). */
      trainedOn: TaskName[];
      /** Training loss of every step. */
      losses: number[];
      scores: Partial<Record<TaskName, Scores>>;
      trainSeconds: number;
      seconds: number;
    };

export interface Spread {
  mean: number;
  /** Sample standard deviation (n - 1); 0 for a single value. */
  std: number;
  values: number[];
}

export interface TaskResult {
  before: Scores;
  /** Over seeds, in config.seeds order. */
  after: { metric: Spread; loss: Spread; exactMatch: Spread; f1: Spread };
}

export interface StudyRow {
  /** 'full' is the unpruned reference. */
  strategy: PruningStrategy | 'full';
  keepLayers: number;
  keptLayers: number[];
  /** Other strategies at this depth that keep exactly the same layers (their numbers are shared). */
  sameAs: PruningStrategy[];
  tasks: Partial<Record<TaskName, TaskResult>>;
}

export interface PruningStudyResult {
  config: PruningStudyConfig;
  numLayers: number;
  /** Distinct variants actually run (the unpruned model included). */
  variants: number[][];
  rows: StudyRow[];
  baselines: Partial<
    Record<TaskName, { metric: 'exactMatch' | 'f1'; majority: TaskScores; copyPrompt: TaskScores }>
  >;
  /** Every cell, in the order they ran or were resumed. */
  cells: StudyCell[];
  /** Cells computed by this call (the rest came from the journal). */
  computed: number;
  seconds: number;
}

export interface StudyProgress {
  /** Cells finished (resumed ones included) and all cells. */
  done: number;
  total: number;
  /**
   * The same weighted by each cell's estimated seconds (cellSeconds with the run's cost model; one per
   * cell without one): cells differ a hundredfold, so an ETA should count these.
   */
  workDone: number;
  workTotal: number;
  /** What runs now, e.g. "after 0-8 seed 1: step 12/60". */
  activity: string;
}

export interface PruningStudyRun {
  /** The journal file (JSONL) that makes the study resumable. */
  journal: string;
  /** Forget the journal's cells and start over. */
  fresh?: boolean;
  /** Called before and after every cell and during training; for progress bars. */
  onProgress?: (progress: StudyProgress) => void;
  /** Called once the variants are known, before any engine work: for a time estimate. */
  onPlan?: (plan: {
    numLayers: number;
    variants: number[][];
    done: number;
    total: number;
    /** As in StudyProgress: estimated seconds of the resumed cells and of all cells. */
    workDone: number;
    workTotal: number;
  }) => void;
  /** The engine to run on; default createEngine(config.engine). Tests count its work. */
  createEngine?: () => Promise<TrainingEngine>;
  /** Weighs the cells for StudyProgress's work figures. */
  cost?: CostModel;
}

/** Mean and sample standard deviation. */
export function meanAndSpread(values: number[]): Spread {
  if (values.length === 0) return { mean: Number.NaN, std: Number.NaN, values };
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance =
    values.length < 2 ? 0 : values.reduce((sum, x) => sum + (x - mean) ** 2, 0) / (values.length - 1);
  return { mean, std: Math.sqrt(variance), values };
}

/**
 * Ranks of the scores, 1 for the highest; tied scores share the mean of the ranks they span
 * ([0.5, 0.7, 0.5] -> [2.5, 1, 2.5]).
 */
export function ranksDescending(scores: number[]): number[] {
  return scores.map((score) => {
    const higher = scores.filter((s) => s > score).length;
    const tied = scores.filter((s) => s === score).length;
    return higher + (tied + 1) / 2;
  });
}

function validate(config: PruningStudyConfig, numLayers: number): void {
  const lists = {
    strategies: config.strategies,
    keep: config.keep,
    tasks: config.tasks,
    seeds: config.seeds,
  };
  for (const [name, list] of Object.entries(lists)) {
    if (list.length === 0) throw new InputError(`--${name} is empty; give at least one`);
  }
  const badDepth = config.keep.find((k) => !Number.isInteger(k) || k < 1 || k > numLayers);
  if (badDepth !== undefined) {
    throw new InputError(
      `cannot keep ${badDepth} of the model's ${numLayers} layers; use --keep in 1..${numLayers}`,
    );
  }
  for (const [name, value] of [
    ['--steps', config.steps],
    ['--batch-size', config.batchSize],
    ['--rank', config.rank],
    ['--limit', config.limit],
  ] as const) {
    if (!Number.isInteger(value) || value < 1)
      throw new InputError(`${name} must be a positive integer, got ${value}`);
  }
}

/** The groups of tasks one adapter trains on. */
function trainingGroups(config: PruningStudyConfig): TaskName[][] {
  return config.adapter === 'multi-task' ? [config.tasks] : config.tasks.map((task) => [task]);
}

function scoresOf(task: TaskName, s: { loss: number; exactMatch: number; f1: number }): Scores {
  return { loss: s.loss, exactMatch: s.exactMatch, f1: s.f1, metric: s[primaryMetric[task]] };
}

export async function runPruningStudy(
  config: PruningStudyConfig,
  run: PruningStudyRun,
): Promise<PruningStudyResult> {
  const started = performance.now();
  const { config: model, tokenizerJson } = await readModelDir(config.model, []);
  const numLayers = model.numHiddenLayers;
  validate(config, numLayers);
  if (tokenizerJson === undefined) {
    throw new InputError(
      `${config.model} has no tokenizer.json, which the study needs to tokenise the tasks`,
    );
  }
  const tokenizer = instructionTokenizer(loadTokenizer(tokenizerJson), config.model);
  const maxLength = Math.min(config.seqLen, model.maxPositionEmbeddings);
  // The inputs' hashes join the journal's configuration: a re-exported model or rebuilt dataset
  // never mixes with old cells.
  const inputs = await studyInputsSha256(config.model, config.data, config.tasks);
  // Cells are keyed by kept layers (and seed), not by strategy: seeds and strategies stay out of the
  // journal's configuration, so a study extended with either, or split across processes by strategy,
  // keeps every finished cell.
  const journal = Journal.open<StudyCell>(
    run.journal,
    { ...config, seeds: undefined, strategies: undefined, ...inputs, noRepeatNgram },
    run.fresh,
  );
  const cells: StudyCell[] = [];
  let computed = 0;
  const record = (key: string, cell: StudyCell): StudyCell => {
    journal.add(key, cell);
    computed++;
    return cell;
  };

  // Which layers each strategy keeps at each depth (calibration runs only if some cell needs it).
  const selectKey = (strategy: PruningStrategy, k: number) => `select|${strategy}|${k}`;
  const selections = new Map<string, number[]>();
  const chooseAll = async (calibFile?: string) => {
    for (const keepLayers of config.keep) {
      for (const strategy of config.strategies) {
        const key = selectKey(strategy, keepLayers);
        let cell = journal.get(key);
        if (cell === undefined) {
          const keptLayers = await prune({ model: config.model, strategy, keepLayers, calib: calibFile });
          cell = record(key, { kind: 'select', strategy, keepLayers, keptLayers });
        }
        if (cell.kind !== 'select')
          throw new InputError(`journal cell ${key} is not a selection; use --fresh`);
        cells.push(cell);
        selections.set(key, cell.keptLayers);
      }
    }
  };
  const calibrated = config.strategies.some((s) => s === 'contribution' || s === 'angular');
  const allSelected = config.keep.every((k) => config.strategies.every((s) => journal.has(selectKey(s, k))));
  if (calibrated && !allSelected) await withCalibrationHead(config.calib, config.calibLines, chooseAll);
  else await chooseAll();

  const full = Array.from({ length: numLayers }, (_, i) => i);
  const variants = [full];
  for (const layers of selections.values()) {
    if (!variants.some((v) => v.join() === layers.join())) variants.push(layers);
  }

  const test = new Map<TaskName, TaskRecord[]>();
  const train = new Map<TaskName, TaskRecord[]>();
  for (const task of config.tasks) {
    test.set(task, await readTaskRecords(config.data, task, 'test', config.limit));
    train.set(task, await readTaskRecords(config.data, task, 'train'));
  }
  const groups = trainingGroups(config);
  const beforeKey = (layers: number[], task: TaskName) => `before|${layerRanges(layers)}|${task}`;
  const afterKey = (layers: number[], seed: number, group: TaskName[]) =>
    `after|${layerRanges(layers)}|${seed}|${group.join('+')}`;
  const variantKeys = (layers: number[]) => [
    ...config.tasks.map((task) => beforeKey(layers, task)),
    ...config.seeds.flatMap((seed) => groups.map((group) => afterKey(layers, seed, group))),
  ];
  const total = variants.reduce((sum, layers) => sum + variantKeys(layers).length, 0);
  let done = variants.reduce(
    (sum, layers) => sum + variantKeys(layers).filter((k) => journal.has(k)).length,
    0,
  );
  // every cell's weight for the progress figures, keyed like the journal
  const cellCost = run.cost === undefined ? undefined : cellSeconds(config, numLayers, run.cost);
  const work = new Map<string, number>();
  for (const layers of variants) {
    for (const task of config.tasks) work.set(beforeKey(layers, task), cellCost?.before(layers, task) ?? 1);
    for (const seed of config.seeds) {
      for (const group of groups)
        work.set(afterKey(layers, seed, group), cellCost?.after(layers, group) ?? 1);
    }
  }
  const workTotal = [...work.values()].reduce((a, b) => a + b, 0);
  let workDone = [...work].reduce((sum, [key, w]) => sum + (journal.has(key) ? w : 0), 0);
  const finished = (key: string) => {
    done++;
    workDone += work.get(key)!;
  };
  const progress = (activity: string) => run.onProgress?.({ done, total, workDone, workTotal, activity });
  run.onPlan?.({ numLayers, variants, done, total, workDone, workTotal });

  // Tokenised once per training group, on first use (a resumed study may need none).
  const encoded = new Map<string, InstructionExample[]>();
  const examplesOf = (group: TaskName[]) => {
    const key = group.join('+');
    let examples = encoded.get(key);
    if (examples === undefined) {
      examples = group.flatMap((task) => train.get(task)!.map((r) => encodeRecord(tokenizer, r, maxLength)));
      encoded.set(key, examples);
    }
    return examples;
  };
  const lora = { r: config.rank, alpha: config.alpha, targetModules: config.targets };
  const score = async (engine: TrainingEngine, task: TaskName, activity: string) => {
    const records = test.get(task)!;
    const scores = await scoreTask(
      engine,
      tokenizer,
      records,
      {
        batchSize: config.batchSize,
        maxNewTokens: maxNewTokens[task],
        maxLength,
        noRepeatNgram: noRepeatNgram[task],
      },
      (n) => progress(`${activity}: ${task} ${n}/${2 * records.length}`),
    );
    return scoresOf(task, scores);
  };

  const engine = await (run.createEngine ?? (() => createEngine(config.engine)))();
  try {
    for (const layers of variants) {
      const label = layerRanges(layers);
      const pending = variantKeys(layers).filter((k) => !journal.has(k));
      if (pending.length > 0) {
        progress(`loading ${label}`);
        const { weights } = await readModelDir(config.model, layers);
        await engine.loadVariant(weights, { keptLayers: weights.layers });
      }
      for (const task of config.tasks) {
        const key = beforeKey(layers, task);
        let cell = journal.get(key);
        if (cell === undefined) {
          const cellStarted = performance.now();
          await engine.setAdapter(initLoraAdapter(model, lora, layers, 0)); // B = 0: the base model
          const scores = await score(engine, task, `before ${label}`);
          cell = record(key, {
            kind: 'before',
            keptLayers: layers,
            task,
            scores,
            seconds: (performance.now() - cellStarted) / 1000,
          });
          finished(key);
          progress(`before ${label}: ${task} done`);
        }
        cells.push(cell);
      }
      for (const seed of config.seeds) {
        for (const group of groups) {
          const key = afterKey(layers, seed, group);
          let cell = journal.get(key);
          if (cell === undefined) {
            const cellStarted = performance.now();
            const activity = `after ${label} seed ${seed}`;
            const examples = examplesOf(group);
            await engine.setAdapter(initLoraAdapter(model, lora, layers, seed));
            const { losses } = await trainLoraSteps(
              engine,
              examples,
              tokenizer.padId,
              { steps: config.steps, batchSize: config.batchSize, lr: config.lr, seed },
              (step, loss) =>
                progress(`${activity}: step ${step + 1}/${config.steps} loss ${loss.toFixed(3)}`),
            );
            const trainSeconds = (performance.now() - cellStarted) / 1000;
            const scores: Partial<Record<TaskName, Scores>> = {};
            for (const task of group) scores[task] = await score(engine, task, activity);
            cell = record(key, {
              kind: 'after',
              keptLayers: layers,
              seed,
              trainedOn: group,
              losses,
              scores,
              trainSeconds,
              seconds: (performance.now() - cellStarted) / 1000,
            });
            finished(key);
            progress(`${activity} done`);
          }
          cells.push(cell);
        }
      }
    }
  } finally {
    engine.dispose();
  }

  const result = aggregate(config, numLayers, cells);
  const baselines: PruningStudyResult['baselines'] = {};
  for (const task of config.tasks) {
    baselines[task] = {
      metric: primaryMetric[task],
      majority: majorityClassBaseline(train.get(task)!, test.get(task)!),
      copyPrompt: copyPromptBaseline(test.get(task)!),
    };
  }
  return {
    config,
    numLayers,
    variants,
    rows: result,
    baselines,
    cells,
    computed,
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * The table's rows from the cells: the unpruned model first, then every strategy at every depth
 * (depth-major), each task's before scores and the mean and spread of its after scores over seeds.
 */
export function aggregate(config: PruningStudyConfig, numLayers: number, cells: StudyCell[]): StudyRow[] {
  const selections = cells.filter((c) => c.kind === 'select');
  const befores = cells.filter((c) => c.kind === 'before');
  const afters = cells.filter((c) => c.kind === 'after');
  const full = Array.from({ length: numLayers }, (_, i) => i);
  const rowOf = (strategy: StudyRow['strategy'], keepLayers: number, keptLayers: number[]): StudyRow => {
    const same = (layers: number[]) => layers.join() === keptLayers.join();
    const tasks: StudyRow['tasks'] = {};
    for (const task of config.tasks) {
      const before = befores.find((c) => c.task === task && same(c.keptLayers));
      const runs = config.seeds.map((seed) => {
        const cell = afters.find(
          (c) => c.seed === seed && same(c.keptLayers) && c.scores[task] !== undefined,
        );
        if (cell === undefined) {
          throw new InputError(
            `no fine-tuning result for ${task} on layers ${layerRanges(keptLayers)}, seed ${seed}`,
          );
        }
        return cell.scores[task]!;
      });
      if (before === undefined) {
        throw new InputError(`no before-fine-tuning result for ${task} on layers ${layerRanges(keptLayers)}`);
      }
      const over = (field: keyof Scores) => meanAndSpread(runs.map((s) => s[field]));
      tasks[task] = {
        before: before.scores,
        after: { metric: over('metric'), loss: over('loss'), exactMatch: over('exactMatch'), f1: over('f1') },
      };
    }
    const sameAs = selections
      .filter((c) => c.keepLayers === keepLayers && c.strategy !== strategy && same(c.keptLayers))
      .map((c) => c.strategy);
    return { strategy, keepLayers, keptLayers, sameAs, tasks };
  };
  const rows = [rowOf('full', numLayers, full)];
  for (const keepLayers of config.keep) {
    for (const strategy of config.strategies) {
      const selection = selections.find((c) => c.strategy === strategy && c.keepLayers === keepLayers);
      if (selection === undefined)
        throw new InputError(`no layer selection for ${strategy} at ${keepLayers}`);
      rows.push(rowOf(strategy, keepLayers, selection.keptLayers));
    }
  }
  return rows;
}

/** Seconds the CPU engine spends, measured on this repo's reference machine (see the report). */
export interface CostModel {
  /** One training example (forward + backward) through all L layers of the model. */
  trainExample: number;
  /** One scored test record's loss pass through all L layers. */
  lossRecord: number;
  /** One greedy-decoded token through all L layers. */
  decodeToken: number;
}

/**
 * Estimated seconds of one cell: scoring a task before fine-tuning, or training a group and scoring it,
 * assuming a variant's work scales with its depth and greedy decoding runs to the task's max new tokens.
 */
export function cellSeconds(config: PruningStudyConfig, numLayers: number, cost: CostModel) {
  const evalSeconds = (task: TaskName) =>
    config.limit * (cost.lossRecord + maxNewTokens[task] * cost.decodeToken);
  const trainSeconds = config.steps * config.batchSize * cost.trainExample;
  return {
    before: (layers: number[], task: TaskName) => (evalSeconds(task) * layers.length) / numLayers,
    after: (layers: number[], group: TaskName[]) =>
      ((group.reduce((sum, task) => sum + evalSeconds(task), 0) + trainSeconds) * layers.length) / numLayers,
  };
}
