// Integration tests of `prufed lora-grad`, running the real command line against a temporary tiny
// model and checking its output against the CPU engine run in-process.
import { copyFile, mkdir, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  adapterFromPeft,
  adapterToPeft,
  createCpuEngine,
  initLoraAdapter,
  type LlamaConfig,
  type LoraAdapter,
  loraKey,
  loraModules,
  parseBatchJson,
  peftTensorName,
  readSafetensors,
} from '@prufed/model';
import { makeTempTinyModel, readModelDir } from '@prufed/model/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPrufed } from './run-prufed';

let work: string;
let model: { dir: string; config: LlamaConfig };
const batchJson = {
  input_ids: [
    [256, 104, 101, 108, 108, 111],
    [256, 119, 111, 114, 108, 100],
  ],
  labels: [
    [-100, 104, 101, 108, 108, 111],
    [256, 119, 111, -100, 108, 100],
  ],
};

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'prufed-cli-'));
  model = await makeTempTinyModel({ layers: 3, hidden: 16, heads: 4, kvHeads: 2, seed: 5 });
  await writeFile(path.join(work, 'batch.json'), JSON.stringify(batchJson));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
  await rm(model.dir, { recursive: true, force: true });
});

/** The CPU engine's loss and LoRA gradients, computed in this process. */
async function inProcess(adapter: LoraAdapter, keptLayers: number[]) {
  const { weights, config } = await readModelDir(model.dir, keptLayers);
  const engine = createCpuEngine();
  await engine.loadVariant(weights, { keptLayers });
  await engine.setAdapter(adapter);
  const result = await engine.computeGradients(parseBatchJson(batchJson, config.vocabSize));
  return { ...result, gradients: await engine.readAdapterGradients() };
}

async function writeAdapter(adapter: LoraAdapter, name: string): Promise<string> {
  const dir = path.join(work, name);
  await mkdir(dir, { recursive: true });
  const peft = adapterToPeft(adapter);
  await writeFile(path.join(dir, 'adapter_model.safetensors'), peft.safetensors);
  await writeFile(path.join(dir, 'adapter_config.json'), JSON.stringify(peft.config));
  return path.join(dir, 'adapter_model.safetensors');
}

function expectSameGradients(file: Map<string, { data: Float32Array }>, expected: LoraAdapter): void {
  const names = expected.layers.flatMap((layer) =>
    expected.config.targetModules.flatMap((m) => [
      peftTensorName(layer, m, 'A'),
      peftTensorName(layer, m, 'B'),
    ]),
  );
  expect([...file.keys()].sort()).toEqual(names.sort());
  for (const layer of expected.layers) {
    for (const module of expected.config.targetModules) {
      const pair = expected.weights.get(loraKey(layer, module))!;
      expect(file.get(peftTensorName(layer, module, 'A'))!.data).toEqual(pair.A.data);
      expect(file.get(peftTensorName(layer, module, 'B'))!.data).toEqual(pair.B.data);
    }
  }
}

