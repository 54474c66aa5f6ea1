// Calibration hidden states for the `contribution` and `angular` pruning strategies, computed once at
// server start: the full model (every layer kept) runs on the CPU reference engine over the first
// lines of a calibration text, one sequence per line, and the residual streams are concatenated.
// Dimension letters: L layers, T tokens of one line, N tokens of all lines, C hidden.
import { readFileSync } from 'node:fs';
import {
  ConfigError,
  createCpuEngine,
  type LlamaWeights,
  loadTokenizer,
  type SelectLayersOptions,
} from '@prufed/model';

export interface CalibrationOptions {
  /** A text file; each non-empty line is one calibration sequence. */
  file: string;
  /** How many of its first non-empty lines to use. */
  lines: number;
  /** Tokens kept per line (the rest is cut off). */
  maxTokens: number;
}

/** What selectLayers needs for calibration-based strategies, plus what was run. */
export type Calibration = Required<
  Pick<SelectLayersOptions, 'hidden' | 'hiddenSize' | 'lastTokenIndices'>
> & {
  sequences: number;
  tokens: number; // N
};

/** The first `count` non-empty lines of the calibration file, with a clear error when it is missing. */
export function readCalibrationLines(file: string, count: number): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(
      `calibration text ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); ` +
        'the contribution and angular pruning strategies need one: set PRUFED_CALIBRATION_FILE or use another pruning strategy',
    );
  }
  const lines = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0)
    .slice(0, count);
  if (lines.length === 0) throw new ConfigError(`calibration text ${file} has no non-empty line`);
  return lines;
}

/**
 * Hidden states of the full model on the calibration lines: hidden[i] (N, C) is the residual stream
 * entering layer i (i = L: after the last layer), sequence after sequence; lastTokenIndices[s] is the
 * row of sequence s's last token.
 */
export async function computeCalibration(
  weights: LlamaWeights,
  tokenizerJson: unknown,
  options: CalibrationOptions,
): Promise<Calibration> {
  const { config } = weights;
  const C = config.hiddenSize;
  const L = config.numHiddenLayers;
  if (tokenizerJson === undefined) {
    throw new ConfigError(
      'the contribution and angular pruning strategies tokenise calibration text, but the model directory has no tokenizer.json; add it or use another pruning strategy',
    );
  }
  const tokenizer = loadTokenizer(tokenizerJson);
  const sequences = readCalibrationLines(options.file, options.lines)
    .map((line) => tokenizer.encode(line).slice(0, options.maxTokens))
    .filter((ids) => ids.length > 0);
  const N = sequences.reduce((sum, ids) => sum + ids.length, 0);
  const engine = createCpuEngine();
  await engine.loadVariant(weights, { keptLayers: Array.from({ length: L }, (_, i) => i) });
  const hidden = Array.from({ length: L + 1 }, () => new Float32Array(N * C)); // L+1 x (N, C)
  const lastTokenIndices: number[] = [];
  let row = 0;
  for (const ids of sequences) {
    const T = ids.length;
    const inputIds = Int32Array.from(ids); // (1, T)
    const states = await engine.hiddenStates({ batchSize: 1, seqLen: T, inputIds, labels: inputIds }); // L+1 x (1, T, C)
    for (let i = 0; i <= L; i++) hidden[i].set(states[i], row * C);
    row += T;
    lastTokenIndices.push(row - 1);
  }
  engine.dispose();
  return { hidden, hiddenSize: C, lastTokenIndices, sequences: sequences.length, tokens: N };
}
