// Layer-pruning strategies: choose which k of a model's L decoder layers a pruned variant keeps.
// Every strategy returns the kept ORIGINAL layer indices, ascending (see DESIGN.md, "Pruning
// strategies"). Scores that need weights or calibration hidden states are pure functions exported
// for tests and reports. Dimension letters: L layers, N calibration tokens, C hidden.
import { InputError } from './errors';
import { projectionName } from './hf-names';
import { loraModules } from './lora';
import type { LlamaWeights } from './weights';

export const pruningStrategies = [
  'top',
  'alternate-even',
  'alternate-odd',
  'symmetric',
  'magnitude',
  'contribution',
  'angular',
] as const;
export type PruningStrategy = (typeof pruningStrategies)[number];

export function parsePruningStrategy(s: string): PruningStrategy {
  const strategy = pruningStrategies.find((name) => name === s);
  if (!strategy) {
    throw new InputError(`unknown pruning strategy "${s}"; use one of ${pruningStrategies.join(', ')}`);
  }
  return strategy;
}

export interface SelectLayersOptions {
  numLayers: number; // L
  keep: number; // k
  /** All L layers of the base model; needed by `magnitude`. */
  weights?: LlamaWeights;
  /**
   * Hidden states of the full model on calibration text, needed by `contribution` and `angular`:
   * L+1 arrays (N, C), as the engine's hiddenStates returns them — the residual stream entering
   * layer 0, then after each layer 0..L-1.
   */
  hidden?: Float32Array[];
  /** C, the width of each hidden-state row; needed with `hidden`. */
  hiddenSize?: number;
  /** Row (token position in the flattened (N, C) hidden state) of each calibration sequence's last token; needed by `angular`. */
  lastTokenIndices?: number[];
}

/** The kept original layer indices, ascending. */
export function selectLayers(strategy: PruningStrategy, options: SelectLayersOptions): number[] {
  const { numLayers: L, keep: k } = options;
  if (!Number.isInteger(L) || L < 1) throw new InputError(`numLayers must be a positive integer, got ${L}`);
  if (!Number.isInteger(k) || k < 1 || k > L) {
    throw new InputError(`cannot keep ${k} of ${L} layers; keep an integer number of layers in [1, ${L}]`);
  }
  // Keeping every layer needs no scores, so no weights or calibration text either.
  if (k === L) return range(0, L);
  switch (strategy) {
    case 'top':
      return range(0, k);
    case 'alternate-even':
      return keepAllBut(L, alternateDropOrder(L, 0).slice(0, L - k));
    case 'alternate-odd':
      return keepAllBut(L, alternateDropOrder(L, 1).slice(0, L - k));
    case 'symmetric': {
      const start = symmetricBlockStart(k);
      return keepAllBut(L, range(start, start + L - k));
    }
    case 'magnitude':
      if (options.weights?.config.numHiddenLayers !== L) {
        throw new InputError(
          `magnitude pruning needs the weights of all ${L} layers of the base model; pass them as options.weights`,
        );
      }
      return keepAllBut(L, lowestScores(layerMagnitudes(options.weights), L - k));
    case 'contribution': {
      const { hidden, C } = calibrationStates(strategy, options);
      return keepAllBut(L, lowestScores(blockInfluence(hidden, C), L - k));
    }
    case 'angular': {
      const { hidden, C } = calibrationStates(strategy, options);
      if (!options.lastTokenIndices) {
        throw new InputError(
          "angular pruning needs the position of each calibration sequence's last token; pass options.lastTokenIndices",
        );
      }
      const distances = angularDistances(hidden, C, L - k, options.lastTokenIndices);
      // On a tie the deepest block goes, as lowestScores prefers higher indices.
      const start = lowestScores(distances, 1)[0];
      return keepAllBut(L, range(start, start + L - k));
    }
  }
}

function range(begin: number, end: number): number[] {
  return Array.from({ length: end - begin }, (_, i) => begin + i);
}

function keepAllBut(L: number, dropped: number[]): number[] {
  const drop = new Set(dropped);
  return range(0, L).filter((layer) => !drop.has(layer));
}

/**
 * Layers in the order alternate pruning drops them: first those of the given parity from the top
 * down. When more must go than there are layers of that parity, we keep going from the top down
 * among the remaining layers (the other parity), matching `top`'s view that deep layers are the
 * most redundant.
 */
function alternateDropOrder(L: number, parity: 0 | 1): number[] {
  const topDown = range(0, L).reverse();
  return [...topDown.filter((l) => l % 2 === parity), ...topDown.filter((l) => l % 2 !== parity)];
}

/**
 * First layer of the dropped middle block when k layers are kept: ceil(k/2) bottom layers stay,
 * floor(k/2) top layers stay. When k is odd the block cannot be exactly centred and leans one layer
 * towards the top, keeping the extra layer at the bottom (shallow layers matter more).
 */
function symmetricBlockStart(k: number): number {
  return Math.ceil(k / 2);
}

/** Indices of the `count` smallest scores; among equal scores the higher index goes first. */
function lowestScores(scores: number[], count: number): number[] {
  const order = range(0, scores.length).sort((a, b) => scores[a] - scores[b] || b - a);
  return order.slice(0, count);
}

