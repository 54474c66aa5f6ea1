// Parity of the fused LoRA linear with the CPU twins of @prufed/model: with every gradient, without
// LoRA, and with some gradients skipped, on sizes that are not multiples of the matmul tiles.
// Skips, saying why, where no WebGPU adapter exists.
import {
  type LoraLinearWeights,
  loraLinearBackward as loraLinearBackwardCpu,
  loraLinearForward as loraLinearForwardCpu,
} from '@prufed/model';
import { afterAll, describe, expect, it } from 'vitest';
import { type GpuLoraLinearWeights, loraLinearBackward, loraLinearForward } from './lora-linear';
import { acquireNodeDevice } from './node-gpu';
import { GpuRuntime } from './runtime';
import { assertClose, randomFloats } from './test-support';

const acquired = await acquireNodeDevice({ label: 'lora-linear-test' });
const rt = 'unavailable' in acquired ? null : new GpuRuntime(acquired);
if ('unavailable' in acquired) console.warn(`WebGPU lora-linear tests skipped: ${acquired.unavailable}`);
afterAll(() => rt?.device.destroy());

const [N, IN, OUT, R] = [10, 13, 9, 3];
const scale = 16 / R;

const cases = [
  { name: 'LoRA with every gradient', lora: true, dinp: true, dweight: true, dA: true, dB: true },
  {
    name: 'LoRA, frozen base, no dinp (first layer)',
    lora: true,
    dinp: false,
    dweight: false,
    dA: true,
    dB: true,
  },
  { name: 'LoRA with only dB', lora: true, dinp: true, dweight: false, dA: false, dB: false },
  { name: 'plain linear', lora: false, dinp: true, dweight: true, dA: false, dB: false },
];

