// The federated study (issue #8, after the paper's Algorithm 1): simulated rounds with headless
// clients in process, using the server's strategy code (@prufed/fl) and the CLI's engines, on
// non-IID (Dirichlet) shards of the five WordNet tasks. One run is one way of federating the same
// clients and data:
//   hetero-heteagg   clients spread over the tiers' depths, HeteAgg (the paper);
//   hetero-fedadam   the same with a server-side Adam step on the HeteAgg mean (beyond the paper);
//   hetero-product   the same averaging the products B A and re-factoring them (beyond the paper);
//   homo-<d>         every client at depth d, FedAvg (the paper's baselines).
// Every round each sampled client receives the PEFT bytes of its slice of the global adapter, trains
// it with fresh AdamW state and sends back PEFT bytes, which the strategy aggregates as the server
// does; then the new global is scored (validation loss) at every depth the run trains. After the last
// round the global is scored on the test split (greedy decoding). Finished rounds go to a journal and
// each run's global to a checkpoint, so a killed study resumes with the result it would have had.
// Dimension letters: R LoRA rank.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  type ClientInfo,
  type FitResult,
  fedAvg,
  heteAgg,
  heteAggProduct,
  readPeftUpdate,
  type ServerState,
  type StrategyOptions,
  type StreamingStrategy,
  sliceAdapter,
  type Tier,
  tiers,
  withFedAdam,
} from '@prufed/fl';
import {
  adapterFromPeft,
  adapterToPeft,
  ConfigError,
  encodeRecord,
  type InstructionExample,
  initLoraAdapter,
  instructionTokenizer,
  type LoraAdapter,
  loadTokenizer,
  loraModules,
  type PruningStrategy,
  partition,
  Rng,
  TASKS,
  type TaskName,
  type TaskRecord,
  type TrainingEngine,
} from '@prufed/model';
import { readModelDir } from '@prufed/model/node';
import { createEngine } from '../engines';
import { prune } from '../prune';
import { readTaskRecords, scoreTask, trainLoraSteps } from '../task-run';
import { studyInputsSha256 } from './inputs-hash';
import { Journal } from './journal';
import { maxNewTokens, noRepeatNgram, primaryMetric } from './tasks';

export const heteroRuns = ['hetero-heteagg', 'hetero-fedadam', 'hetero-product'] as const;

export interface FlStudyConfig {
  model: string;
  data: string;
  /** WordNet tasks whose shards the clients hold and on which the globals are scored. */
  tasks: TaskName[];
  clients: number;
  /** Dirichlet concentration of the shards (small: few lexicographer categories per client). */
  alpha: number;
  /** Kept layers of tiers a, b, c (1 to 3 depths, deepest first). */
  depths: number[];
  pruning: PruningStrategy;
  /** Calibration text of the contribution and angular strategies. */
  calib?: string;
  rounds: number;
  fraction: number;
  localSteps: number;
  batchSize: number;
  lr: number;
  rank: number; // R
  loraAlpha: number;
  /** Most tokens per example. */
  seqLen: number;
  seeds: number[];
  /** First validation records per task scored after every round (loss only). */
  valLimit: number;
  /** First test records per task scored after the last round (loss and greedy decoding). */
  testLimit: number;
  /** Runs to do: hetero-heteagg, hetero-fedadam, hetero-product, homo-<depth>. */
  runs: string[];
}

/** Loss per task at one depth; `mean` over the tasks. */
export type TaskLosses = Partial<Record<TaskName, number>> & { mean: number };

export interface RoundCell {
  run: string;
  seed: number;
  round: number;
  /** The aggregation strategy's name (heteagg, fedavg, fedadam(heteagg), heteagg-product). */
  strategy: string;
  /** Sampled clients and their depth. */
  clients: { id: string; depth: number }[];
  /** Sample-weighted mean training loss the clients reported. */
  trainLoss: number;
  /** PEFT safetensors bytes of the slices sent and of the updates returned. */
  bytesDown: number;
  bytesUp: number;
  /** Validation loss of the new global at each depth the run trains, keyed by depth. */
  valLoss: Record<string, TaskLosses>;
  /** FedAdam moments saved with this round's checkpoint: name and length, in file order. */
  serverState: { name: string; length: number }[];
  seconds: number;
  /** CPU seconds of this process in the round: the cost on an idle core when the machine is loaded. */
  cpuSeconds: number;
}