/**
 * Mean |W| of each layer 0..L-1 of the base model, pooled over every element of its 7 projection matrices
 * (q, k, v, o, gate, up, down); the RMSNorm gains are not matrices and are left out.
 */
export function layerMagnitudes(weights: LlamaWeights): number[] {
  const L = weights.config.numHiddenLayers;
  return range(0, L).map((layer) => {
    let sum = 0;
    let count = 0;
    for (const module of loraModules) {
      const name = projectionName(layer, module);
      const tensor = weights.tensors.get(name);
      if (!tensor) {
        throw new InputError(
          `magnitude pruning needs every layer's weights but ${name} is missing; load all ${L} layers of the base model`,
        );
      }
      for (const w of tensor.data) sum += Math.abs(w);
      count += tensor.data.length;
    }
    return sum / count;
  });
}

/** cos(a[i], b[j]) between rows of two (N, C) arrays; 1 when both rows are zero, 0 when only one is. */
function cosineRows(a: Float32Array, i: number, b: Float32Array, j: number, C: number): number {
  let dot = 0;
  let aa = 0;
  let bb = 0;
  for (let c = 0; c < C; c++) {
    const x = a[i * C + c];
    const y = b[j * C + c];
    dot += x * y;
    aa += x * x;
    bb += y * y;
  }
  if (aa === 0 || bb === 0) return aa === bb ? 1 : 0;
  return Math.min(1, Math.max(-1, dot / Math.sqrt(aa * bb)));
}

/** Checks L+1 hidden states of N rows each; returns N. */
function checkHidden(hidden: Float32Array[], C: number): number {
  if (hidden.length < 2) {
    throw new InputError(
      `need the hidden states before and after each layer (L+1 >= 2 arrays), got ${hidden.length}`,
    );
  }
  if (!Number.isInteger(C) || C < 1) throw new InputError(`hidden size must be a positive integer, got ${C}`);
  const size = hidden[0].length;
  if (size === 0 || size % C !== 0) {
    throw new InputError(
      `hidden state 0 has ${size} values, not a non-empty multiple of the hidden size ${C}`,
    );
  }
  hidden.forEach((h, i) => {
    if (h.length !== size) {
      throw new InputError(
        `hidden state ${i} has ${h.length} values but hidden state 0 has ${size}; pass (N, C) for each`,
      );
    }
  });
  return size / C;
}

/**
 * ShortGPT Block Influence of each layer i = 0..L-1: BI_i = mean over the N calibration tokens of
 * 1 - cos(h_i, h_{i+1}), where hidden[i] (N, C) is the residual stream entering layer i.
 */
export function blockInfluence(hidden: Float32Array[], C: number): number[] {
  const N = checkHidden(hidden, C);
  return range(0, hidden.length - 1).map((i) => {
    let sum = 0;
    for (let n = 0; n < N; n++) sum += 1 - cosineRows(hidden[i], n, hidden[i + 1], n, C);
    return sum / N;
  });
}

/**
 * Angular distance (Gromov et al.) of each block of n layers starting at l = 0..L-n:
 * d(l) = arccos(cos(h_l, h_{l+n})) / pi on each sequence's last token (row lastTokenIndices[s] of
 * hidden[i] (N, C)), averaged over sequences.
 */
export function angularDistances(
  hidden: Float32Array[],
  C: number,
  n: number,
  lastTokenIndices: number[],
): number[] {
  const N = checkHidden(hidden, C);
  const L = hidden.length - 1;
  if (!Number.isInteger(n) || n < 1 || n > L) {
    throw new InputError(`block size must be an integer in [1, ${L}], got ${n}`);
  }
  if (lastTokenIndices.length === 0)
    throw new InputError('angular distances need at least one calibration sequence');
  for (const t of lastTokenIndices) {
    if (!Number.isInteger(t) || t < 0 || t >= N) {
      throw new InputError(`last-token index ${t} is not a row of the hidden states (0..${N - 1})`);
    }
  }
  return range(0, L - n + 1).map((l) => {
    let sum = 0;
    for (const t of lastTokenIndices)
      sum += Math.acos(cosineRows(hidden[l], t, hidden[l + n], t, C)) / Math.PI;
    return sum / lastTokenIndices.length;
  });
}

function calibrationStates(
  strategy: PruningStrategy,
  options: SelectLayersOptions,
): { hidden: Float32Array[]; C: number } {
  const { hidden, numLayers: L } = options;
  if (!hidden || options.hiddenSize === undefined) {
    throw new InputError(
      `${strategy} pruning needs calibration text: run the full model on it and pass its hidden states ` +
        'as options.hidden and the model hidden size as options.hiddenSize',
    );
  }
  if (hidden.length !== L + 1) {
    throw new InputError(
      `${strategy} pruning needs ${L + 1} hidden states (before layer 0 and after each of the ${L} layers), ` +
        `got ${hidden.length}; run the full, unpruned model on the calibration text`,
    );
  }
  return { hidden, C: options.hiddenSize };
}
