// Pretrains PruFed's own base model (prufed-tiny: a 12-layer LLaMA with grouped-query attention) on
// the WordNet gloss corpus with the project's own engines (all parameters; scripts/pretrain/backend.ts):
// the WebGPU engine in Node where Dawn finds an adapter (a GPU, or a software one such as SwiftShader)
// and it is the faster, else the CPU engine, data-parallel over worker threads; then exports a Hugging
// Face checkpoint with a model card. Checkpoints every 60 s of training (--checkpoint-seconds, or
// --checkpoint-every N steps) and on Ctrl-C; resumes from the last one by default. Usage:
//   npm run pretrain -- [--fresh] [--max-steps N] [--total-steps N] [--engine auto|cpu|webgpu]
//                       [--workers 2] [--batch 4] [--out .prufed/pretrain]
//   npm run pretrain -- --export      (write public/models/prufed-tiny from the checkpoint)
// The npm script runs `node --import tsx`, not the tsx CLI: tsx relays Ctrl-C to a child whose event
// loop is busy (a GPU step) and then kills it before the checkpoint is saved.
// --repeat-lines F packs a seeded share F of the lines twice in a row (copying from the context then
// pays off); it is kept in the checkpoint, and changing it on resume changes the epoch length.
// --copy-rows F replaces a share F of each batch's rows by synthetic copy rows (copyRow), which
// teach in-context copying (induction heads); the corpus rows they replace are skipped, not delayed.
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  type AdamWConfig,
  type Batch,
  distinctRun,
  InputError,
  type LlamaConfig,
  loadTokenizer,
  ordinaryTokenRange,
  type PrufedTokenizer,
  packedBatch,
  packLines,
  Rng,
  randomLlamaWeights,
  shuffleInPlace,
} from '@prufed/model';
import { SingleBar } from 'cli-progress';
import { createBackend, flatLayout, PRETRAIN_ENGINES, type PretrainEngine } from './pretrain/backend';
import {
  type Checkpoint,
  loadCheckpoint,
  type PretrainOptions,
  type PretrainState,
  saveCheckpoint,
  sittingFlags,
} from './pretrain/checkpoint';
import { exportModel } from './pretrain/export';

const root = resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    out: { type: 'string', default: join(root, '.prufed/pretrain') },
    'model-out': { type: 'string', default: join(root, 'public/models/prufed-tiny') },
    tokenizer: { type: 'string', default: join(root, 'public/models/prufed-tiny/tokenizer.json') },
    corpus: { type: 'string', default: join(root, 'public/datasets/wordnet/corpus.txt') },
    valid: { type: 'string', default: join(root, 'public/datasets/wordnet/corpus-valid.txt') },
    fresh: { type: 'boolean', default: false },
    export: { type: 'boolean', default: false },
    'max-steps': { type: 'string' },
    'total-steps': { type: 'string' },
    workers: { type: 'string', default: '2' },
    engine: { type: 'string', default: 'auto' },
    'checkpoint-every': { type: 'string' }, // steps; default: every 60 s of training
    'checkpoint-seconds': { type: 'string', default: '60' },
    'eval-every': { type: 'string', default: '100' },
    layers: { type: 'string', default: '12' },
    hidden: { type: 'string', default: '128' },
    heads: { type: 'string', default: '4' },
    'kv-heads': { type: 'string', default: '2' },
    ffn: { type: 'string', default: '384' },
    'seq-len': { type: 'string', default: '128' },
    batch: { type: 'string', default: '4' },
    epochs: { type: 'string', default: '1' },
    lr: { type: 'string', default: '3e-3' },
    seed: { type: 'string', default: '0' },
    'repeat-lines': { type: 'string' },
    'copy-rows': { type: 'string' },
  },
});

function numberOption(name: keyof typeof values, integer = true): number {
  const x = Number(values[name]);
  if (!Number.isFinite(x) || x < 0 || (integer && !Number.isSafeInteger(x))) {
    console.error(`--${name} must be a non-negative ${integer ? 'integer' : 'number'}, got ${values[name]}`);
    process.exit(1);
  }
  return x;
}

