// Parity of both matmul kernels with the CPU twin in every layout, on shapes that are not multiples
// of the tiles; the CPU twin itself is checked by hand. Skips, saying why, where no WebGPU adapter exists.
import { afterAll, describe, expect, it } from 'vitest';
import { autotuneMatmul } from './autotune';
import {
  allowsVec4,
  type MatmulLayout,
  matmul,
  matmulProgram,
  matmulReference,
  matmulVariants,
} from './matmul';
import { acquireNodeDevice } from './node-gpu';
import { GpuRuntime } from './runtime';
import { assertClose, randomFloats } from './test-support';

const acquired = await acquireNodeDevice({ label: 'matmul-test' });
const rt = 'unavailable' in acquired ? null : new GpuRuntime(acquired);
if ('unavailable' in acquired) console.warn(`WebGPU matmul tests skipped: ${acquired.unavailable}`);

afterAll(() => rt?.device.destroy());

describe('matmulReference', () => {
  it('matches hand-computed products in every layout', () => {
    const a = Float32Array.of(1, 2, 3, 4); // (2, 2) [[1, 2], [3, 4]]
    const b = Float32Array.of(5, 6, 7, 8); // (2, 2) [[5, 6], [7, 8]]
    const c = new Float32Array(4);
    matmulReference(c, a, b, 2, 2, 2);
    expect([...c]).toEqual([19, 22, 43, 50]);
    matmulReference(c, a, b, 2, 2, 2, { transB: true });
    expect([...c]).toEqual([17, 23, 39, 53]);
    matmulReference(c, a, b, 2, 2, 2, { transA: true });
    expect([...c]).toEqual([26, 30, 38, 44]);
    matmulReference(c, a, b, 2, 2, 2, { transA: true, accumulate: true });
    expect([...c]).toEqual([52, 60, 76, 88]);
  });

  it('rejects buffers too small for the shapes', () => {
    expect(() =>
      matmulReference(new Float32Array(4), new Float32Array(3), new Float32Array(4), 2, 2, 2),
    ).toThrow(/a holds 3 floats but needs 4/);
  });
});

const layouts: [string, MatmulLayout][] = [
  ['C = A B', {}],
  ['C = A B^T', { transB: true }],
  ['C = A^T B', { transA: true }],
  ['C += 0.5 A B^T', { transB: true, accumulate: true, alpha: 0.5 }],
  ['C += -2 A^T B', { transA: true, accumulate: true, alpha: -2 }],
];

/** Each kernel on shapes that are not multiples of its tile; vec4 needs aligned rows, and gets a K tail where it allows one. */
const kernels = [
  { variant: 'blocked', vec4: false, shape: () => [70, 67, 37] },
  { variant: 'blocked', vec4: true, shape: (l: MatmulLayout) => [68, 60, l.transA && !l.transB ? 37 : 36] },
  { variant: 'blocked8', vec4: true, shape: (l: MatmulLayout) => [68, 60, l.transA && !l.transB ? 37 : 36] },
  { variant: 'tiled', vec4: false, shape: () => [70, 67, 37] },
] as const;

