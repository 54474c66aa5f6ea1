// The TF.js baseline trains exactly like PruFed's CPU reference engine: same first loss, gradient
// norm, adapter after one AdamW step, and second loss, on a tiny case (TF.js CPU backend in Node).
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';
import { createCpuEngine } from '@prufed/model';
import type { BenchShape } from '@prufed/model/testing';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { caseFromFiles, caseToFiles, makeBenchCase } from './case';
import { createTfjsTrainer } from './tfjs-llama';

const tiny: BenchShape = { name: 'tiny', L: 2, C: 16, NH: 4, NKV: 2, F: 24, V: 40, B: 2, T: 16, R: 4 };

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

describe('createTfjsTrainer', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('matches the CPU engine over two AdamW steps', async () => {
    // Through the files, as the browser runners receive it; B made non-zero so that every
    // gradient (A's included) is non-zero at the first step.
    const c = caseFromFiles(caseToFiles(makeBenchCase(tiny)));
    for (const pair of c.adapter.weights.values()) {
      pair.B.data.forEach((_, i) => {
        pair.B.data[i] = 0.05 * Math.sin(i + 1);
      });
    }
    const cpu = createCpuEngine();
    await cpu.loadVariant(c.weights, { keptLayers: c.keptLayers });
    await cpu.setAdapter(c.adapter);
    const trainer = createTfjsTrainer(c);
    for (let step = 0; step < 2; step++) {
      const want = await cpu.trainStep(c.batch, c.optimizer);
      const got = await trainer.step();
      expect(Math.abs(got.loss - want.loss), `step ${step} loss ${got.loss} vs ${want.loss}`).toBeLessThan(
        1e-5,
      );
      expect(Math.abs(got.gradNorm - want.gradNorm) / want.gradNorm).toBeLessThan(1e-4);
    }
    const want = await cpu.readAdapter();
    const got = await trainer.readAdapter();
    expect(got.size).toBe(want.weights.size);
    for (const [key, pair] of want.weights) {
      const diffA = maxAbsDiff(got.get(key)!.A, pair.A.data);
      const diffB = maxAbsDiff(got.get(key)!.B, pair.B.data);
      expect(Math.max(diffA, diffB), `${key}: A differs by ${diffA}, B by ${diffB}`).toBeLessThan(1e-5);
    }
    trainer.dispose();
  });
});