const outDir = resolve(values.out!);
const checkpointFile = join(outDir, 'checkpoint.safetensors');
const logFile = join(outDir, 'log.jsonl');
const numWorkers = Math.max(1, numberOption('workers'));
const engineName = values.engine as PretrainEngine;
if (!PRETRAIN_ENGINES.includes(engineName)) {
  console.error(`--engine must be one of ${PRETRAIN_ENGINES.join(', ')}, got ${values.engine}`);
  process.exit(1);
}

function readTokenizer(): { tokenizer: PrufedTokenizer; json: unknown } {
  if (!existsSync(values.tokenizer!)) {
    console.error(`${values.tokenizer} does not exist; train it first with 'npm run tokenizer'`);
    process.exit(1);
  }
  const json = JSON.parse(readFileSync(values.tokenizer!, 'utf8'));
  const tokenizer = loadTokenizer(json);
  if (tokenizer.bosId === undefined || tokenizer.eosId === undefined) {
    console.error(`${values.tokenizer} lacks <|bos|> or <|eos|>; retrain it with 'npm run tokenizer'`);
    process.exit(1);
  }
  return { tokenizer, json };
}

function readLines(file: string, tokenizer: PrufedTokenizer): number[][] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => tokenizer.encode(line, { addSpecialTokens: false }));
}

function modelConfig(options: PretrainOptions, tokenizer: PrufedTokenizer): LlamaConfig {
  return {
    hiddenSize: options.hidden,
    intermediateSize: options.ffn,
    numHiddenLayers: options.layers,
    numAttentionHeads: options.heads,
    numKeyValueHeads: options.kvHeads,
    headDim: options.hidden / options.heads,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    vocabSize: tokenizer.vocabSize,
    maxPositionEmbeddings: 256,
    tieWordEmbeddings: true,
    bosTokenId: tokenizer.bosId,
    eosTokenId: tokenizer.eosId,
  };
}

/**
 * GPT-2 initialisation: normal(0, 0.02), with the projections that write into the residual stream
 * (o_proj, down_proj) scaled by 1/sqrt(2L) so the stream's variance does not grow with depth.
 */
function initialParams(config: LlamaConfig, seed: number): Float32Array {
  const weights = randomLlamaWeights(config, { seed, std: 0.02 });
  const layout = flatLayout(config);
  const params = new Float32Array(layout.reduce((n, e) => n + e.size, 0));
  for (const { name, offset } of layout) {
    const data = weights.tensors.get(name)!.data;
    const scale = /o_proj|down_proj/.test(name) ? 1 / Math.sqrt(2 * config.numHiddenLayers) : 1;
    for (let i = 0; i < data.length; i++) params[offset + i] = scale * data[i];
  }
  return params;
}

function freshCheckpoint(tokenizer: PrufedTokenizer, rowsPerEpoch: number): Checkpoint {
  const options: PretrainOptions = {
    layers: numberOption('layers'),
    hidden: numberOption('hidden'),
    heads: numberOption('heads'),
    kvHeads: numberOption('kv-heads'),
    ffn: numberOption('ffn'),
    seqLen: numberOption('seq-len'),
    batch: numberOption('batch'),
    epochs: numberOption('epochs', false),
    lr: numberOption('lr', false),
    minLrRatio: 0.1,
    warmupSteps: 0,
    weightDecay: 0.1,
    seed: numberOption('seed'),
  };
  const config = modelConfig(options, tokenizer);
  const totalSteps = Math.max(1, Math.floor((options.epochs * rowsPerEpoch) / options.batch));
  options.warmupSteps = Math.min(100, Math.ceil(totalSteps * 0.05));
  const params = initialParams(config, options.seed);
  const state: PretrainState = {
    format: 'prufed-pretrain-checkpoint',
    version: 1,
    options,
    config,
    step: 0,
    totalSteps,
    epoch: 0,
    row: 0,
    rowsPerEpoch,
    tokensSeen: 0,
    wallSeconds: 0,
    hardware: '', // the first sitting's, set when its engine starts
  };
  return { state, params, m: new Float32Array(params.length), v: new Float32Array(params.length) };
}