describe.skipIf(rt === null)('matmul on WebGPU', () => {
  for (const { variant, vec4, shape } of kernels) {
    for (const [name, layout] of layouts) {
      const [M, N, K] = shape(layout);
      const kernel = matmulProgram(variant, layout, vec4);
      it(`${kernel.entryPoint}: ${name} matches the CPU twin (M=${M}, N=${N}, K=${K})`, async () => {
        expect(allowsVec4(M, N, K, layout)).toBe(vec4);
        const a = randomFloats(M * K, 1);
        const b = randomFloats(K * N, 2);
        const c0 = randomFloats(M * N, 3);
        const expected = c0.slice();
        matmulReference(expected, a, b, M, N, K, layout);
        const c = rt!.upload('test/c', c0);
        await rt!.dispatch(kernel, [rt!.upload('test/a', a), rt!.upload('test/b', b), c], {
          M,
          N,
          K,
          alpha: layout.alpha ?? 1,
        });
        assertClose(await rt!.read(c), expected, 1e-5, `${kernel.entryPoint} ${name}`);
      });
    }
  }

  // LoRA's shapes (R = 8 columns of x A^T, R = 8 rows of dA) run on workgroups fitted to them.
  const skinny: [number, number, number, MatmulLayout][] = [
    [68, 8, 36, { transB: true }],
    [8, 60, 36, { transA: true, accumulate: true, alpha: 0.5 }],
    [68, 4, 37, {}],
    [5, 6, 36, { transB: true }],
  ];
  for (const variant of ['blocked', 'blocked8'] as const) {
    for (const [M, N, K, layout] of skinny) {
      it(`${variant} on a skinny C matches the CPU twin (M=${M}, N=${N}, K=${K})`, async () => {
        const a = randomFloats(M * K, 8);
        const b = randomFloats(K * N, 9);
        const c0 = randomFloats(M * N, 10);
        const expected = c0.slice();
        matmulReference(expected, a, b, M, N, K, layout);
        const c = rt!.upload('test/c', c0);
        await matmul(rt!, c, rt!.upload('test/a', a), rt!.upload('test/b', b), M, N, K, layout, variant);
        assertClose(await rt!.read(c), expected, 1e-5, `${variant} skinny M=${M} N=${N} K=${K}`);
      });
    }
  }

  it('records several dependent matmuls in one submission (D = (A B) B^T)', async () => {
    const [M, N, K] = [9, 5, 6];
    const a = randomFloats(M * K, 4);
    const b = randomFloats(K * N, 5);
    const c = new Float32Array(M * N);
    const d = new Float32Array(M * K);
    matmulReference(c, a, b, M, N, K);
    matmulReference(d, c, b, M, K, N, { transB: true });
    const cGpu = rt!.arena.buffer('test/chain-c', M * N * 4);
    const dGpu = rt!.arena.buffer('test/chain-d', M * K * 4);
    const bGpu = rt!.upload('test/chain-b', b);
    await matmul(rt!, cGpu, rt!.upload('test/chain-a', a), bGpu, M, N, K);
    await matmul(rt!, dGpu, cGpu, bGpu, M, K, N, { transB: true });
    assertClose(await rt!.read(dGpu), d, 1e-5, 'chained matmuls');
  });

  it('creates no buffers or pipelines in a repeated step', async () => {
    const [M, N, K] = [16, 12, 8];
    const step = async () => {
      const x = rt!.upload('step/x', randomFloats(M * K, 6));
      const w = rt!.upload('step/w', randomFloats(N * K, 7));
      const y = rt!.arena.buffer('step/y', M * N * 4);
      await matmul(rt!, y, x, w, M, N, K, { transB: true });
      await matmul(rt!, y, x, w, M, N, K, { transB: true, accumulate: true });
      return rt!.read(y);
    };
    await step();
    const before = rt!.counters();
    await step();
    const after = rt!.counters();
    expect(after.buffersCreated).toBe(before.buffersCreated);
    expect(after.pipelinesCompiled).toBe(before.pipelinesCompiled);
    expect(after.dispatches).toBe(before.dispatches + 2);
  });

  it('autotunes once per adapter and remembers the winner', async () => {
    const store = new Map<string, string>();
    const shape = { M: 64, N: 64, K: 64 };
    const first = await autotuneMatmul(rt!, { store, shape, repetitions: 1 });
    expect(first.fromStore).toBe(false);
    expect(Object.keys(first.timings).sort()).toEqual([...matmulVariants].sort());
    expect(rt!.matmulVariant).toBe(first.variant);
    const second = await autotuneMatmul(rt!, { store, shape });
    expect(second).toEqual({ variant: first.variant, timings: {}, fromStore: true });
    expect([...store.keys()]).toEqual([`prufed/matmul-variant/${rt!.ctx.adapterKey}`]);
  });

  it('rejects a shape larger than the buffers', async () => {
    const small = rt!.arena.buffer('test/small', 16);
    await expect(matmul(rt!, small, small, small, 3, 3, 3)).rejects.toThrow(/holds 4 floats but needs 9/);
  });
});
