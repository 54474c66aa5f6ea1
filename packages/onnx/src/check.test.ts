// The structural checker passes exported models and names the fault in each kind of broken graph;
// ONNX Runtime's load-time validation rejects an opset violation too.
import { FormatError } from '@prufed/model';
import { describe, expect, it } from 'vitest';
import { assertOnnxStructure, onnxStructureProblems } from './check';
import { buildOnnxModel, exportOnnx } from './export';
import { encodeModel, type ModelProto } from './graph';
import { createNodeSession } from './node';
import { randomAdapter, tinyConfig, tinyWeights } from './testing';

const config = tinyConfig();
const weights = tinyWeights(config, 1);
const tied = tinyConfig({ tieWordEmbeddings: true });
const tiedWeights = tinyWeights(tied, 2);

/** A fresh small model to break: layers [0, 2], opset 17. */
function model(): ModelProto {
  return buildOnnxModel(weights, [0, 2], undefined, { maxSequenceLength: 8 });
}

function nodeIndex(m: ModelProto, opType: string): number {
  return m.graph!.node!.findIndex((n) => n.opType === opType);
}

describe('onnxStructureProblems', () => {
  it('finds none in exported models (bytes and protos, opsets 17 and 18, tied, with adapter)', () => {
    expect(onnxStructureProblems(exportOnnx(weights, [0, 1, 2, 3], randomAdapter(config, [1], 1)))).toEqual(
      [],
    );
    expect(onnxStructureProblems(buildOnnxModel(tiedWeights, [3], undefined, { opset: 18 }))).toEqual([]);
    expect(() => assertOnnxStructure(model())).not.toThrow();
  });

  it('finds a node that uses a value before it is produced', () => {
    const m = model();
    const nodes = m.graph!.node!;
    const i = nodeIndex(m, 'Sqrt');
    [nodes[i - 1], nodes[i]] = [nodes[i], nodes[i - 1]];
    expect(onnxStructureProblems(m)).toEqual([
      expect.stringMatching(/\(Sqrt\) uses .* before it is produced/),
    ]);
  });

  it('finds operators that are not standard or not in the declared opset', () => {
    const m = model();
    m.graph!.node![nodeIndex(m, 'Sigmoid')].opType = 'Swish';
    expect(onnxStructureProblems(m)).toEqual([
      expect.stringMatching(/Swish is not one of the standard operators/),
    ]);
    const old = model();
    old.opsetImport = [{ domain: '', version: 10 }];
    expect(onnxStructureProblems(old)).toEqual(
      expect.arrayContaining([expect.stringMatching(/Range does not exist in opset 10 \(since 11\)/)]),
    );
  });

  it('applies the declared opset version rules: ReduceMean axes moved from attribute to input in 18', () => {
    const m = model();
    m.opsetImport = [{ domain: '', version: 18 }];
    const problems = onnxStructureProblems(m);
    expect(problems).toHaveLength(2 * 2 + 1); // 2 norms in each of the 2 kept layers + the final norm
    expect(problems[0]).toMatch(/has attribute axes, which opset 18 ReduceMean does not define/);
    const wrongInputs = buildOnnxModel(weights, [0], undefined, { opset: 18, maxSequenceLength: 8 });
    wrongInputs.opsetImport = [{ domain: '', version: 17 }];
    expect(onnxStructureProblems(wrongInputs)[0]).toMatch(/has 2 inputs, but opset 17 ReduceMean takes 1..1/);
  });

  it('finds duplicate names, wrong initializer sizes and undeclared outputs', () => {
    const m = model();
    const nodes = m.graph!.node!;
    nodes[nodeIndex(m, 'Neg')].output = [nodes[0].output![0]];
    m.graph!.initializer![0].dims = [3, 5];
    m.graph!.output!.push({ name: 'hidden', type: m.graph!.output![0].type });
    const problems = onnxStructureProblems(m);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/reuses a name defined earlier/),
        expect.stringMatching(/has dims \[3,5\] \(15 values\) but holds \d+ values/),
        'graph output hidden is produced by no node',
      ]),
    );
    expect(() => assertOnnxStructure(m)).toThrow(FormatError);
    const noOpset = model();
    noOpset.opsetImport = [];
    expect(onnxStructureProblems(noOpset)).toEqual([
      expect.stringMatching(/default ONNX domain exactly once/),
    ]);
  });

  it('matches ONNX Runtime, which refuses the opset violation when it loads the model', async () => {
    const m = model();
    m.opsetImport = [{ domain: '', version: 18 }];
    await expect(createNodeSession(encodeModel(m))).rejects.toThrow(FormatError);
  });
});