/** Linear warm-up, then cosine decay to minLrRatio * lr at the last step. */
function learningRate(options: PretrainOptions, step: number, totalSteps: number): number {
  if (step < options.warmupSteps) return (options.lr * (step + 1)) / options.warmupSteps;
  const progress = (step - options.warmupSteps) / Math.max(1, totalSteps - options.warmupSteps);
  const cosine = 0.5 * (1 + Math.cos(Math.PI * Math.min(1, progress)));
  return options.lr * (options.minLrRatio + (1 - options.minLrRatio) * cosine);
}

/**
 * The packing units: each line, or for a seeded share `fraction` of them the line twice
 * (`line <|eos|> <|bos|> line`, which packLines wraps in <|bos|> ... <|eos|>). The same lines every epoch.
 */
function repeatedLines(lines: number[][], fraction: number, seed: number, bosId: number, eosId: number) {
  if (!(fraction >= 0 && fraction <= 1)) {
    console.error(`--repeat-lines must be a share between 0 and 1, got ${fraction}`);
    process.exit(1);
  }
  const rng = new Rng(seed).fork('repeat-lines');
  return lines.map((line) => (rng.uniform() < fraction ? [...line, eosId, bosId, ...line] : line));
}

/** Shortest and longest run of a synthetic copy row. */
const copyRun = { min: 8, max: 24 };

/**
 * A synthetic copy row of T tokens: <|bos|>, then runs of random distinct ids from [low, high) each
 * shown twice, to the row's end. Targets are the second showings' tokens after their first (the
 * first showing and the first token of a repeat cannot be predicted); the rest is -100.
 */
function copyRow(rng: Rng, T: number, low: number, high: number, bosId: number) {
  const inputIds = new Int32Array(T).fill(bosId);
  const labels = new Int32Array(T).fill(-100);
  let t = 1;
  while (t < T) {
    const length = copyRun.min + Math.floor(rng.uniform() * (copyRun.max - copyRun.min + 1));
    const run = distinctRun(rng, length, low, high);
    [...run, ...run].forEach((id, k) => {
      if (t + k >= T) return;
      inputIds[t + k] = id;
      if (k > length) labels[t + k] = id;
    });
    t += 2 * length;
  }
  return { inputIds, labels };
}

/** The packed stream of epoch e: the lines in the order of a shuffle seeded by (seed, e). */
function epochStream(
  lines: number[][],
  seed: number,
  epoch: number,
  T: number,
  bosId: number,
  eosId: number,
) {
  const order = shuffleInPlace(
    lines.map((_, i) => i),
    new Rng(seed).fork(`epoch-${epoch}`),
  );
  return packLines(
    order.map((i) => lines[i]),
    bosId,
    eosId,
    T,
  );
}

