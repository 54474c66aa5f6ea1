// The benchmark case: the FLOP count against a hand count, and the files round trip exactly.

import { type BenchShape, benchModelShape } from '@prufed/model/testing';
import { describe, expect, it } from 'vitest';
import { caseFromFiles, caseToFiles, flopsPerStep, makeBenchCase } from './case';

describe('flopsPerStep', () => {
  it('counts the default shape by hand', () => {
    // N = 256 rows. Per layer, forward: base 2 N (128 128 + 2 128 64 + 128 128 + 3 128 384) = 100663296,
    // LoRA 2 N 8 (256 + 192 + 192 + 256 + 3 512) = 9961472, attention 4 4 4 64 64 32 = 8388608;
    // LM head 2 N 128 2048 = 134217728. Step: 12 (2 base + 3 (LoRA + attention)) + 2 head.
    expect(flopsPerStep(benchModelShape('default'))).toBe(
      12 * (2 * 100663296 + 3 * (9961472 + 8388608)) + 2 * 134217728,
    );
  });
});

describe('caseToFiles / caseFromFiles', () => {
  it('hands every runner the same arrays', () => {
    const shape: BenchShape = { name: 'tiny', L: 2, C: 16, NH: 4, NKV: 2, F: 24, V: 40, B: 2, T: 16, R: 4 };
    const made = makeBenchCase(shape);
    const read = caseFromFiles(caseToFiles(made));
    expect(read.config).toEqual(made.config);
    expect(read.keptLayers).toEqual([0, 1]);
    expect([...read.weights.tensors.keys()].sort()).toEqual([...made.weights.tensors.keys()].sort());
    for (const [name, tensor] of made.weights.tensors) expect(read.weights.tensors.get(name)).toEqual(tensor);
    expect(read.adapter.weights).toEqual(made.adapter.weights);
    expect(read.batch).toEqual(made.batch);
    expect(read.optimizer).toEqual(made.optimizer);
    // The first T/8 = 2 labels of each row are masked, the rest are the input ids.
    expect([...read.batch.labels.subarray(16, 20)]).toEqual([
      -100,
      -100,
      ...read.batch.inputIds.subarray(18, 20),
    ]);
  });
});