describe.skipIf(rt === null)('lora linear on WebGPU', () => {
  for (const c of cases) {
    it(`${c.name} matches the CPU twin (N=${N}, IN=${IN}, OUT=${OUT}, R=${R})`, async () => {
      const inp = randomFloats(N * IN, 41); // (N, IN)
      const weight = randomFloats(OUT * IN, 42); // (OUT, IN)
      const A = randomFloats(R * IN, 43); // (R, IN)
      const B = randomFloats(OUT * R, 44); // (OUT, R); random, not zero, so that every path counts
      const dout = randomFloats(N * OUT, 45); // (N, OUT)
      const dinp0 = randomFloats(N * IN, 46); // (N, IN), accumulated into
      const dweight0 = randomFloats(OUT * IN, 47); // (OUT, IN), accumulated into
      const dA0 = randomFloats(R * IN, 48); // (R, IN), accumulated into
      const dB0 = randomFloats(OUT * R, 49); // (OUT, R), accumulated into
      const cpuLora: LoraLinearWeights = {
        A,
        B,
        dA: c.dA ? dA0.slice() : null,
        dB: c.dB ? dB0.slice() : null,
        R,
        scale,
      };
      const out = new Float32Array(N * OUT);
      const loraU = new Float32Array(N * R);
      const dloraU = new Float32Array(N * R);
      const dinp = c.dinp ? dinp0.slice() : null;
      const dweight = c.dweight ? dweight0.slice() : null;
      loraLinearForwardCpu(out, loraU, inp, weight, c.lora ? cpuLora : null, N, IN, OUT);
      loraLinearBackwardCpu(
        dinp,
        dweight,
        dloraU,
        dout,
        loraU,
        inp,
        weight,
        c.lora ? cpuLora : null,
        N,
        IN,
        OUT,
      );

      const g = rt!;
      const dAGpu = c.dA ? g.upload('dA', dA0) : null;
      const dBGpu = c.dB ? g.upload('dB', dB0) : null;
      const gpuLora: GpuLoraLinearWeights = {
        A: g.upload('A', A),
        B: g.upload('B', B),
        dA: dAGpu,
        dB: dBGpu,
        R,
        scale,
      };
      const outGpu = g.upload('out', randomFloats(N * OUT, 50)); // overwritten
      const loraUGpu = g.arena.buffer('loraU', N * R * 4);
      const dloraUGpu = g.arena.buffer('dloraU', N * R * 4);
      const dinpGpu = c.dinp ? g.upload('dinp', dinp0) : null;
      const dweightGpu = c.dweight ? g.upload('dweight', dweight0) : null;
      const [inpGpu, weightGpu] = [g.upload('inp', inp), g.upload('weight', weight)];
      const loraArg = c.lora ? gpuLora : null;
      await loraLinearForward(g, outGpu, loraUGpu, inpGpu, weightGpu, loraArg, N, IN, OUT);
      await loraLinearBackward(
        g,
        dinpGpu,
        dweightGpu,
        dloraUGpu,
        g.upload('dout', dout),
        loraUGpu,
        inpGpu,
        weightGpu,
        loraArg,
        N,
        IN,
        OUT,
      );
      // f32 sums of at most max(IN, OUT, N) = 13 products of O(1) terms against float64 sums.
      assertClose(await g.read(outGpu), out, 1e-5, 'out');
      if (c.lora) assertClose(await g.read(loraUGpu), loraU, 1e-5, 'loraU');
      if (c.lora && c.dA) assertClose(await g.read(dloraUGpu), dloraU, 1e-5, 'dloraU');
      if (dinpGpu !== null) assertClose(await g.read(dinpGpu), dinp!, 1e-5, 'dinp');
      if (dweightGpu !== null) assertClose(await g.read(dweightGpu), dweight!, 1e-5, 'dweight');
      if (dAGpu !== null) assertClose(await g.read(dAGpu), cpuLora.dA!, 1e-5, 'dA');
      if (dBGpu !== null) assertClose(await g.read(dBGpu), cpuLora.dB!, 1e-5, 'dB');
    });
  }

  it('allocates no buffer and compiles no pipeline in a repeated step', async () => {
    const g = rt!;
    const buffer = (name: string, n: number) => g.arena.buffer(`step/${name}`, n * 4);
    const lora: GpuLoraLinearWeights = {
      A: buffer('A', R * IN),
      B: buffer('B', OUT * R),
      dA: buffer('dA', R * IN),
      dB: buffer('dB', OUT * R),
      R,
      scale,
    };
    const [inp, weight, out, dout, dinp] = [
      buffer('inp', N * IN),
      buffer('weight', OUT * IN),
      buffer('out', N * OUT),
      buffer('dout', N * OUT),
      buffer('dinp', N * IN),
    ];
    const [u, du] = [buffer('u', N * R), buffer('du', N * R)];
    const step = async () => {
      await loraLinearForward(g, out, u, inp, weight, lora, N, IN, OUT);
      await loraLinearBackward(g, dinp, null, du, dout, u, inp, weight, lora, N, IN, OUT);
      await g.finish();
    };
    await step();
    const before = g.counters();
    await step();
    const after = g.counters();
    expect(after.buffersCreated).toBe(before.buffersCreated);
    expect(after.pipelinesCompiled).toBe(before.pipelinesCompiled);
    expect(after.dispatches - before.dispatches).toBe(3 + 5);
  });

  it('adds scale * u B^T by hand and rejects missing rank buffers', async () => {
    const g = rt!;
    // N = IN = OUT = 1, R = 2, W = 0: y = scale * x (A . B) = 0.5 * 2 * (1 * 3 + 2 * 4) = 11.
    const one = (name: string, ...values: number[]) => g.upload(name, Float32Array.from(values));
    const lora: GpuLoraLinearWeights = {
      A: one('hA', 1, 2),
      B: one('hB', 3, 4),
      dA: null,
      dB: null,
      R: 2,
      scale: 0.5,
    };
    const out = one('hout', 0);
    const u = g.arena.buffer('hu', 8);
    await loraLinearForward(g, out, u, one('hx', 2), one('hw', 0), lora, 1, 1, 1);
    assertClose(await g.read(out), [11], 1e-6, 'y by hand');
    assertClose(await g.read(u), [2, 4], 1e-6, 'u by hand');
    await expect(loraLinearForward(g, out, null, out, out, lora, 1, 1, 1)).rejects.toThrow(
      /loraU \(N, R\) is needed when the layer has LoRA/,
    );
    await expect(loraLinearForward(g, out, u, out, out, { ...lora, R: 0 }, 1, 1, 1)).rejects.toThrow(
      /rank must be a positive integer/,
    );
  });
});