async function main(): Promise<void> {
  const { tokenizer, json: tokenizerJson } = readTokenizer();
  const bosId = tokenizer.bosId!;
  const eosId = tokenizer.eosId!;
  if (values.export) {
    if (!existsSync(checkpointFile)) {
      console.error(`${checkpointFile} does not exist; run 'npm run pretrain' first`);
      process.exit(1);
    }
    await exportModel(
      loadCheckpoint(checkpointFile),
      values['model-out']!,
      tokenizerJson,
      values.valid!,
      logFile,
      numWorkers,
    );
    return;
  }
  mkdirSync(outDir, { recursive: true });
  if (values.fresh) {
    rmSync(checkpointFile, { force: true });
    rmSync(logFile, { force: true });
  }
  const started = performance.now();
  const corpusLines = readLines(values.corpus!, tokenizer);
  const validLines = readLines(values.valid!, tokenizer);
  const resumed = existsSync(checkpointFile) ? loadCheckpoint(checkpointFile) : undefined;
  const seqLen = resumed?.state.options.seqLen ?? numberOption('seq-len');
  const repeatLines =
    values['repeat-lines'] === undefined
      ? (resumed?.state.options.repeatLines ?? 0)
      : numberOption('repeat-lines', false);
  const seed = resumed?.state.options.seed ?? numberOption('seed');
  const lines = repeatedLines(corpusLines, repeatLines, seed, bosId, eosId);
  const copyRows =
    values['copy-rows'] === undefined
      ? (resumed?.state.options.copyRows ?? 0)
      : numberOption('copy-rows', false);
  if (copyRows > 1) {
    console.error(`--copy-rows must be a share between 0 and 1, got ${copyRows}`);
    process.exit(1);
  }
  const copyTokens = ordinaryTokenRange(tokenizer);
  // every epoch packs the same tokens, so it holds the same number of rows
  const rowsPerEpoch = packLines(lines, bosId, eosId, seqLen).length / seqLen;
  const checkpoint = resumed ?? freshCheckpoint(tokenizer, rowsPerEpoch);
  const { state } = checkpoint;
  const { options, config } = state;
  if (repeatLines > 0 || options.repeatLines !== undefined) options.repeatLines = repeatLines;
  if (copyRows > 0 || options.copyRows !== undefined) options.copyRows = copyRows;
  if (values['total-steps'] !== undefined) {
    // shortens (or lengthens) the schedule of a resumed run; the cosine decay rescales to it
    state.totalSteps = Math.max(state.step, numberOption('total-steps'));
  }
  const T = options.seqLen;
  const B = options.batch;
  console.log(
    `${state.step === 0 ? 'starting' : `resuming at step ${state.step} from ${checkpointFile}`}: ` +
      `${config.numHiddenLayers} layers, C ${config.hiddenSize}, NH ${config.numAttentionHeads}, NKV ${config.numKeyValueHeads}, ` +
      `F ${config.intermediateSize}, V ${config.vocabSize}, ${checkpoint.params.length} parameters; ` +
      `${rowsPerEpoch} rows of ${T} tokens per epoch${repeatLines > 0 ? ` (${repeatLines} of the lines twice)` : ''}${copyRows > 0 ? `, ${copyRows} of the rows synthetic copy rows` : ''}, B ${B}, ${state.totalSteps} steps ` +
      `(tokenised in ${((performance.now() - started) / 1000).toFixed(1)} s)`,
  );
  const maxSteps =
    values['max-steps'] === undefined
      ? state.totalSteps
      : Math.min(state.totalSteps, numberOption('max-steps'));

  let stream = epochStream(lines, options.seed, state.epoch, T, bosId, eosId);
  let streamEpoch = state.epoch;
  /** The batch of a step: rows step * B onwards, those past an epoch's end from the next epoch's stream. */
  const batchAt = (step: number): Batch => {
    const inputIds = new Int32Array(B * T);
    const labels = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      const global = step * B + b;
      const [epoch, row] = [Math.floor(global / rowsPerEpoch), global % rowsPerEpoch];
      if (epoch !== streamEpoch) {
        stream = epochStream(lines, options.seed, epoch, T, bosId, eosId);
        streamEpoch = epoch;
      }
      // the seeded draw of (step, row) decides whether this row is a synthetic copy row
      const draw = new Rng(options.seed).fork(`copy-${step}-${b}`);
      const one =
        draw.uniform() < copyRows
          ? copyRow(draw, T, copyTokens.low, copyTokens.high, bosId)
          : packedBatch(stream, [row], T, bosId);
      inputIds.set(one.inputIds, b * T);
      labels.set(one.labels, b * T);
    }
    return { batchSize: B, seqLen: T, inputIds, labels };
  };

  const chosen = await createBackend(
    engineName,
    config,
    checkpoint,
    numWorkers,
    batchAt(state.step),
    console.log,
  ).catch((error: unknown) => {
    if (!(error instanceof InputError)) throw error;
    console.error(error.message);
    process.exit(1);
  });
  if (chosen.trial !== undefined) {
    const { webgpu, cpu } = chosen.trial;
    console.log(`one gradient computation: WebGPU ${webgpu.toFixed(2)} s, CPU engine ${cpu.toFixed(2)} s`);
  } else if (chosen.fallback !== undefined) {
    console.log(`WebGPU unavailable (${chosen.fallback}); using the CPU engine`);
  }
  console.log(`engine: ${chosen.hardware}`);
  const backend = chosen.backend;
  state.hardware ||= chosen.hardware;
  const validStream = packLines(validLines, bosId, eosId, T);
  const validRows = Array.from({ length: Math.min(32, validStream.length / T) }, (_, i) => i);
  const validLoss = async () => {
    let sum = 0;
    let tokens = 0;
    for (let start = 0; start < validRows.length; start += 8) {
      const result = await backend.loss(
        packedBatch(validStream, validRows.slice(start, start + 8), T, bosId),
      );
      sum += result.loss * result.tokens;
      tokens += result.tokens;
    }
    return sum / tokens;
  };

  state.sittings ??= [];
  const sitting = {
    fromStep: state.step,
    toStep: state.step,
    flags: sittingFlags(process.argv.slice(2)),
    hardware: chosen.hardware,
  };
  state.sittings.push(sitting);
  let lastSave = performance.now();
  const save = async () => {
    sitting.toStep = state.step;
    await backend.sync();
    saveCheckpoint(checkpointFile, checkpoint);
    lastSave = performance.now();
  };
  let stopping = false;
  let interruptedAt = 0;
  process.on('SIGINT', () => {
    // one Ctrl-C can arrive twice: from the terminal to the whole process group, and relayed by tsx
    if (stopping && performance.now() - interruptedAt > 1000) process.exit(130);
    if (stopping) return;
    stopping = true;
    interruptedAt = performance.now();
    console.error('\ninterrupted: saving a checkpoint after this step (press Ctrl-C again to quit at once)');
  });

  const bar = new SingleBar({
    format: 'pretrain {bar} {value}/{total} steps | loss {loss} | {tps} tok/s | ETA {eta_formatted}',
    etaBuffer: 20,
  });
  bar.start(state.totalSteps, state.step, { loss: '-', tps: '-' });
  let tokensPerSecond = 0; // moving average
  // every --checkpoint-every steps where given, else every --checkpoint-seconds (a GPU step is 50 ms, a CPU one 0.4 s)
  const everySteps =
    values['checkpoint-every'] === undefined ? null : Math.max(1, numberOption('checkpoint-every'));
  const everyMs = 1000 * numberOption('checkpoint-seconds', false);
  const checkpointDue = () =>
    everySteps !== null ? state.step % everySteps === 0 : performance.now() - lastSave >= everyMs;
  while (state.step < maxSteps && !stopping) {
    const stepStart = performance.now();
    const lr = learningRate(options, state.step, state.totalSteps);
    const adamw: AdamWConfig = {
      lr,
      beta1: 0.9,
      beta2: 0.95,
      eps: 1e-8,
      weightDecay: options.weightDecay,
      maxGradNorm: 1,
    };
    const { loss, tokens, gradNorm } = await backend.step(batchAt(state.step), adamw, state.step + 1);
    state.step++;
    const next = state.step * B;
    state.epoch = Math.floor(next / rowsPerEpoch);
    state.row = next % rowsPerEpoch;
    state.tokensSeen += B * T;
    const now = performance.now();
    state.wallSeconds += (now - stepStart) / 1000;
    const record: Record<string, number> = {
      step: state.step,
      loss,
      lr,
      gradNorm,
      tokens,
      seconds: (now - stepStart) / 1000,
      wallSeconds: state.wallSeconds,
      epoch: next / rowsPerEpoch,
    };
    if (state.step % numberOption('eval-every') === 0 || state.step === state.totalSteps) {
      const evalStart = performance.now();
      record.validLoss = await validLoss();
      state.wallSeconds += (performance.now() - evalStart) / 1000;
    }
    appendFileSync(logFile, `${JSON.stringify(record)}\n`);
    if (checkpointDue() || state.step === maxSteps) await save();
    const stepRate = (B * T) / ((now - stepStart) / 1000);
    tokensPerSecond = tokensPerSecond === 0 ? stepRate : 0.9 * tokensPerSecond + 0.1 * stepRate;
    bar.update(state.step, { loss: loss.toFixed(3), tps: tokensPerSecond.toFixed(0) });
  }
  bar.stop();
  if (stopping) await save();
  console.log(`step ${state.step}/${state.totalSteps}; checkpoint ${checkpointFile}; log ${logFile}`);
  await backend.close();
  if (state.step === state.totalSteps) {
    await exportModel(checkpoint, values['model-out']!, tokenizerJson, values.valid!, logFile, numWorkers);
  }
}

await main();
