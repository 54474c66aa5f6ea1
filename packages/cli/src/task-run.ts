// The in-process core of fine-tuning and evaluating on WordNet tasks, shared by `prufed finetune`,
// `prufed eval` and the studies: read a split, run LoRA AdamW steps over a seeded shuffle of
// examples, and score a model on records (response loss, then greedy decoding for the metric).
// Dimension letters: B batch, T tokens.
import path from 'node:path';
import {
  type AdamWConfig,
  defaultAdamW,
  encodeRecord,
  greedyDecode,
  InputError,
  type InstructionExample,
  type InstructionTokenizer,
  type PrufedTokenizer,
  padInstructionBatch,
  parseTaskJsonl,
  promptFor,
  Rng,
  SPLITS,
  scorePredictions,
  shuffleInPlace,
  TASKS,
  type TaskRecord,
  type TrainingEngine,
} from '@prufed/model';
import { readInputText } from './files';

/** The records of a task split (`<data>/<task>/<split>.jsonl`), the first `limit` when given. */
export async function readTaskRecords(
  data: string,
  task: string,
  split: string,
  limit?: number,
): Promise<TaskRecord[]> {
  if (!(TASKS as readonly string[]).includes(task)) {
    throw new InputError(`unknown task "${task}"; use one of ${TASKS.join(', ')}`);
  }
  if (!(SPLITS as readonly string[]).includes(split)) {
    throw new InputError(`unknown split "${split}"; use one of ${SPLITS.join(', ')}`);
  }
  const file = path.join(data, task, `${split}.jsonl`);
  const records = parseTaskJsonl(await readInputText(file, `${split} split`), file).slice(0, limit);
  if (records.length === 0) throw new InputError(`${file} holds no records`);
  return records;
}

export interface LoraTrainOptions {
  steps: number;
  batchSize: number; // B
  lr: number;
  /** Seeds the example order: epoch e visits the examples in a shuffle seeded by (seed, e). */
  seed: number;
}

/**
 * Runs `steps` AdamW steps (constant learning rate) of the engine's loaded adapter on batches of
 * `batchSize` examples, padded to the longest in the batch. Returns each step's loss and the tokens
 * seen (padding included: the work the engine did).
 */
export async function trainLoraSteps(
  engine: TrainingEngine,
  examples: readonly InstructionExample[],
  padId: number,
  options: LoraTrainOptions,
  onStep?: (step: number, loss: number, tokens: number) => void,
): Promise<{ losses: number[]; tokens: number }> {
  if (examples.length === 0) throw new InputError('no training examples');
  const optimizer: AdamWConfig = { ...defaultAdamW, lr: options.lr };
  const rng = new Rng(options.seed);
  let order: number[] = [];
  let epoch = 0;
  const nextIndex = (): number => {
    if (order.length === 0)
      order = shuffleInPlace(
        examples.map((_, i) => i),
        rng.fork(`epoch-${epoch++}`),
      );
    return order.pop()!;
  };
  const losses: number[] = [];
  let tokens = 0;
  for (let step = 0; step < options.steps; step++) {
    const chunk = Array.from({ length: options.batchSize }, () => examples[nextIndex()]);
    const padded = padInstructionBatch(chunk, padId);
    const result = await engine.trainStep(
      { batchSize: padded.batch, seqLen: padded.tokens, inputIds: padded.inputIds, labels: padded.labels },
      optimizer,
    );
    losses.push(result.loss);
    tokens += padded.batch * padded.tokens;
    onStep?.(step, result.loss, tokens);
  }
  return { losses, tokens };
}

export interface TaskScoreOptions {
  /** Records per loss forward pass. */
  batchSize: number;
  /** Greedy decoding stops at eos or after this many tokens; 0 skips decoding (loss only). */
  maxNewTokens: number;
  /** Most tokens of prompt + response (the model's context). */
  maxLength: number;
  /** Greedy decoding never repeats an n-gram of its answer; 0 or absent: off. */
  noRepeatNgram?: number;
}

export interface TaskRunScores {
  count: number;
  /** Mean cross-entropy of the reference responses (and eos) given the prompts, nats/token. */
  loss: number;
  /** Exact match and token F1 of the greedy predictions; NaN when decoding was skipped. */
  exactMatch: number;
  f1: number;
  predictions: string[];
}

/**
 * Scores the engine's current model on the records: the response loss in batches, then (unless
 * maxNewTokens is 0) one greedy decode per record. `onProgress` counts records: loss pass first,
 * then decoding (2 x records in all).
 */
export async function scoreTask(
  engine: TrainingEngine,
  tokenizer: InstructionTokenizer & Pick<PrufedTokenizer, 'decode'>,
  records: readonly TaskRecord[],
  options: TaskScoreOptions,
  onProgress?: (done: number) => void,
): Promise<TaskRunScores> {
  let sum = 0;
  let tokens = 0;
  let done = 0;
  for (let start = 0; start < records.length; start += options.batchSize) {
    const chunk = records.slice(start, start + options.batchSize);
    const padded = padInstructionBatch(
      chunk.map((record) => encodeRecord(tokenizer, record, options.maxLength)),
      tokenizer.padId,
    );
    const result = await engine.evaluateLoss({
      batchSize: padded.batch,
      seqLen: padded.tokens,
      inputIds: padded.inputIds,
      labels: padded.labels,
    });
    if (result.tokens > 0) {
      sum += result.loss * result.tokens;
      tokens += result.tokens;
    }
    done += chunk.length;
    onProgress?.(done);
  }
  const loss = sum / tokens;
  if (options.maxNewTokens === 0) {
    return { count: records.length, loss, exactMatch: Number.NaN, f1: Number.NaN, predictions: [] };
  }
  const predictions: string[] = [];
  const bos = tokenizer.bosId === undefined ? [] : [tokenizer.bosId];
  for (const record of records) {
    const prompt = [...bos, ...tokenizer.encode(promptFor(record))];
    const generated = await greedyDecode(
      engine,
      prompt,
      options.maxNewTokens,
      tokenizer.eosId,
      options.maxLength,
      { noRepeatNgram: options.noRepeatNgram },
    );
    predictions.push(tokenizer.decode(generated, { skipSpecialTokens: true }).trim());
    onProgress?.(++done);
  }
  const scores = scorePredictions(records, predictions);
  return { count: scores.count, loss, exactMatch: scores.exactMatch, f1: scores.f1, predictions };
}
