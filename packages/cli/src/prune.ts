// `prufed prune`: choose the layers a pruned variant keeps with one of the pruning strategies and
// print their original indices as JSON. contribution and angular run the full model on calibration
// text (one sample per line) and score layers by its hidden states.
import {
  createCpuEngine,
  InputError,
  type LlamaWeights,
  loadTokenizer,
  makeBatch,
  parsePruningStrategy,
  selectLayers,
} from '@prufed/model';
import { readModelDir } from '@prufed/model/node';
import { SingleBar } from 'cli-progress';
import { Command } from 'commander';
import { parseCount } from './args';
import { readInputText } from './files';

export interface PruneOptions {
  model: string;
  strategy: string;
  keepLayers: number;
  calib?: string;
}

/** The calibration text's hidden states as selectLayers wants them. */
interface Calibration {
  hidden: Float32Array[]; // L+1 of (N, C): every line's tokens, one after another
  hiddenSize: number; // C
  lastTokenIndices: number[]; // row in hidden of each line's last token
}

/**
 * Runs every calibration line through the full model on its own (B = 1, so no padding tokens enter
 * the scores) and stacks the residual streams of all lines.
 */
async function calibrate(
  weights: LlamaWeights,
  tokenizerJson: unknown,
  calibFile: string,
): Promise<Calibration> {
  const { config } = weights;
  if (tokenizerJson === undefined) {
    throw new InputError(
      'the model directory has no tokenizer.json, needed to tokenise the calibration text',
    );
  }
  const tokenizer = loadTokenizer(tokenizerJson);
  const lines = (await readInputText(calibFile, 'calibration text'))
    .split('\n')
    .filter((line) => line.trim() !== '');
  if (lines.length === 0) {
    throw new InputError(`calibration text ${calibFile} is empty; give one sample per line`);
  }
  const samples = lines.map((line) => tokenizer.encode(line).slice(0, config.maxPositionEmbeddings));
  const N = samples.reduce((sum, ids) => sum + ids.length, 0);
  const C = config.hiddenSize;
  // L+1 of (N, C): the residual stream entering layer 0, then after each layer.
  const hidden = Array.from({ length: weights.layers.length + 1 }, () => new Float32Array(N * C));
  const lastTokenIndices: number[] = [];
  const engine = createCpuEngine();
  const progress = new SingleBar({ format: 'calibration {bar} {value}/{total} lines' });
  try {
    await engine.loadVariant(weights, { keptLayers: weights.layers });
    progress.start(samples.length, 0);
    let row = 0;
    for (const ids of samples) {
      const states = await engine.hiddenStates(makeBatch([ids], [ids], 0)); // L+1 of (1, T, C)
      for (let i = 0; i < states.length; i++) hidden[i].set(states[i], row * C);
      row += ids.length;
      lastTokenIndices.push(row - 1);
      progress.increment();
    }
    return { hidden, hiddenSize: C, lastTokenIndices };
  } finally {
    progress.stop();
    engine.dispose();
  }
}

export async function prune(options: PruneOptions): Promise<number[]> {
  const strategy = parsePruningStrategy(options.strategy);
  const needsCalibration = strategy === 'contribution' || strategy === 'angular';
  if (needsCalibration && options.calib === undefined) {
    throw new InputError(
      `${strategy} pruning needs calibration text: pass --calib FILE with one sample per line`,
    );
  }
  const needsWeights = needsCalibration || strategy === 'magnitude';
  // Structural strategies need only config.json: read no decoder layer.
  const { config, weights, tokenizerJson } = await readModelDir(options.model, needsWeights ? undefined : []);
  const calibration =
    needsCalibration && options.calib !== undefined
      ? await calibrate(weights, tokenizerJson, options.calib)
      : undefined;
  return selectLayers(strategy, {
    numLayers: config.numHiddenLayers,
    keep: options.keepLayers,
    weights,
    ...calibration,
  });
}

export function pruneCommand(): Command {
  return new Command('prune')
    .description('print the original indices of the layers a pruning strategy keeps, as JSON')
    .requiredOption('--model <dir>', 'Hugging Face LLaMA checkpoint directory')
    .requiredOption(
      '--strategy <name>',
      'top, alternate-even, alternate-odd, symmetric, magnitude, contribution or angular',
    )
    .requiredOption('--keep-layers <k>', 'number of layers to keep', parseCount)
    .option('--calib <file>', 'calibration text, one sample per line (contribution, angular)')
    .action(async (options: PruneOptions) => {
      process.stdout.write(`${JSON.stringify(await prune(options))}\n`);
    });
}
