import { describe, expect, it } from 'vitest';
import { createCpuEngine } from './cpu/engine';
import { InputError } from './errors';
import { randomLlamaWeights } from './init';
import { loraModuleShape, loraModules, loraParent } from './lora';
import {
  angularDistances,
  blockInfluence,
  layerMagnitudes,
  type PruningStrategy,
  parsePruningStrategy,
  pruningStrategies,
  selectLayers,
} from './pruning';
import type { Tensor } from './tensor';
import { llamaConfigOf } from './testing';
import type { LlamaWeights } from './weights';

describe('positional strategies', () => {
  // [strategy, L, k, kept] worked out by hand from DESIGN.md's definitions.
  const table: [PruningStrategy, number, number, number[]][] = [
    ['top', 12, 9, [0, 1, 2, 3, 4, 5, 6, 7, 8]],
    ['top', 12, 6, [0, 1, 2, 3, 4, 5]],
    ['top', 4, 3, [0, 1, 2]],
    ['top', 4, 2, [0, 1]],
    ['alternate-even', 12, 9, [0, 1, 2, 3, 4, 5, 7, 9, 11]], // drops 10, 8, 6
    ['alternate-even', 12, 6, [1, 3, 5, 7, 9, 11]],
    ['alternate-even', 4, 3, [0, 1, 3]],
    ['alternate-even', 4, 2, [1, 3]],
    ['alternate-even', 4, 1, [1]], // drops 2, 0, then 3 from the top
    ['alternate-odd', 12, 9, [0, 1, 2, 3, 4, 5, 6, 8, 10]], // drops 11, 9, 7
    ['alternate-odd', 12, 6, [0, 2, 4, 6, 8, 10]],
    ['alternate-odd', 12, 3, [0, 2, 4]], // drops every odd layer, then 10, 8, 6
    ['alternate-odd', 4, 3, [0, 1, 2]],
    ['alternate-odd', 4, 2, [0, 2]],
    ['alternate-odd', 4, 1, [0]],
    ['symmetric', 12, 9, [0, 1, 2, 3, 4, 8, 9, 10, 11]], // block 5..7 leans one layer towards the top
    ['symmetric', 12, 6, [0, 1, 2, 9, 10, 11]],
    ['symmetric', 12, 1, [0]],
    ['symmetric', 4, 3, [0, 1, 3]],
    ['symmetric', 4, 2, [0, 3]],
  ];
  for (const [strategy, L, k, kept] of table) {
    it(`${strategy} keeps ${kept.join(',')} of L=${L} at k=${k}`, () => {
      expect(selectLayers(strategy, { numLayers: L, keep: k })).toEqual(kept);
    });
  }

  it('keeps every layer when k = L, for every strategy, without scores', () => {
    for (const strategy of pruningStrategies) {
      expect(selectLayers(strategy, { numLayers: 4, keep: 4 })).toEqual([0, 1, 2, 3]);
    }
  });

  it('rejects k outside [1, L]', () => {
    for (const keep of [0, 5, 2.5, -1]) {
      expect(() => selectLayers('top', { numLayers: 4, keep })).toThrow(InputError);
      expect(() => selectLayers('top', { numLayers: 4, keep })).toThrow(
        /keep an integer number of layers in \[1, 4\]/,
      );
    }
    expect(() => selectLayers('top', { numLayers: 0, keep: 1 })).toThrow(
      /numLayers must be a positive integer/,
    );
  });
});

describe('parsePruningStrategy', () => {
  it('accepts every listed name and rejects others with the list', () => {
    for (const name of pruningStrategies) expect(parsePruningStrategy(name)).toBe(name);
    expect(() => parsePruningStrategy('bottom')).toThrow(InputError);
    expect(() => parsePruningStrategy('bottom')).toThrow(
      'unknown pruning strategy "bottom"; use one of top, alternate-even, alternate-odd, symmetric, magnitude, contribution, angular',
    );
  });
});

