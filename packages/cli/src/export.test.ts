// Integration tests of `prufed export`: the real command line writes .onnx files of pruned variants
// of a temporary tiny model, with and without a PEFT adapter, and onnxruntime-node must give the CPU
// engine's logits (adapter unmerged) for them.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  adapterToPeft,
  CpuModel,
  initLoraAdapter,
  type LlamaConfig,
  type LoraAdapter,
  Rng,
} from '@prufed/model';
import { makeTempTinyModel, readModelDir } from '@prufed/model/node';
import { createNodeSession, onnxLogitsNode } from '@prufed/onnx/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPrufed } from './run-prufed';

let model: { dir: string; config: LlamaConfig };
let adapter: LoraAdapter;
let adapterFile: string;

beforeAll(async () => {
  model = await makeTempTinyModel({ layers: 4, hidden: 32, heads: 4, kvHeads: 2, seed: 3 });
  adapter = initLoraAdapter(
    model.config,
    { r: 2, alpha: 4, targetModules: ['q_proj', 'v_proj', 'down_proj'] },
    [0, 2],
    1,
  );
  const rng = new Rng(2);
  for (const { B } of adapter.weights.values())
    for (let i = 0; i < B.data.length; i++) B.data[i] = 0.5 * rng.normal();
  const peft = adapterToPeft(adapter);
  adapterFile = path.join(model.dir, 'adapter', 'adapter_model.safetensors');
  await mkdir(path.dirname(adapterFile));
  await writeFile(adapterFile, peft.safetensors);
  await writeFile(path.join(path.dirname(adapterFile), 'adapter_config.json'), JSON.stringify(peft.config));
});
afterAll(async () => {
  await rm(model.dir, { recursive: true, force: true });
});

/** Max |ORT - CPU| over the logits of a fixed batch, and max |CPU|. */
async function compare(file: string, kept: number[], withAdapter: boolean): Promise<[number, number]> {
  const [B, T] = [2, 5];
  const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 37 + 11) % model.config.vocabSize);
  const session = await createNodeSession(await readFile(file));
  const onnx = (await onnxLogitsNode(session, ids, B, T)).data;
  const cpu = new CpuModel((await readModelDir(model.dir, kept)).weights, { keptLayers: kept });
  if (withAdapter) cpu.setAdapter(adapter);
  const expected = cpu.forwardLogits({
    batchSize: B,
    seqLen: T,
    inputIds: ids,
    labels: new Int32Array(B * T),
  });
  let diff = 0;
  let scale = 0;
  expected.forEach((v, i) => {
    diff = Math.max(diff, Math.abs(onnx[i] - v));
    scale = Math.max(scale, Math.abs(v));
  });
  return [diff, scale];
}

describe('prufed export', () => {
  it('writes ONNX models that onnxruntime-node runs to the CPU engine logits', async () => {
    const pruned = path.join(model.dir, 'out', 'pruned.onnx');
    const full = path.join(model.dir, 'full.onnx');
    const [withAdapter, plain] = await Promise.all([
      runPrufed(['export', '--model', model.dir, '--adapter', adapterFile, '--keep', '0,2', '--out', pruned]),
      runPrufed(['export', '--model', model.dir, '--out', full, '--opset', '18']),
    ]);
    expect(withAdapter.stderr).toBe('');
    expect(plain.stderr).toBe('');
    const summary = JSON.parse(withAdapter.stdout);
    expect(summary).toMatchObject({ out: pruned, keptLayers: [0, 2], adapter: adapterFile, opset: 17 });
    expect(summary.bytes).toBe((await readFile(pruned)).length);
    expect(summary.nodes).toBeGreaterThan(2 * 40);
    expect(JSON.parse(plain.stdout)).toMatchObject({ keptLayers: [0, 1, 2, 3], adapter: null, opset: 18 });
    for (const [file, kept, adapted] of [
      [pruned, [0, 2], true],
      [full, [0, 1, 2, 3], false],
    ] as const) {
      const [diff, scale] = await compare(file, [...kept], adapted);
      expect(diff, `max diff ${diff} for ${file}`).toBeLessThanOrEqual(1e-4 * scale);
    }
  });

  it('refuses an adapter on layers the variant drops, and a missing --out', async () => {
    const [dropped, noOut] = await Promise.all([
      runPrufed([
        'export',
        '--model',
        model.dir,
        '--adapter',
        adapterFile,
        '--keep',
        '0,1',
        '--out',
        path.join(model.dir, 'x.onnx'),
      ]),
      runPrufed(['export', '--model', model.dir]),
    ]);
    expect(dropped.code).toBe(1);
    expect(dropped.stderr).toMatch(/^prufed: adapter has layers 2 that this model variant lacks/);
    expect(noOut.code).toBe(1);
    expect(noOut.stderr).toMatch(/--out <file>/);
  });
});
