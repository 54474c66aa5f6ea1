// Parity of the cross-entropy kernels with the CPU twins of @prufed/model: rows longer and shorter
// than a workgroup, masked labels, and a batch with nothing to predict. The per-row losses are
// checked against a float64 log-sum-exp written here. Skips, saying why, without an adapter.
import {
  crossentropyBackward as crossentropyBackwardCpu,
  crossentropyForward as crossentropyForwardCpu,
} from '@prufed/model';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type CrossentropyVariant,
  crossentropyBackward,
  crossentropyForward,
  readLoss,
} from './crossentropy';
import { uploadInt32 } from './elementwise';
import { acquireNodeDevice } from './node-gpu';
import { GpuRuntime } from './runtime';
import { assertClose, randomFloats } from './test-support';

const acquired = await acquireNodeDevice({ label: 'crossentropy-test' });
const rt = 'unavailable' in acquired ? null : new GpuRuntime(acquired);
if ('unavailable' in acquired) console.warn(`WebGPU crossentropy tests skipped: ${acquired.unavailable}`);
afterAll(() => rt?.device.destroy());

/** Labels (B, T) with every third one masked. */
function maskedLabels(B: number, T: number, V: number): Int32Array {
  return Int32Array.from({ length: B * T }, (_, n) => (n % 3 === 1 ? -100 : (n * 37 + 5) % V));
}

/** Runs forward and backward on the GPU; returns loss, per-row losses and dlogits. */
async function runGpu(
  logits: Float32Array,
  labels: Int32Array,
  B: number,
  T: number,
  V: number,
  variant: CrossentropyVariant,
) {
  const g = rt!;
  const N = B * T;
  const result = g.arena.buffer('result', 8);
  const losses = g.arena.buffer('losses', N * 4);
  const lse = g.arena.buffer('lse', N * 4);
  const logitsGpu = g.upload('logits', logits);
  const labelsGpu = uploadInt32(g, 'labels', labels);
  await crossentropyForward(g, result, losses, lse, logitsGpu, labelsGpu, B, T, V, variant);
  await crossentropyBackward(g, logitsGpu, labelsGpu, lse, result, B, T, V);
  return { loss: await readLoss(g, result), losses: await g.read(losses), dlogits: await g.read(logitsGpu) };
}

describe.skipIf(rt === null)('crossentropy on WebGPU', () => {
  for (const [B, T, V, variant] of [
    [3, 5, 300, 'workgroup'],
    [2, 4, 10, 'workgroup'],
    [3, 5, 300, 'serial'],
    [30, 3, 10, 'serial'],
  ] as const) {
    it(`forward (${variant}) and backward match the CPU twin (B=${B}, T=${T}, V=${V})`, async () => {
      const logits = randomFloats(B * T * V, 51).map((x) => 8 * x); // (B, T, V)
      const labels = maskedLabels(B, T, V); // (B, T)
      const expected = crossentropyForwardCpu(logits, labels, B, T, V);
      const dlogits = new Float32Array(B * T * V);
      crossentropyBackwardCpu(dlogits, logits, labels, B, T, V, expected.tokens);
      const rowLosses = Array.from({ length: B * T }, (_, n) => {
        const y = n % T === T - 1 ? -100 : labels[n + 1];
        if (y === -100) return 0;
        const row = logits.subarray(n * V, (n + 1) * V);
        const max = Math.max(...row);
        return max + Math.log(row.reduce((sum, x) => sum + Math.exp(x - max), 0)) - row[y];
      });

      const got = await runGpu(logits, labels, B, T, V, variant);
      expect(got.loss.tokens).toBe(expected.tokens);
      // f32 sums of exp over V <= 300 terms and of <= 90 row losses: ~1e-6 relative.
      assertClose(Float32Array.of(got.loss.loss), [expected.loss], 1e-5, 'loss');
      assertClose(got.losses, rowLosses, 1e-5, 'per-row losses');
      assertClose(got.dlogits, dlogits, 1e-6, 'dlogits');
    });
  }

  it('gives NaN and zero gradients when every target is masked', async () => {
    const [B, T, V] = [2, 3, 7];
    const labels = Int32Array.from({ length: B * T }, (_, n) => (n % T === 0 ? 4 : -100));
    const got = await runGpu(randomFloats(B * T * V, 52), labels, B, T, V, 'workgroup');
    expect(got.loss.tokens).toBe(0);
    expect(got.loss.loss).toBeNaN();
    assertClose(got.dlogits, new Float32Array(B * T * V), 0, 'dlogits');
  });

  it('rejects short buffers', async () => {
    const g = rt!;
    const small = g.arena.buffer('small', 8);
    await expect(crossentropyForward(g, small, small, small, small, small, 1, 2, 3)).rejects.toThrow(
      /crossentropyForward \(B=1, T=2, V=3\): logits holds 2 floats but needs 6/,
    );
  });
});
