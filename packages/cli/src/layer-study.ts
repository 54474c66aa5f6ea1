// `prufed layer-study`: how much each pruning strategy costs before any fine-tuning. Evaluates the
// loss on held-out text of the full model and of the variant every strategy chooses at each depth,
// and prints a Markdown table (loss and change against the full model); --json also writes the
// numbers. contribution and angular are calibrated on the first lines of a calibration text, which
// should not be the held-out text.
import { writeFile } from 'node:fs/promises';
import { InputError, type PruningStrategy, pruningStrategies } from '@prufed/model';
import { readModelDir } from '@prufed/model/node';
import { Command, Option } from 'commander';
import { parseCount, parseCountList, parseNameList } from './args';
import { engineNames } from './engines';
import { type CorpusEvalResult, evaluate } from './eval';
import { prune } from './prune';
import { withCalibrationHead } from './study/calibration';

export interface LayerStudyOptions {
  model: string;
  corpus: string;
  /** Numbers of kept layers to study, e.g. [9, 6]. */
  keep: number[];
  strategies: PruningStrategy[];
  calib: string;
  /** Calibrate on the first n lines of calib. */
  calibLines: number;
  /** Evaluate only the first n lines of corpus. */
  limit?: number;
  seqLen: number;
  batchSize: number;
  engine: string;
  /** Also write the result as JSON to this file. */
  json?: string;
}

export interface LayerStudyRow {
  strategy: PruningStrategy;
  keepLayers: number;
  /** Original indices of the kept layers. */
  keptLayers: number[];
  loss: number;
  /** loss / loss of the full model. */
  ratio: number;
}

export interface LayerStudyResult {
  model: string;
  corpus: string;
  limit: number | null;
  calib: string;
  calibLines: number;
  numLayers: number;
  /** Target tokens the loss averages over. */
  tokens: number;
  unigramEntropy: number;
  fullLoss: number;
  rows: LayerStudyRow[];
  seconds: number;
}

/** The corpus loss of the variant that keeps `keep` (all layers when undefined). */
function corpusLoss(options: LayerStudyOptions, keep: number[] | undefined): Promise<CorpusEvalResult> {
  return evaluate({
    model: options.model,
    corpus: options.corpus,
    keep,
    limit: options.limit,
    seqLen: options.seqLen,
    batchSize: options.batchSize,
    engine: options.engine,
    // task-mode fields, unused in corpus mode
    split: 'test',
    data: '',
    maxNewTokens: 0,
  }) as Promise<CorpusEvalResult>;
}

export async function layerStudy(options: LayerStudyOptions): Promise<LayerStudyResult> {
  if (options.keep.length === 0 || options.strategies.length === 0) {
    throw new InputError('give at least one depth (--keep 9,6) and one strategy');
  }
  const started = performance.now();
  return withCalibrationHead(options.calib, options.calibLines, async (calibFile, calibLines) => {
    const numLayers = (await readModelDir(options.model, [])).config.numHiddenLayers;
    const tooDeep = options.keep.find((k) => k < 1 || k > numLayers);
    if (tooDeep !== undefined) {
      throw new InputError(
        `cannot keep ${tooDeep} of the model's ${numLayers} layers; use --keep in 1..${numLayers}`,
      );
    }
    const full = await corpusLoss(options, undefined);
    // Strategies often agree on a variant: evaluate each kept set once.
    const losses = new Map<string, number>([[full.keptLayers.join(), full.loss]]);
    const rows: LayerStudyRow[] = [];
    for (const keepLayers of options.keep) {
      for (const strategy of options.strategies) {
        const keptLayers = await prune({ model: options.model, strategy, keepLayers, calib: calibFile });
        const key = keptLayers.join();
        let loss = losses.get(key);
        if (loss === undefined) {
          loss = (await corpusLoss(options, keptLayers)).loss;
          losses.set(key, loss);
        }
        rows.push({ strategy, keepLayers, keptLayers, loss, ratio: loss / full.loss });
      }
    }
    const result: LayerStudyResult = {
      model: options.model,
      corpus: options.corpus,
      limit: options.limit ?? null,
      calib: options.calib,
      calibLines,
      numLayers,
      tokens: full.tokens,
      unigramEntropy: full.unigramEntropy,
      fullLoss: full.loss,
      rows,
      seconds: (performance.now() - started) / 1000,
    };
    if (options.json !== undefined) await writeFile(options.json, `${JSON.stringify(result, null, 2)}\n`);
    return result;
  });
}