export interface TestScore {
  loss: number;
  /** The task's primary metric (tasks.ts): exact match or token F1. */
  metric: number;
}

export interface FinalCell {
  run: string;
  seed: number;
  /** Keyed by depth, then task; `mean` averages the tasks. */
  test: Record<string, Partial<Record<TaskName, TestScore>> & { mean: TestScore }>;
  seconds: number;
  cpuSeconds: number;
}

type Cell = ({ kind: 'round' } & RoundCell) | ({ kind: 'final' } & FinalCell);

export interface FlStudyResult {
  config: FlStudyConfig;
  /** Original layers each depth keeps. */
  layers: Record<string, number[]>;
  rounds: RoundCell[];
  finals: FinalCell[];
}

export interface FlProgress {
  /** Units done and in all: one per round and one per final evaluation of each (run, seed). */
  done: number;
  total: number;
  /** Units done by this process (not restored from the journal), for the ETA. */
  doneHere: number;
  label: string;
}

export interface FlStudyOptions {
  /** Journal and checkpoints. */
  work: string;
  fresh?: boolean;
  onProgress?: (progress: FlProgress) => void;
  /** Sees every client update as the strategy receives it (tests, diagnostics). */
  onClientUpdate?: (update: ClientUpdate) => void;
}

export interface ClientUpdate {
  run: string;
  seed: number;
  round: number;
  result: FitResult;
  /** PEFT bytes of the slice the client received and of the update it returned. */
  bytesDown: number;
  bytesUp: number;
}

export function runNames(depths: readonly number[]): string[] {
  return [...heteroRuns, ...depths.map((depth) => `homo-${depth}`)];
}

/** Checks a study configuration; a ConfigError says what to change. */
export function checkFlConfig(config: FlStudyConfig): void {
  const { depths, clients, runs } = config;
  if (depths.length < 1 || depths.length > tiers.length) {
    throw new ConfigError(
      `--tiers needs 1 to ${tiers.length} depths (one per tier a, b, c), got [${depths}]`,
    );
  }
  if (new Set(depths).size !== depths.length) throw new ConfigError(`--tiers repeats a depth: [${depths}]`);
  if (clients < depths.length) {
    throw new ConfigError(`--clients (${clients}) must be at least the number of tiers (${depths.length})`);
  }
  const known = runNames(depths);
  const unknown = runs.filter((run) => !known.includes(run));
  if (unknown.length > 0 || runs.length === 0) {
    throw new ConfigError(`--runs: unknown run(s) [${unknown}]; use some of ${known.join(', ')}`);
  }
  for (const [name, value] of [
    ['--rounds', config.rounds],
    ['--local-steps', config.localSteps],
    ['--batch-size', config.batchSize],
    ['--rank', config.rank],
    ['--limit', config.testLimit],
    ['--val-limit', config.valLimit],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new ConfigError(`${name} must be an integer >= 1, got ${value}`);
    }
  }
  if (config.seeds.length === 0) throw new ConfigError('--seeds is empty; give e.g. 0,1');
  if (config.tasks.length === 0) throw new ConfigError(`--tasks is empty; give some of ${TASKS.join(',')}`);
}

/** Depth of each client, round-robin over the tiers: client i is on tier i mod (number of tiers). */
export function clientDepth(depths: readonly number[], client: number): number {
  return depths[client % depths.length];
}

function clientId(client: number): string {
  return `client-${String(client).padStart(3, '0')}`;
}

function strategyOf(run: string, options: StrategyOptions): StreamingStrategy {
  if (run === 'hetero-heteagg') return heteAgg(options);
  if (run === 'hetero-fedadam') return withFedAdam(heteAgg(options));
  if (run === 'hetero-product') return heteAggProduct(options);
  return fedAvg(options);
}

/** Depths a run trains (and is scored at). */
function runDepths(run: string, depths: readonly number[]): number[] {
  return run.startsWith('homo-') ? [Number(run.slice('homo-'.length))] : [...depths];
}

/** CPU seconds (user + system) of this process since `since`. */
function cpuSince(since: NodeJS.CpuUsage): number {
  const { user, system } = process.cpuUsage(since);
  return (user + system) / 1e6;
}

function mean(values: readonly number[]): number {
  return values.reduce((sum, x) => sum + x, 0) / values.length;
}

