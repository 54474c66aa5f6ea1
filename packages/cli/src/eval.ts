import {
  InputError,
  instructionTokenizer,
  loadTokenizer,
  type PrufedTokenizer,
  packedLoss,
  packLines,
  SPLITS,
  TASKS,
  type TrainingEngine,
  unigramEntropy,
} from '@prufed/model';
import { readModelDir } from '@prufed/model/node';
import { SingleBar } from 'cli-progress';
import { Command, Option } from 'commander';
import { parseCount, parseCountList } from './args';
import { createEngine, engineNames } from './engines';
import { readInputText, readPeftAdapter } from './files';
import { prune } from './prune';
import { readTaskRecords, scoreTask } from './task-run';

export interface EvalOptions {
  model: string;
  adapter?: string;
  /** Kept original layer indices; undefined: --strategy, else all layers. */
  keep?: number[];
  strategy?: string;
  keepLayers?: number;
  calib?: string;
  task?: string;
  split: string;
  data: string;
  limit?: number;
  corpus?: string;
  seqLen: number;
  batchSize: number;
  maxNewTokens: number;
  /** Greedy decoding never repeats an n-gram of its answer (0 or absent: off). */
  blockRepeats?: number;
  engine: string;
  /** Include every record's greedy prediction in the result. */
  predictions?: boolean;
}

export interface TaskEvalResult {
  model: string;
  keptLayers: number[];
  adapter: string | null;
  task: string;
  split: string;
  count: number;
  /** Mean cross-entropy of the reference responses (and eos) given the prompts, nats/token. */
  loss: number;
  perplexity: number;
  exactMatch: number;
  f1: number;
  /** With --predictions: each record's input, reference and greedy prediction. */
  predictions?: { input: string; output: string; prediction: string }[];
}

export interface CorpusEvalResult {
  model: string;
  keptLayers: number[];
  adapter: string | null;
  corpus: string;
  tokens: number;
  loss: number;
  perplexity: number;
  /** Entropy of the unigram distribution of the same target tokens, nats/token. */
  unigramEntropy: number;
  /** loss / unigramEntropy: below 1 when the model uses context. */
  lossToUnigram: number;
}

/** Which layers to keep: --keep, or --strategy with --keep-layers, or all. */
async function keptLayersOf(options: EvalOptions): Promise<number[] | undefined> {
  if (options.keep !== undefined && options.strategy !== undefined) {
    throw new InputError('give either --keep or --strategy with --keep-layers, not both');
  }
  if (options.strategy === undefined) return options.keep;
  if (options.keepLayers === undefined) {
    throw new InputError(`--strategy ${options.strategy} needs --keep-layers K (how many layers to keep)`);
  }
  return prune({
    model: options.model,
    strategy: options.strategy,
    keepLayers: options.keepLayers,
    calib: options.calib,
  });
}

function progressBar(what: string): SingleBar {
  return new SingleBar({ format: `${what} {bar} {value}/{total} | ETA {eta_formatted}` });
}

async function evalTask(
  engine: TrainingEngine,
  tokenizer: PrufedTokenizer,
  maxLength: number,
  options: EvalOptions & { task: string },
): Promise<Omit<TaskEvalResult, 'model' | 'keptLayers' | 'adapter'>> {
  const records = await readTaskRecords(options.data, options.task, options.split, options.limit);
  const bar = progressBar(`${options.task} ${options.split}`);
  bar.start(2 * records.length, 0);
  try {
    const scores = await scoreTask(
      engine,
      instructionTokenizer(tokenizer),
      records,
      {
        batchSize: options.batchSize,
        maxNewTokens: options.maxNewTokens,
        maxLength,
        noRepeatNgram: options.blockRepeats,
      },
      (done) => bar.update(done),
    );
    return {
      task: options.task,
      split: options.split,
      count: scores.count,
      loss: scores.loss,
      perplexity: Math.exp(scores.loss),
      exactMatch: scores.exactMatch,
      f1: scores.f1,
      ...(options.predictions
        ? {
            predictions: records.map((record, i) => ({
              input: record.input,
              output: record.output,
              prediction: scores.predictions[i],
            })),
          }
        : {}),
    };
  } finally {
    bar.stop();
  }
}