describe('magnitude', () => {
  // C = 2, F = 4: q/k/v/o are 2x2 (4 values), gate/up/down 8 values: 40 projection values per layer.
  const config = llamaConfigOf({ L: 4, C: 2, NH: 1, NKV: 1, F: 4, V: 3, maxPositions: 8, tied: true });
  function weightsWith(valueAt: (layer: number, module: string) => number): LlamaWeights {
    const tensors = new Map<string, Tensor>();
    for (let layer = 0; layer < 4; layer++) {
      for (const module of loraModules) {
        const [inF, outF] = loraModuleShape(config, module);
        tensors.set(`model.layers.${layer}.${loraParent(module)}.${module}.weight`, {
          shape: [outF, inF],
          data: new Float32Array(outF * inF).fill(valueAt(layer, module)),
        });
      }
      // Norm gains are not matrices: a huge gain on layer 1 must not save it.
      tensors.set(`model.layers.${layer}.input_layernorm.weight`, {
        shape: [2],
        data: new Float32Array(2).fill(layer === 1 ? 100 : 1),
      });
    }
    return { config, layers: [0, 1, 2, 3], tensors };
  }
  // Layer 0: every value 0.5 -> 0.5. Layer 1: q_proj 1, rest 0 -> 4/40. Layer 2: down_proj -1, rest 0
  // -> 8/40 (pooled over elements, not a mean of per-matrix means). Layer 3: every value -0.3 -> 0.3.
  const weights = weightsWith((layer, module) => {
    if (layer === 0) return 0.5;
    if (layer === 1) return module === 'q_proj' ? 1 : 0;
    if (layer === 2) return module === 'down_proj' ? -1 : 0;
    return -0.3;
  });

  it('pools mean |W| over the projection matrices only', () => {
    const m = layerMagnitudes(weights);
    expect(m[0]).toBeCloseTo(0.5, 6);
    expect(m[1]).toBeCloseTo(0.1, 6);
    expect(m[2]).toBeCloseTo(0.2, 6);
    expect(m[3]).toBeCloseTo(0.3, 6);
  });

  it('drops the layers with the smallest magnitude', () => {
    expect(selectLayers('magnitude', { numLayers: 4, keep: 3, weights })).toEqual([0, 2, 3]);
    expect(selectLayers('magnitude', { numLayers: 4, keep: 2, weights })).toEqual([0, 3]);
    expect(selectLayers('magnitude', { numLayers: 4, keep: 1, weights })).toEqual([0]);
  });

  it('drops the deepest of equal layers first', () => {
    expect(selectLayers('magnitude', { numLayers: 4, keep: 2, weights: weightsWith(() => 1) })).toEqual([
      0, 1,
    ]);
  });

  it('needs the weights of every layer', () => {
    expect(() => selectLayers('magnitude', { numLayers: 4, keep: 2 })).toThrow(
      /needs the weights of all 4 layers/,
    );
    const partial = weightsWith(() => 1);
    partial.tensors.delete('model.layers.3.mlp.up_proj.weight');
    expect(() => selectLayers('magnitude', { numLayers: 4, keep: 2, weights: partial })).toThrow(
      /model\.layers\.3\.mlp\.up_proj\.weight is missing/,
    );
  });
});

const r = Math.SQRT1_2;

describe('contribution (Block Influence)', () => {
  // L = 3, N = 2 tokens, C = 2. Layer 0 rotates every token by 90 degrees (cos 0 -> BI 1), layer 1 is
  // an exact identity (BI 0), layer 2 rotates token 0 by 45 degrees and doubles token 1
  // (BI = ((1 - cos 45) + 0) / 2).
  const hidden = [
    new Float32Array([1, 0, 0, 1]),
    new Float32Array([0, 1, -1, 0]),
    new Float32Array([0, 1, -1, 0]),
    new Float32Array([-r, r, -2, 0]),
  ];

  it('computes 1 - cos averaged over tokens', () => {
    const bi = blockInfluence(hidden, 2);
    expect(bi).toHaveLength(3);
    expect(bi[0]).toBeCloseTo(1, 6);
    expect(bi[1]).toBe(0);
    expect(bi[2]).toBeCloseTo((1 - r) / 2, 6);
    // A layer that negates its input has cos -1: BI 2.
    expect(blockInfluence([new Float32Array([1, 2]), new Float32Array([-1, -2])], 2)[0]).toBeCloseTo(2, 6);
  });

  it('drops the identity layer first', () => {
    expect(selectLayers('contribution', { numLayers: 3, keep: 2, hidden, hiddenSize: 2 })).toEqual([0, 2]);
    expect(selectLayers('contribution', { numLayers: 3, keep: 1, hidden, hiddenSize: 2 })).toEqual([0]);
  });

  it('asks for calibration text when hidden states are missing or incomplete', () => {
    expect(() => selectLayers('contribution', { numLayers: 3, keep: 2 })).toThrow(/needs calibration text/);
    expect(() => selectLayers('contribution', { numLayers: 4, keep: 2, hidden, hiddenSize: 2 })).toThrow(
      /needs 5 hidden states .* got 4/,
    );
    expect(() => blockInfluence([new Float32Array(4), new Float32Array(2)], 2)).toThrow(
      /hidden state 1 has 2 values but hidden state 0 has 4/,
    );
    expect(() => blockInfluence([new Float32Array(3), new Float32Array(3)], 2)).toThrow(
      /not a non-empty multiple/,
    );
  });
});