/** Runs of three or more consecutive layers shortened: 0,1,2,3,5,6 -> 0-3,5,6. */
export function layerRanges(layers: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < layers.length; ) {
    let j = i;
    while (j + 1 < layers.length && layers[j + 1] === layers[j] + 1) j++;
    parts.push(j >= i + 2 ? `${layers[i]}-${layers[j]}` : layers.slice(i, j + 1).join(','));
    i = j + 1;
  }
  return parts.join(',');
}

/** The study as a Markdown table: a row per strategy, kept layers / loss / change per depth. */
export function layerStudyMarkdown(result: LayerStudyResult): string {
  const depths = [...new Set(result.rows.map((row) => row.keepLayers))];
  const strategies = [...new Set(result.rows.map((row) => row.strategy))];
  const percent = (ratio: number) => `${ratio >= 1 ? '+' : ''}${((ratio - 1) * 100).toFixed(1)}%`;
  const header = ['strategy', ...depths.flatMap((k) => [`${k} kept: layers`, 'loss', 'vs full'])];
  const lines = [
    `| ${header.join(' | ')} |`,
    `|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    `| full (${result.numLayers}) | ${depths.map(() => `${layerRanges([...Array(result.numLayers).keys()])} | ${result.fullLoss.toFixed(3)} | 0.0%`).join(' | ')} |`,
  ];
  for (const strategy of strategies) {
    const cells = depths.map((k) => {
      const row = result.rows.find((r) => r.strategy === strategy && r.keepLayers === k)!;
      return `${layerRanges(row.keptLayers)} | ${row.loss.toFixed(3)} | ${percent(row.ratio)}`;
    });
    lines.push(`| ${strategy} | ${cells.join(' | ')} |`);
  }
  return `${lines.join('\n')}\n`;
}

export function layerStudyCommand(): Command {
  return new Command('layer-study')
    .description(
      'held-out loss of the full model and of every pruning strategy at each depth, before fine-tuning; ' +
        'prints a Markdown table',
    )
    .requiredOption('--model <dir>', 'Hugging Face LLaMA checkpoint directory with tokenizer.json')
    .requiredOption('--corpus <file>', 'held-out text, one line per sample')
    .option('--keep <ks>', 'numbers of kept layers to study, comma-separated', parseCountList, [9, 6])
    .option(
      '--strategies <names>',
      'pruning strategies, comma-separated (default: all)',
      (value: string) => parseNameList(value, pruningStrategies),
      [...pruningStrategies],
    )
    .option(
      '--calib <file>',
      'calibration text for contribution and angular (not the held-out text)',
      'public/datasets/wordnet/corpus.txt',
    )
    .option('--calib-lines <n>', 'calibrate on the first n lines of --calib', parseCount, 64)
    .option('--limit <n>', 'evaluate only the first n lines of the corpus', parseCount)
    .option('--seq-len <t>', 'tokens per packed row', parseCount, 128)
    .option('--batch-size <b>', 'rows per forward pass', parseCount, 8)
    .addOption(new Option('--engine <name>', 'training engine').choices(engineNames).default('cpu'))
    .option('--json <file>', 'also write the result as JSON')
    .action(async (options: LayerStudyOptions) => {
      process.stdout.write(layerStudyMarkdown(await layerStudy(options)));
    });
}