async function evalCorpus(
  engine: TrainingEngine,
  tokenizer: PrufedTokenizer,
  options: EvalOptions & { corpus: string },
): Promise<Omit<CorpusEvalResult, 'model' | 'keptLayers' | 'adapter'>> {
  const { bosId, eosId } = tokenizer;
  if (bosId === undefined || eosId === undefined) {
    throw new InputError(
      "corpus evaluation packs lines as <|bos|> line <|eos|>, but the model's tokenizer.json lacks a bos or eos token",
    );
  }
  const T = options.seqLen;
  const lines = (await readInputText(options.corpus, 'corpus'))
    .split('\n')
    .filter((line) => line.length > 0)
    .slice(0, options.limit)
    .map((line) => tokenizer.encode(line, { addSpecialTokens: false }));
  const stream = packLines(lines, bosId, eosId, T);
  const bar = progressBar('corpus rows');
  bar.start(stream.length / T, 0);
  try {
    const { loss, tokens } = await packedLoss(engine, stream, T, bosId, options.batchSize, (rows) =>
      bar.update(rows),
    );
    const entropy = unigramEntropy(stream, T, bosId);
    return {
      corpus: options.corpus,
      tokens,
      loss,
      perplexity: Math.exp(loss),
      unigramEntropy: entropy,
      lossToUnigram: loss / entropy,
    };
  } finally {
    bar.stop();
  }
}

export async function evaluate(options: EvalOptions): Promise<TaskEvalResult | CorpusEvalResult> {
  if ((options.task === undefined) === (options.corpus === undefined)) {
    throw new InputError('give either --task T (with --split) or --corpus FILE');
  }
  const kept = await keptLayersOf(options);
  const { config, weights, tokenizerJson } = await readModelDir(options.model, kept);
  if (tokenizerJson === undefined) {
    throw new InputError(`${options.model} has no tokenizer.json, which evaluation needs to tokenise text`);
  }
  const tokenizer = loadTokenizer(tokenizerJson);
  const engine = await createEngine(options.engine);
  try {
    await engine.loadVariant(weights, { keptLayers: weights.layers });
    if (options.adapter !== undefined) await engine.setAdapter(await readPeftAdapter(options.adapter));
    const head = { model: options.model, keptLayers: weights.layers, adapter: options.adapter ?? null };
    if (options.corpus !== undefined) {
      return { ...head, ...(await evalCorpus(engine, tokenizer, { ...options, corpus: options.corpus })) };
    }
    const task = options.task!;
    return {
      ...head,
      ...(await evalTask(engine, tokenizer, config.maxPositionEmbeddings, { ...options, task })),
    };
  } finally {
    engine.dispose();
  }
}

export function evalCommand(): Command {
  return new Command('eval')
    .description(
      'evaluate a (pruned, adapted) model: loss, perplexity and greedy exact match / token F1 on a task split, ' +
        'or loss against unigram entropy on held-out text (--corpus); prints JSON',
    )
    .requiredOption('--model <dir>', 'Hugging Face LLaMA checkpoint directory with tokenizer.json')
    .option('--adapter <file>', 'PEFT adapter_model.safetensors (adapter_config.json beside it)')
    .option(
      '--keep <layers>',
      'original indices of the kept layers, e.g. 0,1,2 (default: all)',
      parseCountList,
    )
    .option('--strategy <name>', 'choose the kept layers with a pruning strategy (with --keep-layers)')
    .option('--keep-layers <k>', 'number of layers the strategy keeps', parseCount)
    .option('--calib <file>', 'calibration text for the contribution and angular strategies')
    .addOption(new Option('--task <name>', 'WordNet task').choices([...TASKS]))
    .addOption(new Option('--split <name>', 'task split').choices([...SPLITS]).default('test'))
    .option('--data <dir>', 'dataset directory', 'public/datasets/wordnet')
    .option('--corpus <file>', 'held-out text, one line per sample: corpus mode')
    .option('--limit <n>', 'evaluate only the first n records (or corpus lines)', parseCount)
    .option('--seq-len <t>', 'corpus mode: tokens per packed row', parseCount, 128)
    .option('--batch-size <b>', 'rows per forward pass', parseCount, 8)
    .option('--max-new-tokens <n>', 'greedy decoding: most tokens generated per answer', parseCount, 32)
    .option(
      '--block-repeats <n>',
      'greedy decoding: never repeat an n-gram of the answer (Hugging Face no_repeat_ngram_size; 0: off)',
      parseCount,
      0,
    )
    .option('--predictions', "task mode: include each record's greedy prediction in the JSON")
    .addOption(new Option('--engine <name>', 'training engine').choices(engineNames).default('cpu'))
    .action(async (options: EvalOptions) => {
      process.stdout.write(`${JSON.stringify(await evaluate(options), null, 2)}\n`);
    });
}