describe('angular', () => {
  // L = 4, two sequences of 2 tokens (N = 4, C = 2), last tokens at rows 1 and 3. On the last tokens
  // the hidden state of layer boundary i points at angle theta_i = 0, 90, 100, 115, 180 degrees
  // (different lengths per sequence). Rows 0 and 2 hold noise that must be ignored.
  const theta = [0, 90, 100, 115, 180];
  const noise = [
    [3, 1],
    [-2, 5],
    [0.5, 0.5],
    [7, -1],
    [1, 1],
  ];
  const hidden = theta.map((deg, i) => {
    const a = (deg * Math.PI) / 180;
    return new Float32Array([
      ...noise[i],
      Math.cos(a),
      Math.sin(a),
      ...noise[4 - i],
      3 * Math.cos(a),
      3 * Math.sin(a),
    ]);
  });
  const lastTokenIndices = [1, 3];

  it('measures arccos(cos)/pi between layer l and l+n on last tokens', () => {
    const d2 = angularDistances(hidden, 2, 2, lastTokenIndices);
    [100 / 180, 25 / 180, 80 / 180].forEach((expected, l) => {
      expect(d2[l]).toBeCloseTo(expected, 5);
    });
    const d1 = angularDistances(hidden, 2, 1, lastTokenIndices);
    [90 / 180, 10 / 180, 15 / 180, 65 / 180].forEach((expected, l) => {
      expect(d1[l]).toBeCloseTo(expected, 5);
    });
  });

  it('drops the contiguous block with the smallest distance', () => {
    expect(
      selectLayers('angular', { numLayers: 4, keep: 2, hidden, hiddenSize: 2, lastTokenIndices }),
    ).toEqual([0, 3]);
    expect(
      selectLayers('angular', { numLayers: 4, keep: 3, hidden, hiddenSize: 2, lastTokenIndices }),
    ).toEqual([0, 2, 3]);
  });

  it('rejects missing or bad sequence layout', () => {
    expect(() => selectLayers('angular', { numLayers: 4, keep: 2 })).toThrow(/needs calibration text/);
    expect(() => selectLayers('angular', { numLayers: 4, keep: 2, hidden, hiddenSize: 2 })).toThrow(
      /pass options\.lastTokenIndices/,
    );
    expect(() => angularDistances(hidden, 2, 2, [4])).toThrow(/last-token index 4 is not a row/);
    expect(() => angularDistances(hidden, 2, 2, [])).toThrow(/at least one calibration sequence/);
    expect(() => angularDistances(hidden, 2, 5, [1])).toThrow(/block size must be an integer in \[1, 4\]/);
  });
});

describe('calibration scores on the CPU engine', () => {
  it('drop a layer whose output projections are zero (an exact identity)', async () => {
    const config = llamaConfigOf({ L: 4, C: 8, NH: 2, NKV: 1, F: 16, V: 11, maxPositions: 16, tied: true });
    const weights = randomLlamaWeights(config, { seed: 7, std: 0.5 });
    weights.tensors.get('model.layers.2.self_attn.o_proj.weight')!.data.fill(0);
    weights.tensors.get('model.layers.2.mlp.down_proj.weight')!.data.fill(0);
    const engine = createCpuEngine();
    await engine.loadVariant(weights, { keptLayers: [0, 1, 2, 3] });
    const B = 2;
    const T = 5;
    const inputIds = Int32Array.from({ length: B * T }, (_, i) => (i * 4 + 1) % 11);
    const hidden = await engine.hiddenStates({ batchSize: B, seqLen: T, inputIds, labels: inputIds });
    expect(hidden).toHaveLength(5);
    const bi = blockInfluence(hidden, 8);
    expect(bi[2]).toBe(0);
    for (const i of [0, 1, 3]) expect(bi[i]).toBeGreaterThan(1e-4);
    const options = { numLayers: 4, keep: 3, hidden, hiddenSize: 8, lastTokenIndices: [T - 1, 2 * T - 1] };
    expect(selectLayers('contribution', options)).toEqual([0, 1, 3]);
    expect(selectLayers('angular', options)).toEqual([0, 1, 3]);
  });
});
