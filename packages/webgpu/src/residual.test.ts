// Checks of the residual kernels against plain loops, including a length past 65535 workgroups
// (the dispatch folds into a second dimension). Skips, saying why, where no WebGPU adapter exists.
import { InputError } from '@prufed/model';
import { afterAll, describe, expect, it } from 'vitest';
import { elementwiseGrid } from './elementwise';
import { acquireNodeDevice } from './node-gpu';
import { residualAccumulate, residualAdd } from './residual';
import { GpuRuntime } from './runtime';
import { assertClose, randomFloats } from './test-support';

const acquired = await acquireNodeDevice({ label: 'residual-test' });
const rt = 'unavailable' in acquired ? null : new GpuRuntime(acquired);
if ('unavailable' in acquired) console.warn(`WebGPU residual tests skipped: ${acquired.unavailable}`);
afterAll(() => rt?.device.destroy());

describe('elementwiseGrid', () => {
  it('covers n elements within 65535 workgroups per dimension', () => {
    expect(elementwiseGrid(0, 64)).toEqual([1, 1, 1]);
    expect(elementwiseGrid(130, 64)).toEqual([3, 1, 1]);
    expect(elementwiseGrid(65535 * 64 + 1, 64)).toEqual([65535, 2, 1]);
  });
});

describe.skipIf(rt === null)('residual on WebGPU', () => {
  // 65535 * 64 + 1000 floats need a second row of workgroups.
  for (const n of [100, 65535 * 64 + 1000]) {
    it(`add and accumulate match a plain loop (n=${n})`, async () => {
      const a = randomFloats(n, 41); // (n)
      const b = randomFloats(n, 42); // (n)
      const g = rt!;
      const aGpu = g.upload('a', a);
      const bGpu = g.upload('b', b);
      const out = g.arena.buffer('out', n * 4);
      await residualAdd(g, out, aGpu, bGpu, n);
      await residualAccumulate(g, aGpu, bGpu, n);
      await residualAccumulate(g, aGpu, bGpu, n);
      const sum = a.map((x, i) => x + b[i]);
      assertClose(await g.read(out), sum, 0, 'out = a + b');
      assertClose(
        await g.read(aGpu),
        sum.map((x, i) => x + b[i]),
        0,
        'a += b twice',
      );
    });
  }

  it('rejects an output bound twice and short buffers', async () => {
    const g = rt!;
    const x = g.arena.buffer('x', 8);
    await expect(residualAdd(g, x, x, g.arena.buffer('y', 8), 2)).rejects.toThrow(InputError);
    await expect(residualAccumulate(g, x, g.arena.buffer('y', 8), 3)).rejects.toThrow(
      /residualAccumulate \(n=3\): acc holds 2 floats but needs 3/,
    );
  });
});
