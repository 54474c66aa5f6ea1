// Program descriptors (cache keys, uniform packing, WGSL loading) and the pipeline cache's reuse
// and WGSL dump, the latter on Node's WebGPU when an adapter exists.
import { afterAll, describe, expect, it, vi } from 'vitest';
import { BufferArena } from './buffer-arena';
import { matmulProgram } from './matmul';
import { acquireNodeDevice } from './node-gpu';
import { PipelineCache } from './pipeline-cache';
import { loadWgsl, packUniforms, programKey, uniformByteSize } from './program';

describe('program descriptors', () => {
  it('key on the shader file, entry point and compile-time constants only', () => {
    const plain = programKey(matmulProgram('blocked'));
    expect(plain).toBe(
      'matmul_blocked:matmul.wgsl:matmul_blocked:ACCUMULATE=false,TRANS_A=false,TRANS_B=false,WG_X=8,WG_Y=8',
    );
    expect(programKey(matmulProgram('blocked', { transB: true }))).not.toBe(plain);
    expect(programKey(matmulProgram('tiled'))).not.toBe(plain);
    expect(programKey(matmulProgram('blocked'))).toBe(plain);
  });

  it('pack uniforms in struct order as little-endian u32 and f32, rounded to 16 bytes', () => {
    const program = matmulProgram('tiled');
    const view = new DataView(new ArrayBuffer(256));
    packUniforms(program, { M: 3, N: 0x01020304, K: 5, alpha: 2 }, view);
    // alpha 2 as f32 is 0x40000000.
    expect([...new Uint8Array(view.buffer, 0, 16)]).toEqual([
      3, 0, 0, 0, 4, 3, 2, 1, 5, 0, 0, 0, 0, 0, 0, 0x40,
    ]);
    expect(uniformByteSize(program)).toBe(16);
    expect(() => packUniforms(program, { M: 1, N: 1 }, view)).toThrow(/uniform "K" was not given a value/);
  });

  it('dispatch enough workgroups to cover C with 4x4 blocks per invocation', () => {
    expect(matmulProgram('blocked').dispatch({ M: 33, N: 64, K: 1 })).toEqual([2, 2, 1]);
    expect(matmulProgram('tiled').dispatch({ M: 65, N: 1, K: 1 })).toEqual([1, 2, 1]);
  });

  it('fit register-blocked workgroups to a skinny C: its narrow side, 16 invocations in all', () => {
    const wg = (p: ReturnType<typeof matmulProgram>) => [p.constants.WG_X, p.constants.WG_Y];
    const xAt = matmulProgram('blocked8', { transB: true }, true, { M: 256, N: 8 }); // (N, R) = x A^T
    expect(wg(xAt)).toEqual([1, 16]);
    expect(xAt.dispatch({ M: 256, N: 8, K: 256 })).toEqual([1, 2, 1]);
    const dA = matmulProgram('blocked', { transA: true }, true, { M: 8, N: 768 }); // (R, IN)
    expect(wg(dA)).toEqual([8, 2]);
    expect(dA.dispatch({ M: 8, N: 768, K: 256 })).toEqual([24, 1, 1]);
    expect(wg(matmulProgram('blocked', {}, false, { M: 256, N: 256 }))).toEqual([8, 8]);
    expect(wg(matmulProgram('tiled', {}, false, { M: 256, N: 8 }))).toEqual([16, 16]);
    expect(programKey(xAt)).not.toBe(programKey(matmulProgram('blocked8', { transB: true }, true)));
  });

  it('load the WGSL file next to the descriptor', async () => {
    const source = await loadWgsl(matmulProgram('blocked').source);
    expect(source).toMatch(/fn matmul_blocked\(/);
    expect(source).toMatch(/fn matmul_tiled\(/);
  });
});

const ctx = await acquireNodeDevice({ label: 'program-test' });
if ('unavailable' in ctx) console.warn(`WebGPU pipeline cache tests skipped: ${ctx.unavailable}`);
afterAll(() => {
  if (!('unavailable' in ctx)) ctx.device.destroy();
});

describe.skipIf('unavailable' in ctx)('BufferArena', () => {
  it('returns the same labelled buffer for the same name and size, and counts what it creates', () => {
    if ('unavailable' in ctx) return;
    const arena = new BufferArena(ctx.device, 'arena-test');
    const x = arena.buffer('x', 10);
    expect([x.size, x.label]).toEqual([12, 'arena-test/x']);
    expect(arena.buffer('x', 10)).toBe(x);
    expect([arena.created, arena.bytes]).toEqual([1, 12]);
    const bigger = arena.buffer('x', 40);
    expect(bigger).not.toBe(x);
    expect([arena.created, arena.bytes]).toEqual([2, 40]);
    expect(arena.nextUniform()).not.toBe(arena.nextUniform());
    arena.restartUniforms();
    expect(arena.nextUniform().label).toBe('arena-test/uniforms/0');
    arena.destroy();
    expect(arena.bytes).toBe(0);
  });
});

describe.skipIf('unavailable' in ctx)('PipelineCache', () => {
  it('compiles each program once and dumps its WGSL when asked', async () => {
    if ('unavailable' in ctx) return;
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const cache = new PipelineCache(ctx, { dumpWgsl: true });
    const first = await cache.get(matmulProgram('blocked'));
    const again = await cache.get(matmulProgram('blocked'));
    expect(again).toBe(first);
    expect(cache.compiled).toBe(1);
    expect(first.pipeline.label).toBe(programKey(matmulProgram('blocked')));
    expect(log).toHaveBeenCalledTimes(1);
    expect(String(log.mock.calls[0][0])).toMatch(
      /^\/\/ ---- WGSL of pipeline matmul_blocked:.*\n[\s\S]*fn matmul_blocked/,
    );
    log.mockRestore();
  });

  it('reports WGSL compilation errors with the compiler messages', async () => {
    if ('unavailable' in ctx) return;
    const cache = new PipelineCache(ctx);
    const broken = { ...matmulProgram('blocked'), entryPoint: 'no_such_entry' };
    await expect(cache.get(broken)).rejects.toThrow(
      /compiling kernel matmul_blocked:matmul.wgsl:no_such_entry:.* failed: .*no_such_entry/,
    );
    expect(cache.compiled).toBe(0);
  });
});
