// Parity of the RoPE kernels with the CPU twins of @prufed/model (q-like and k-like head counts), and
// a hand-computed rotation. Skips, saying why, where no WebGPU adapter exists.
import { ropeBackward as ropeBackwardCpu, ropeForward as ropeForwardCpu, ropeTables } from '@prufed/model';
import { afterAll, describe, expect, it } from 'vitest';
import { acquireNodeDevice } from './node-gpu';
import { ropeBackward, ropeForward, uploadRopeTables } from './rope';
import { GpuRuntime } from './runtime';
import { assertClose, randomFloats } from './test-support';

const acquired = await acquireNodeDevice({ label: 'rope-test' });
const rt = 'unavailable' in acquired ? null : new GpuRuntime(acquired);
if ('unavailable' in acquired) console.warn(`WebGPU rope tests skipped: ${acquired.unavailable}`);
afterAll(() => rt?.device.destroy());

describe.skipIf(rt === null)('rope on WebGPU', () => {
  // H * HS/2 = 3 * 6 = 18 pairs per token (a partial workgroup), 4 * 3 * 34 / 2 = 204 (several).
  for (const [B, T, H, HS] of [
    [2, 5, 3, 12],
    [1, 7, 4, 34],
  ]) {
    it(`forward and backward match the CPU twin (B=${B}, T=${T}, H=${H}, HS=${HS})`, async () => {
      const theta = 10000;
      const cos = new Float32Array((T * HS) / 2); // (T, HS/2)
      const sin = new Float32Array((T * HS) / 2); // (T, HS/2)
      ropeTables(cos, sin, T, HS, theta);
      const x0 = randomFloats(B * T * H * HS, 21); // (B, T, H, HS)
      const dx0 = randomFloats(B * T * H * HS, 22); // (B, T, H, HS)
      const x = x0.slice();
      const dx = dx0.slice();
      ropeForwardCpu(x, cos, sin, B, T, H, HS);
      ropeBackwardCpu(dx, cos, sin, B, T, H, HS);

      const g = rt!;
      const tables = uploadRopeTables(g, 'rope', T, HS, theta);
      const xGpu = g.upload('x', x0);
      const dxGpu = g.upload('dx', dx0);
      await ropeForward(g, xGpu, tables.cos, tables.sin, B, T, H, HS);
      await ropeBackward(g, dxGpu, tables.cos, tables.sin, B, T, H, HS);
      // One rotation per element, the GPU's cos and sin of f32 tables: rounding only.
      assertClose(await g.read(xGpu), x, 1e-6, 'x');
      assertClose(await g.read(dxGpu), dx, 1e-6, 'dx');
    });
  }

  it('rotates a pair by hand and rejects bad shapes', async () => {
    const g = rt!;
    // HS = 2, theta irrelevant for i = 0: angle t. Token t = 1 turns (1, 0) to (cos 1, sin 1).
    const tables = uploadRopeTables(g, 'rope-hand', 2, 2, 10000);
    const x = g.upload('hand', Float32Array.of(1, 0, 1, 0)); // (B=1, T=2, H=1, HS=2)
    await ropeForward(g, x, tables.cos, tables.sin, 1, 2, 1, 2);
    assertClose(await g.read(x), [1, 0, Math.cos(1), Math.sin(1)], 1e-6, 'rotated by hand');
    await expect(ropeForward(g, x, tables.cos, tables.sin, 1, 2, 1, 3)).rejects.toThrow(/must be even/);
    await expect(ropeBackward(g, x, tables.cos, tables.sin, 2, 2, 1, 2)).rejects.toThrow(
      /ropeBackward \(B=2, T=2, H=1, HS=2\): x holds 4 floats but needs 8/,
    );
  });
});