describe('prufed lora-grad', () => {
  it('with a fresh adapter: prints the in-process loss and writes PEFT-named gradients (dA = 0 as B = 0)', async () => {
    const out = path.join(work, 'fresh', 'adapter_model.safetensors');
    const run = await runPrufed([
      'lora-grad',
      '--model',
      model.dir,
      '--batch',
      path.join(work, 'batch.json'),
      '--out',
      out,
      '--seed',
      '3',
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const printed = JSON.parse(run.stdout);
    const fresh = initLoraAdapter(
      model.config,
      { r: 8, alpha: 16, targetModules: [...loraModules] },
      [0, 1, 2],
      3,
    );
    const expected = await inProcess(fresh, [0, 1, 2]);
    // Labels shift by one: row 0 predicts its last 5 labels, row 1 its last 5 but one is -100.
    expect(printed.tokens).toBe(9);
    expect(printed.loss).toBeCloseTo(expected.loss, 10);

    const bytes = await readFile(out);
    const gradients = readSafetensors(bytes);
    expectSameGradients(gradients, expected.gradients);
    // With B = 0 the gradient of A vanishes and that of B does not.
    expect(gradients.get(peftTensorName(1, 'q_proj', 'A'))!.data.every((x) => x === 0)).toBe(true);
    expect(gradients.get(peftTensorName(1, 'q_proj', 'B'))!.data.some((x) => x !== 0)).toBe(true);
    const config = JSON.parse(await readFile(path.join(work, 'fresh', 'adapter_config.json'), 'utf8'));
    expect(adapterFromPeft(bytes, config).layers).toEqual([0, 1, 2]);
  });

  it('with --adapter and --keep: gradients of the adapter layers of the kept variant', async () => {
    const adapter = initLoraAdapter(
      model.config,
      { r: 4, alpha: 8, targetModules: ['q_proj', 'down_proj'] },
      [0, 2],
      9,
    );
    for (const { B } of adapter.weights.values()) {
      for (let i = 0; i < B.data.length; i++) B.data[i] = 0.05 * Math.sin(i + 1);
    }
    const file = await writeAdapter(adapter, 'trained');
    const batch = path.join(work, 'batch.json');
    const out = path.join(work, 'kept', 'grads.safetensors');
    const [kept, all] = await Promise.all([
      runPrufed([
        'lora-grad',
        '--model',
        model.dir,
        '--adapter',
        file,
        '--batch',
        batch,
        '--out',
        out,
        '--keep',
        '0,2',
      ]),
      runPrufed([
        'lora-grad',
        '--model',
        model.dir,
        '--adapter',
        file,
        '--batch',
        batch,
        '--out',
        path.join(work, 'all.st'),
      ]),
    ]);
    expect(kept.stderr).toBe('');
    const expected = await inProcess(adapter, [0, 2]);
    expect(JSON.parse(kept.stdout).loss).toBeCloseTo(expected.loss, 10);
    expect(JSON.parse(all.stdout).loss).toBeCloseTo((await inProcess(adapter, [0, 1, 2])).loss, 10);
    expect(Math.abs(JSON.parse(kept.stdout).loss - JSON.parse(all.stdout).loss)).toBeGreaterThan(1e-4);
    const gradients = readSafetensors(await readFile(out));
    expectSameGradients(gradients, expected.gradients);
    expect(gradients.get(peftTensorName(2, 'down_proj', 'A'))!.data.some((x) => x !== 0)).toBe(true);
  });

  it('fails with exit 1 and a clear message, without a stack trace, on bad input', async () => {
    const writeJson = async (name: string, json: unknown) => {
      await writeFile(path.join(work, name), JSON.stringify(json));
      return path.join(work, name);
    };
    const ragged = await writeJson('ragged.json', {
      input_ids: [
        [1, 2, 3],
        [4, 5],
      ],
    });
    const tooBig = await writeJson('big.json', { input_ids: [[1, 2, model.config.vocabSize]] });
    const deeper = { ...model.config, numHiddenLayers: 5 };
    const foreign = await writeAdapter(
      initLoraAdapter(deeper, { r: 2, alpha: 4, targetModules: ['v_proj'] }, [3, 4], 1),
      'foreign',
    );
    const truncated = path.join(work, 'truncated');
    await mkdir(truncated);
    for (const file of ['config.json', 'model.safetensors', 'tokenizer.json']) {
      await copyFile(path.join(model.dir, file), path.join(truncated, file));
    }
    await truncate(path.join(truncated, 'model.safetensors'), 5000);

    const batch = path.join(work, 'batch.json');
    const out = path.join(work, 'err.safetensors');
    const cases: [string[], RegExp][] = [
      [['--model', path.join(work, 'missing'), '--batch', batch], /missing has no config\.json/],
      [['--model', model.dir, '--batch', ragged], /rows differ in length/],
      [['--model', model.dir, '--batch', tooBig], /outside the vocabulary \[0, 259\)/],
      [
        ['--model', model.dir, '--batch', batch, '--adapter', foreign],
        /adapter has layers 3, 4 that this model variant lacks/,
      ],
      [['--model', truncated, '--batch', batch], /truncated/],
      [['--model', model.dir, '--batch', batch, '--keep', '0,7'], /kept layer 7 is not a layer index/],
      [
        ['--model', model.dir, '--batch', batch, '--engine', 'tpu'],
        /unknown engine "tpu"; available engines: cpu/,
      ],
    ];
    const runs = await Promise.all(cases.map(([args]) => runPrufed(['lora-grad', ...args, '--out', out])));
    runs.forEach((run, i) => {
      expect(run.code, run.stderr).toBe(1);
      expect(run.stderr).toMatch(/^prufed: /);
      expect(run.stderr).toMatch(cases[i][1]);
      expect(run.stderr).not.toMatch(/\n\s+at /);
    });
  });
});
