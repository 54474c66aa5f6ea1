// Parity of the embedding kernels with the CPU twins of @prufed/model, with repeated token ids (the
// backward's scatter-add) and more channels than a workgroup. Skips, saying why, without an adapter.
import {
  embeddingBackward as embeddingBackwardCpu,
  embeddingForward as embeddingForwardCpu,
} from '@prufed/model';
import { afterAll, describe, expect, it } from 'vitest';
import { uploadInt32 } from './elementwise';
import { embeddingBackward, embeddingForward } from './embedding';
import { acquireNodeDevice } from './node-gpu';
import { GpuRuntime } from './runtime';
import { assertClose, randomFloats } from './test-support';

const acquired = await acquireNodeDevice({ label: 'embedding-test' });
const rt = 'unavailable' in acquired ? null : new GpuRuntime(acquired);
if ('unavailable' in acquired) console.warn(`WebGPU embedding tests skipped: ${acquired.unavailable}`);
afterAll(() => rt?.device.destroy());

describe.skipIf(rt === null)('embedding on WebGPU', () => {
  for (const [N, C, V] of [
    [9, 130, 4],
    [2, 3, 50],
  ]) {
    it(`forward and backward match the CPU twin (N=${N}, C=${C}, V=${V})`, async () => {
      // Ids cycle through a few rows so that N > V repeats some: their gradients must add up.
      const tokens = Int32Array.from({ length: N }, (_, n) => (n * 7 + 3) % Math.min(V, 5)); // (N)
      const wte = randomFloats(V * C, 21); // (V, C)
      const dout = randomFloats(N * C, 22); // (N, C)
      const dwte0 = randomFloats(V * C, 23); // (V, C), accumulated into
      const out = new Float32Array(N * C);
      const dwte = dwte0.slice();
      embeddingForwardCpu(out, tokens, wte, N, C);
      embeddingBackwardCpu(dwte, dout, tokens, N, C);

      const g = rt!;
      const tokensGpu = uploadInt32(g, 'tokens', tokens);
      const outGpu = g.arena.buffer('out', N * C * 4);
      const dwteGpu = g.upload('dwte', dwte0);
      await embeddingForward(g, outGpu, tokensGpu, g.upload('wte', wte), N, C);
      await embeddingBackward(g, dwteGpu, g.upload('dout', dout), tokensGpu, N, C);
      // The gather is a copy and the scatter sums in the CPU twin's order: both exact.
      assertClose(await g.read(outGpu), out, 0, 'out');
      assertClose(await g.read(dwteGpu), dwte, 0, 'dwte');
    });
  }

  it('adds repeated tokens by hand and rejects short buffers', async () => {
    const g = rt!;
    const tokens = uploadInt32(g, 'hand-tokens', Int32Array.of(1, 0, 1));
    const dwte = g.upload('hand-dwte', Float32Array.of(0, 0, 10, 20)); // (V=2, C=2)
    await embeddingBackward(g, dwte, g.upload('hand-dout', Float32Array.of(1, 2, 3, 4, 5, 6)), tokens, 3, 2);
    assertClose(await g.read(dwte), [3, 4, 10 + 1 + 5, 20 + 2 + 6], 0, 'dwte by hand');
    await expect(embeddingForward(g, g.arena.buffer('short', 8), tokens, dwte, 3, 2)).rejects.toThrow(
      /embeddingForward \(N=3, C=2\): out holds 2 floats but needs 6/,
    );
  });
});
