// Parity of the RMSNorm kernels with the CPU twins of @prufed/model, on rows longer and shorter
// than a workgroup. Skips, saying why, where no WebGPU adapter exists.
import { rmsnormBackward as rmsnormBackwardCpu, rmsnormForward as rmsnormForwardCpu } from '@prufed/model';
import { afterAll, describe, expect, it } from 'vitest';
import { acquireNodeDevice } from './node-gpu';
import { rmsnormBackward, rmsnormForward } from './rmsnorm';
import { GpuRuntime } from './runtime';
import { assertClose, randomFloats } from './test-support';

const acquired = await acquireNodeDevice({ label: 'rmsnorm-test' });
const rt = 'unavailable' in acquired ? null : new GpuRuntime(acquired);
if ('unavailable' in acquired) console.warn(`WebGPU rmsnorm tests skipped: ${acquired.unavailable}`);
afterAll(() => rt?.device.destroy());

describe.skipIf(rt === null)('rmsnorm on WebGPU', () => {
  for (const [N, C] of [
    [5, 150],
    [3, 7],
  ]) {
    it(`forward and backward match the CPU twin (N=${N}, C=${C})`, async () => {
      const eps = 1e-5;
      const inp = randomFloats(N * C, 11); // (N, C)
      const weight = randomFloats(C, 12); // (C)
      const dout = randomFloats(N * C, 13); // (N, C)
      const dinp0 = randomFloats(N * C, 14); // (N, C), accumulated into
      const dweight0 = randomFloats(C, 15); // (C), accumulated into
      const out = new Float32Array(N * C);
      const rstd = new Float32Array(N);
      const dinp = dinp0.slice();
      const dweight = dweight0.slice();
      rmsnormForwardCpu(out, rstd, inp, weight, N, C, eps);
      rmsnormBackwardCpu(dinp, dweight, dout, inp, weight, rstd, N, C);

      const g = rt!;
      const inpGpu = g.upload('inp', inp);
      const weightGpu = g.upload('weight', weight);
      const outGpu = g.arena.buffer('out', N * C * 4);
      const rstdGpu = g.arena.buffer('rstd', N * 4);
      const dinpGpu = g.upload('dinp', dinp0);
      const dweightGpu = g.upload('dweight', dweight0);
      await rmsnormForward(g, outGpu, rstdGpu, inpGpu, weightGpu, N, C, eps);
      await rmsnormBackward(g, dinpGpu, dweightGpu, g.upload('dout', dout), inpGpu, weightGpu, rstdGpu, N, C);
      assertClose(await g.read(outGpu), out, 1e-5, 'out');
      assertClose(await g.read(rstdGpu), rstd, 1e-5, 'rstd');
      assertClose(await g.read(dinpGpu), dinp, 1e-5, 'dinp');
      assertClose(await g.read(dweightGpu), dweight, 1e-5, 'dweight');

      // accumulateWeight false: dweight is written over what it holds (the sum above); dinp still adds
      const [dinpFresh, dweightFresh] = [dinp.slice(), new Float32Array(C)];
      rmsnormBackwardCpu(dinpFresh, dweightFresh, dout, inp, weight, rstd, N, C);
      const doutGpu = g.upload('dout', dout);
      await rmsnormBackward(g, dinpGpu, dweightGpu, doutGpu, inpGpu, weightGpu, rstdGpu, N, C, false);
      assertClose(await g.read(dinpGpu), dinpFresh, 1e-5, 'dinp added again');
      assertClose(await g.read(dweightGpu), dweightFresh, 1e-5, 'dweight written');
    });
  }

  it('leaves a frozen weight alone and rejects short buffers', async () => {
    const g = rt!;
    const buffer = g.arena.buffer('small', 8);
    await expect(rmsnormForward(g, buffer, buffer, buffer, buffer, 1, 4, 1e-5)).rejects.toThrow(
      /rmsnormForward \(N=1, C=4\): out holds 2 floats but needs 4/,
    );
    const x = g.upload('x', Float32Array.of(1, 2));
    const dinp = g.upload('frozen-dinp', Float32Array.of(0, 0));
    const rstd = g.upload('frozen-rstd', Float32Array.of(0.5));
    await rmsnormBackward(g, dinp, null, x, x, x, rstd, 1, 2);
    // By hand: g = dout * w = (1, 4), sum(g * inp) = 9, k = 0.125 * 9 / 2; dinp = 0.5 g - k inp.
    assertClose(await g.read(dinp), [0.5 - 0.5625, 2 - 1.125], 1e-6, 'dinp by hand');
  });
});