/** Runs (or resumes) the study and returns every round's and every final evaluation's record. */
export async function runFlStudy(config: FlStudyConfig, options: FlStudyOptions): Promise<FlStudyResult> {
  checkFlConfig(config);
  const checkpoints = path.join(options.work, 'checkpoints');
  if (options.fresh) rmSync(checkpoints, { recursive: true, force: true });
  // Seeds and runs only choose cells (each cell is keyed by run and seed), so they stay out of the
  // journal's configuration: a study extended with another seed or run keeps what it has, and
  // processes that run different seeds can share one work directory.
  // The inputs' hashes join it too: a re-exported model or rebuilt dataset never mixes with old cells.
  const inputs = await studyInputsSha256(config.model, config.data, config.tasks);
  const journal = Journal.open<Cell>(
    path.join(options.work, 'journal.jsonl'),
    { ...config, seeds: undefined, runs: undefined, ...inputs, noRepeatNgram },
    options.fresh,
  );
  mkdirSync(checkpoints, { recursive: true });

  const { config: modelConfig, weights, tokenizerJson } = await readModelDir(config.model);
  if (tokenizerJson === undefined) {
    throw new ConfigError(
      `${config.model} has no tokenizer.json, which the study needs to tokenise the tasks`,
    );
  }
  const L = modelConfig.numHiddenLayers;
  const tooDeep = config.depths.find((depth) => depth > L);
  if (tooDeep !== undefined) {
    throw new ConfigError(`--tiers depth ${tooDeep} exceeds the model's ${L} layers; use depths <= ${L}`);
  }
  const instruction = instructionTokenizer(loadTokenizer(tokenizerJson), config.model);
  const maxLength = Math.min(config.seqLen, modelConfig.maxPositionEmbeddings);
  const layers: Record<string, number[]> = {};
  for (const depth of config.depths) {
    layers[depth] = await prune({
      model: config.model,
      strategy: config.pruning,
      keepLayers: depth,
      calib: config.calib,
    });
  }
  const allLayers = Array.from({ length: L }, (_, i) => i);
  const lora = { r: config.rank, alpha: config.loraAlpha, targetModules: [...loraModules] };
  // What a client knows of the adapter besides the bytes (the round config); its layers come from the tensors.
  const peftConfig = {
    peft_type: 'LORA',
    r: lora.r,
    lora_alpha: lora.alpha,
    target_modules: lora.targetModules,
  };

  const train = new Map<TaskName, TaskRecord[]>();
  const validation = new Map<TaskName, TaskRecord[]>();
  const test = new Map<TaskName, TaskRecord[]>();
  for (const task of config.tasks) {
    train.set(task, await readTaskRecords(config.data, task, 'train'));
    validation.set(task, await readTaskRecords(config.data, task, 'validation', config.valLimit));
    test.set(task, await readTaskRecords(config.data, task, 'test', config.testLimit));
  }
  /** Each client's examples: its Dirichlet shard of every task's train split (a seed's partition). */
  const shardsOf = (seed: number): InstructionExample[][] => {
    const shards: InstructionExample[][] = Array.from({ length: config.clients }, () => []);
    config.tasks.forEach((task) => {
      const records = train.get(task)!;
      const parts = partition(records, {
        clients: config.clients,
        scheme: 'dirichlet',
        alpha: config.alpha,
        seed: seed * TASKS.length + TASKS.indexOf(task),
      });
      parts.forEach((indices, client) => {
        for (const i of indices) shards[client].push(encodeRecord(instruction, records[i], maxLength));
      });
    });
    return shards;
  };

  const engines = new Map<number, TrainingEngine>();
  const engineAt = async (depth: number): Promise<TrainingEngine> => {
    let engine = engines.get(depth);
    if (!engine) {
      engine = await createEngine('cpu');
      await engine.loadVariant(weights, { keptLayers: layers[depth] });
      engines.set(depth, engine);
    }
    return engine;
  };

  async function validationLoss(global: LoraAdapter, depth: number): Promise<TaskLosses> {
    const engine = await engineAt(depth);
    await engine.setAdapter(sliceAdapter(global, layers[depth]));
    const losses: TaskLosses = { mean: Number.NaN };
    for (const task of config.tasks) {
      const scores = await scoreTask(engine, instruction, validation.get(task)!, {
        batchSize: 16,
        maxNewTokens: 0,
        maxLength,
      });
      losses[task] = scores.loss;
    }
    losses.mean = mean(config.tasks.map((task) => losses[task]!));
    return losses;
  }

  const strategyOptions: StrategyOptions = {
    sampling: { fraction: config.fraction, minClients: 1, maxClients: config.clients },
    train: {
      localSteps: config.localSteps,
      batchSize: config.batchSize,
      learningRate: config.lr,
      seqLen: maxLength,
    },
    minResults: 1,
    acceptFailures: true,
  };
  const runs = config.runs;
  const total = runs.length * config.seeds.length * (config.rounds + 1);
  const wanted = (cell: Cell) => runs.includes(cell.run) && config.seeds.includes(cell.seed);
  let done = journal.values().filter(wanted).length;
  let doneHere = 0;
  const step = (label: string) => {
    done++;
    doneHere++;
    options.onProgress?.({ done, total, doneHere, label });
  };
  options.onProgress?.({ done, total, doneHere, label: 'resuming' });

  try {
    for (const seed of config.seeds) {
      let shards: InstructionExample[][] | null = null;
      for (const run of runs) {
        const depthsOfRun = runDepths(run, config.depths);
        const depthOf = (client: number) =>
          run.startsWith('homo-') ? depthsOfRun[0] : clientDepth(config.depths, client);
        const ready: ClientInfo[] = Array.from({ length: config.clients }, (_, client) => {
          const depth = depthOf(client);
          const tier: Tier = tiers[config.depths.indexOf(depth)];
          return { id: clientId(client), tier, keptLayers: layers[depth] };
        });
        const indexOf = new Map(ready.map((client, i) => [client.id, i]));
        const strategy = strategyOf(run, strategyOptions);
        const checkpoint = (round: number) => path.join(checkpoints, `${run}-s${seed}-r${round}`);
        const key = (round: number | 'final') =>
          `${run}/s${seed}/${round === 'final' ? 'final' : `r${round}`}`;

        let first = 1;
        while (first <= config.rounds && journal.has(key(first))) first++;
        if (first > config.rounds && journal.has(key('final'))) continue;
        let global: LoraAdapter;
        if (first === 1) {
          global = initLoraAdapter(modelConfig, lora, allLayers, seed);
        } else {
          const cell = journal.get(key(first - 1)) as RoundCell;
          global = readCheckpoint(checkpoint(first - 1), peftConfig, strategy, cell.serverState);
        }
        for (let round = first; round <= config.rounds; round++) {
          const started = performance.now();
          const cpuStarted = process.cpuUsage();
          shards ??= shardsOf(seed);
          const rng = new Rng(seed).fork(`round ${round}`); // as the coordinator draws a round
          const plan = strategy.configureRound(round, ready, rng)!;
          const aggregation = strategy.openRound(round, global);
          let bytesDown = 0;
          let bytesUp = 0;
          for (const { client, train: trainConfig, seed: clientSeed } of plan.assignments) {
            const down = adapterToPeft(sliceAdapter(global, client.keptLayers)).safetensors;
            const engine = await engineAt(depthOf(indexOf.get(client.id)!));
            await engine.setAdapter(adapterFromPeft(down, peftConfig)); // fresh AdamW state
            const { losses } = await trainLoraSteps(
              engine,
              shards[indexOf.get(client.id)!],
              instruction.padId,
              {
                steps: trainConfig.localSteps,
                batchSize: trainConfig.batchSize,
                lr: trainConfig.learningRate,
                seed: clientSeed,
              },
            );
            const up = adapterToPeft(await engine.readAdapter()).safetensors;
            const read = readPeftUpdate(up, global, client.keptLayers);
            if (!read.ok) throw new Error(`simulated client ${client.id} sent a bad update: ${read.reason}`);
            bytesDown += down.byteLength;
            bytesUp += up.byteLength;
            // Weighted as browsers and `prufed volunteer` weight their updates: examples seen.
            const result: FitResult = {
              clientId: client.id,
              numSamples: trainConfig.localSteps * trainConfig.batchSize,
              adapter: read.adapter,
              metrics: { loss: mean(losses) },
            };
            aggregation.addResult(result);
            options.onClientUpdate?.({
              run,
              seed,
              round,
              result,
              bytesDown: down.byteLength,
              bytesUp: up.byteLength,
            });
          }
          const output = aggregation.finish()!;
          global = output.global;
          const valLoss: Record<string, TaskLosses> = {};
          for (const depth of depthsOfRun) valLoss[depth] = await validationLoss(global, depth);
          const serverState = writeCheckpoint(checkpoint(round), global, strategy.serverState());
          journal.add(key(round), {
            kind: 'round',
            run,
            seed,
            round,
            strategy: strategy.name,
            clients: plan.assignments.map(({ client }) => ({
              id: client.id,
              depth: depthOf(indexOf.get(client.id)!),
            })),
            trainLoss: output.metrics.clientMetrics.loss,
            bytesDown,
            bytesUp,
            valLoss,
            serverState,
            seconds: (performance.now() - started) / 1000,
            cpuSeconds: cpuSince(cpuStarted),
          });
          removeCheckpoint(checkpoint(round - 1));
          step(`${run} seed ${seed} round ${round}`);
        }
        if (!journal.has(key('final'))) {
          const started = performance.now();
          const cpuStarted = process.cpuUsage();
          const scores: FinalCell['test'] = {};
          for (const depth of depthsOfRun) {
            const engine = await engineAt(depth);
            await engine.setAdapter(sliceAdapter(global, layers[depth]));
            const byTask: FinalCell['test'][string] = { mean: { loss: Number.NaN, metric: Number.NaN } };
            for (const task of config.tasks) {
              const result = await scoreTask(engine, instruction, test.get(task)!, {
                batchSize: 16,
                maxNewTokens: maxNewTokens[task],
                maxLength,
                noRepeatNgram: noRepeatNgram[task],
              });
              byTask[task] = { loss: result.loss, metric: result[primaryMetric[task]] };
            }
            byTask.mean = {
              loss: mean(config.tasks.map((task) => byTask[task]!.loss)),
              metric: mean(config.tasks.map((task) => byTask[task]!.metric)),
            };
            scores[depth] = byTask;
          }
          journal.add(key('final'), {
            kind: 'final',
            run,
            seed,
            test: scores,
            seconds: (performance.now() - started) / 1000,
            cpuSeconds: cpuSince(cpuStarted),
          });
          step(`${run} seed ${seed} test`);
        }
      }
    }
  } finally {
    for (const engine of engines.values()) engine.dispose();
  }

  const cells = journal.values();
  return {
    config,
    layers,
    rounds: cells.filter(
      (cell): cell is { kind: 'round' } & RoundCell => cell.kind === 'round' && wanted(cell),
    ),
    finals: cells.filter(
      (cell): cell is { kind: 'final' } & FinalCell => cell.kind === 'final' && wanted(cell),
    ),
  };
}

