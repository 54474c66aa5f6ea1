// Parity of the SwiGLU kernels with the CPU twins of @prufed/model, on gates wide enough to reach
// both tails of the sigmoid. Skips, saying why, where no WebGPU adapter exists.
import { swigluBackward as swigluBackwardCpu, swigluForward as swigluForwardCpu } from '@prufed/model';
import { afterAll, describe, expect, it } from 'vitest';
import { acquireNodeDevice } from './node-gpu';
import { GpuRuntime } from './runtime';
import { swigluBackward, swigluForward } from './swiglu';
import { assertClose, randomFloats } from './test-support';

const acquired = await acquireNodeDevice({ label: 'swiglu-test' });
const rt = 'unavailable' in acquired ? null : new GpuRuntime(acquired);
if ('unavailable' in acquired) console.warn(`WebGPU swiglu tests skipped: ${acquired.unavailable}`);
afterAll(() => rt?.device.destroy());

describe.skipIf(rt === null)('swiglu on WebGPU', () => {
  it('forward and backward match the CPU twin (N=5, F=77)', async () => {
    const n = 5 * 77;
    const gate = randomFloats(n, 31).map((x) => 12 * x); // (N, F), sigmoid from ~6e-6 to ~1
    const up = randomFloats(n, 32); // (N, F)
    const dout = randomFloats(n, 33); // (N, F)
    const dgate0 = randomFloats(n, 34); // (N, F), accumulated into
    const dup0 = randomFloats(n, 35); // (N, F), accumulated into
    const out = new Float32Array(n);
    const dgate = dgate0.slice();
    const dup = dup0.slice();
    swigluForwardCpu(out, gate, up, n);
    swigluBackwardCpu(dgate, dup, dout, gate, up, n);

    const g = rt!;
    const gateGpu = g.upload('gate', gate);
    const upGpu = g.upload('up', up);
    const outGpu = g.arena.buffer('out', n * 4);
    const dgateGpu = g.upload('dgate', dgate0);
    const dupGpu = g.upload('dup', dup0);
    await swigluForward(g, outGpu, gateGpu, upGpu, n);
    await swigluBackward(g, dgateGpu, dupGpu, g.upload('dout', dout), gateGpu, upGpu, n);
    // f32 exp against the CPU twin's float64 exp: a few ulp per element.
    assertClose(await g.read(outGpu), out, 1e-6, 'out');
    assertClose(await g.read(dgateGpu), dgate, 1e-6, 'dgate');
    assertClose(await g.read(dupGpu), dup, 1e-6, 'dup');

    // accumulate false: dgate and dup are written over what they hold (the sums above)
    const [dgateFresh, dupFresh] = [new Float32Array(n), new Float32Array(n)];
    swigluBackwardCpu(dgateFresh, dupFresh, dout, gate, up, n);
    await swigluBackward(g, dgateGpu, dupGpu, g.upload('dout', dout), gateGpu, upGpu, n, false);
    assertClose(await g.read(dgateGpu), dgateFresh, 1e-6, 'dgate written');
    assertClose(await g.read(dupGpu), dupFresh, 1e-6, 'dup written');
  });

  it('matches silu by hand and rejects short buffers', async () => {
    const g = rt!;
    const out = g.arena.buffer('hand-out', 8);
    await swigluForward(
      g,
      out,
      g.upload('hand-gate', Float32Array.of(0, 1)),
      g.upload('hand-up', Float32Array.of(5, 2)),
      2,
    );
    assertClose(await g.read(out), [0, 2 / (1 + Math.exp(-1))], 1e-6, 'silu(gate) * up by hand');
    await expect(swigluForward(g, out, out, out, 3)).rejects.toThrow(
      /swigluForward \(n=3\): out holds 2 floats but needs 3/,
    );
  });
});
