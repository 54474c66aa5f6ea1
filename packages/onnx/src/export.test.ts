// Parity of exported models with the CPU reference engine: onnxruntime-node (CPU EP) and
// onnxruntime-web's wasm backend in Node run pruned variants of a tiny GQA model, with and without a
// merged random adapter, and must give the CPU engine's logits (adapter unmerged) within 1e-4.
import { InputError } from '@prufed/model';
import * as ortWeb from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { exportOnnx } from './export';
import { decodeModel, type ValueInfoProto } from './graph';
import { createNodeSession, onnxLogitsNode } from './node';
import { createWebSession, onnxLogits } from './run';
import { cpuLogits, expectClose, randomAdapter, randomIds, tinyConfig, tinyWeights } from './testing';

const rtol = 1e-4;
const [B, T] = [2, 7];

describe('exportOnnx', () => {
  const config = tinyConfig();
  const weights = tinyWeights(config, 1);
  const ids = randomIds(config.vocabSize, B, T, 3);

  const variants: [string, number[], boolean][] = [
    ['all layers', [0, 1, 2, 3], false],
    ['all layers + adapter', [0, 1, 2, 3], true],
    ['top [0, 1] + adapter', [0, 1], true],
    ['alternate [0, 2]', [0, 2], false],
    ['alternate [1, 3] + adapter', [1, 3], true],
  ];
  it.each(variants)('matches the CPU engine on onnxruntime-node: %s', async (_, kept, withAdapter) => {
    const adapter = withAdapter ? randomAdapter(config, kept, 5) : undefined;
    const session = await createNodeSession(exportOnnx(weights, kept, adapter));
    const logits = await onnxLogitsNode(session, ids, B, T);
    expect(logits.shape).toEqual([B, T, config.vocabSize]);
    expectClose(logits.data, cpuLogits(weights, kept, adapter, ids, B, T), rtol);
  });

  it('matches the CPU engine on onnxruntime-web (wasm) with a merged adapter, opsets 17 and 18', async () => {
    const kept = [0, 2, 3];
    const adapter = randomAdapter(config, kept, 9);
    const expected = cpuLogits(weights, kept, adapter, ids, B, T);
    for (const opset of [17, 18] as const) {
      const session = await createWebSession(exportOnnx(weights, kept, adapter, { opset }), {
        numThreads: 1,
      });
      expectClose((await onnxLogits(ortWeb, session, ids, B, T)).data, expected, rtol);
    }
  });

  it('handles dynamic batch and sequence sizes, tied embeddings and MHA (NKV = NH)', async () => {
    const tied = tinyConfig({ tieWordEmbeddings: true, numKeyValueHeads: 4, ropeTheta: 500 });
    const tiedWeights = tinyWeights(tied, 2);
    const session = await createNodeSession(exportOnnx(tiedWeights, [1, 2], randomAdapter(tied, [2], 4)));
    for (const [b, t] of [
      [1, 1],
      [3, 12],
    ]) {
      const other = randomIds(tied.vocabSize, b, t, 11);
      const expected = cpuLogits(tiedWeights, [1, 2], randomAdapter(tied, [2], 4), other, b, t);
      expectClose((await onnxLogitsNode(session, other, b, t)).data, expected, rtol);
    }
  });

  it('declares input_ids (batch, sequence) int64, logits float32 and its metadata', () => {
    const model = decodeModel(exportOnnx(weights, [0, 2], undefined, { opset: 18, maxSequenceLength: 16 }));
    expect(model.opsetImport!.map((o) => [o.domain, Number(o.version)])).toEqual([['', 18]]);
    const dims = (v: ValueInfoProto) =>
      v.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue));
    expect(model.graph!.input!.map((v) => [v.name, v.type!.tensorType!.elemType, dims(v)])).toEqual([
      ['input_ids', 7, ['batch', 'sequence']],
    ]);
    expect(model.graph!.output!.map((v) => [v.name, v.type!.tensorType!.elemType, dims(v)])).toEqual([
      ['logits', 1, ['batch', 'sequence', config.vocabSize]],
    ]);
    const names = model.graph!.initializer!.map((t) => t.name);
    expect(names).toContain('model.layers.2.self_attn.q_proj.weight.T');
    expect(names.some((n) => n?.includes('layers.1.'))).toBe(false);
    expect(model.metadataProps).toContainEqual(
      expect.objectContaining({ key: 'kept_layers', value: '[0,2]' }),
    );
  });

  it('rejects layers the weights lack, bad options, and sequences longer than the RoPE tables', async () => {
    const partial = tinyWeights(config, 1);
    partial.layers = [0, 1];
    expect(() => exportOnnx(partial, [0, 2])).toThrow(/lack kept layer\(s\) 2/);
    expect(() => exportOnnx(weights, [2, 1])).toThrow(InputError);
    expect(() => exportOnnx(weights, [0], undefined, { opset: 16 as 17 })).toThrow(
      /opset 16 is not supported/,
    );
    expect(() => exportOnnx(weights, [0], randomAdapter(config, [1], 1))).toThrow(/variant lacks/);
    const session = await createNodeSession(exportOnnx(weights, [0], undefined, { maxSequenceLength: 4 }));
    await expect(onnxLogitsNode(session, randomIds(config.vocabSize, 1, 5, 1), 1, 5)).rejects.toThrow(
      /keep T within the max_sequence_length/,
    );
    await expect(onnxLogitsNode(session, new Int32Array(3), 1, 2)).rejects.toThrow(InputError);
  });
});