/**
 * Writes the global (PEFT safetensors) and the server state (float64, in the returned order) of a
 * round, each file complete before it gets its name.
 */
function writeCheckpoint(
  base: string,
  global: LoraAdapter,
  state: ServerState,
): { name: string; length: number }[] {
  const atomic = (file: string, bytes: Uint8Array) => {
    writeFileSync(`${file}.tmp`, bytes);
    renameSync(`${file}.tmp`, file);
  };
  atomic(`${base}.safetensors`, adapterToPeft(global).safetensors);
  const layout = [...state].map(([name, values]) => ({ name, length: values.length }));
  const values = new Float64Array(layout.reduce((sum, entry) => sum + entry.length, 0));
  let offset = 0;
  for (const [, array] of state) {
    values.set(array, offset);
    offset += array.length;
  }
  if (values.length > 0) atomic(`${base}.state.bin`, new Uint8Array(values.buffer));
  return layout;
}

function readCheckpoint(
  base: string,
  peftConfig: unknown,
  strategy: StreamingStrategy,
  layout: { name: string; length: number }[],
): LoraAdapter {
  const file = `${base}.safetensors`;
  if (!existsSync(file)) {
    throw new ConfigError(
      `the journal records this round but its checkpoint ${file} is missing; rerun with --fresh`,
    );
  }
  const global = adapterFromPeft(readFileSync(file), peftConfig);
  const state: ServerState = new Map();
  if (layout.length > 0) {
    const bytes = readFileSync(`${base}.state.bin`);
    const values = new Float64Array(new Uint8Array(bytes).buffer); // copied: aligned
    let offset = 0;
    for (const { name, length } of layout) {
      state.set(name, values.slice(offset, offset + length));
      offset += length;
    }
  }
  strategy.restoreServerState(state);
  return global;
}

function removeCheckpoint(base: string): void {
  rmSync(`${base}.safetensors`, { force: true });
  rmSync(`${base}.state.bin`, { force: true });
}
