// `prufed lora-grad --engine webgpu` against `--engine cpu` on a temporary tiny GQA model: the same
// loss and LoRA gradients within f32 rounding. Skips, saying why, where no WebGPU adapter exists.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readSafetensors } from '@prufed/model';
import { makeTempTinyModel } from '@prufed/model/node';
import { acquireNodeDevice } from '@prufed/webgpu/node';
import { afterAll, describe, expect, it } from 'vitest';
import { createEngine } from './engines';
import { runPrufed } from './run-prufed';

const probe = await acquireNodeDevice({ label: 'cli-engines-probe' });
if ('unavailable' in probe) console.warn(`prufed --engine webgpu tests skipped: ${probe.unavailable}`);
else probe.device.destroy();

let work = '';
let modelDir = '';
afterAll(async () => {
  if (work !== '') await rm(work, { recursive: true, force: true });
  if (modelDir !== '') await rm(modelDir, { recursive: true, force: true });
});

describe('engines', () => {
  it('names the engines it knows when asked for another', () => {
    expect(() => createEngine('tpu')).toThrow(/unknown engine "tpu"; available engines: cpu, webgpu/);
  });

  it.skipIf('unavailable' in probe)('lora-grad --engine webgpu equals --engine cpu', async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'prufed-engines-'));
    // HS = 32 / 4 = 8: the WebGPU attention kernels need a head size that is a multiple of 4.
    const model = await makeTempTinyModel({ layers: 3, hidden: 32, heads: 4, kvHeads: 2, seed: 9 });
    modelDir = model.dir;
    const batch = path.join(work, 'batch.json');
    await writeFile(
      batch,
      JSON.stringify({
        input_ids: [
          [256, 104, 101, 108, 108, 111, 32, 119],
          [256, 119, 111, 114, 108, 100, 33, 10],
        ],
        labels: [
          [-100, 104, 101, 108, 108, 111, 32, 119],
          [256, 119, 111, -100, 108, 100, 33, 10],
        ],
      }),
    );
    const run = async (engine: string) => {
      const out = path.join(work, engine, 'grads.safetensors');
      const args = ['lora-grad', '--model', model.dir, '--batch', batch, '--out', out, '--keep', '0,2'];
      const result = await runPrufed([...args, '--engine', engine, '--seed', '4']);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      return { printed: JSON.parse(result.stdout), grads: readSafetensors(await readFile(out)) };
    };
    const cpu = await run('cpu');
    const gpu = await run('webgpu');
    expect(gpu.printed.tokens).toBe(cpu.printed.tokens);
    // f32 on both sides, differing in summation order only: 1e-5 relative (see engine.test.ts).
    expect(Math.abs(gpu.printed.loss - cpu.printed.loss)).toBeLessThan(1e-5 * cpu.printed.loss);
    expect([...gpu.grads.keys()].sort()).toEqual([...cpu.grads.keys()].sort());
    for (const [name, expected] of cpu.grads) {
      const actual = gpu.grads.get(name)!.data;
      const scale = expected.data.reduce((max, x) => Math.max(max, Math.abs(x)), 0);
      const maxDiff = actual.reduce((max, x, i) => Math.max(max, Math.abs(x - expected.data[i])), 0);
      expect(maxDiff, `${name}: max difference vs max |expected| ${scale}`).toBeLessThanOrEqual(1e-5 * scale);
    }
  });
});
