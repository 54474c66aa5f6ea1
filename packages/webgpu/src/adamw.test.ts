// Parity of the GPU AdamW step and global gradient norm with the CPU twins of @prufed/model, over
// two gradient buffers (as LoRA and base weights), one longer than the norm's 16384 partial sums
// per buffer, so that its first pass loops; and over tensors packed into one buffer at aligned
// offsets (the engine's LoRA layout), whose zero padding must stay zero and add nothing to the
// norm. Skips, saying why, where no WebGPU adapter exists.
import {
  type AdamWConfig,
  adamwUpdate as adamwUpdateCpu,
  ConfigError,
  clipCoefficient,
  defaultAdamW,
  sumOfSquares,
} from '@prufed/model';
import { afterAll, describe, expect, it } from 'vitest';
import { adamwUpdate, globalGradNorm, gradNormPartials, readGradNorm } from './adamw';
import { packedOffsets } from './engine/model';
import { acquireNodeDevice } from './node-gpu';
import { GpuRuntime } from './runtime';
import { assertClose, randomFloats } from './test-support';

const acquired = await acquireNodeDevice({ label: 'adamw-test' });
const rt = 'unavailable' in acquired ? null : new GpuRuntime(acquired);
if ('unavailable' in acquired) console.warn(`WebGPU adamw tests skipped: ${acquired.unavailable}`);
afterAll(() => rt?.device.destroy());

describe('gradNormPartials', () => {
  it('gives one partial sum per float, at most 16384', () => {
    expect([0, 1, 300, 16_385, 10 ** 7].map(gradNormPartials)).toEqual([1, 1, 300, 16_384, 16_384]);
  });
});

describe.skipIf(rt === null)('adamw on WebGPU', () => {
  // maxGradNorm 2 clips (the norm of these gradients is ~150), 1000 does not, 0 disables clipping.
  for (const maxGradNorm of [2, 1000, 0]) {
    it(`three steps match the CPU twin (maxGradNorm=${maxGradNorm})`, async () => {
      const config: AdamWConfig = { ...defaultAdamW, lr: 0.01, weightDecay: 0.1, maxGradNorm };
      const sizes = [1000, 70_000];
      const cpu = sizes.map((n, k) => ({
        params: randomFloats(n, 61 + k),
        m: new Float32Array(n),
        v: new Float32Array(n),
      }));
      const g = rt!;
      const gpu = sizes.map((n, k) => ({
        n,
        params: g.upload(`params${k}`, cpu[k].params),
        m: g.upload(`m${k}`, cpu[k].m),
        v: g.upload(`v${k}`, cpu[k].v),
      }));
      const norm = g.arena.buffer('norm', 8);
      const partials = g.arena.buffer(
        'partials',
        (gradNormPartials(sizes[0]) + gradNormPartials(sizes[1])) * 4,
      );
      for (let step = 1; step <= 3; step++) {
        const grads = sizes.map((n, k) => randomFloats(n, 100 * step + k));
        const gradNorm = Math.sqrt(grads.reduce((sum, x) => sum + sumOfSquares(x), 0));
        const scale = clipCoefficient(gradNorm, maxGradNorm);
        for (const [k, s] of cpu.entries()) {
          adamwUpdateCpu(s.params, grads[k], s.m, s.v, step, config, scale);
        }

        const gradsGpu = grads.map((x, k) => g.upload(`grads${k}`, x));
        await globalGradNorm(
          g,
          norm,
          partials,
          gpu.map((s, k) => ({ buffer: gradsGpu[k], n: s.n })),
          maxGradNorm,
        );
        for (const [k, s] of gpu.entries()) {
          await adamwUpdate(g, s.params, gradsGpu[k], s.m, s.v, norm, s.n, step, config);
        }
        // f32 partial sums of 71000 squares against a float64 sum: ~1e-6 relative.
        assertClose(
          await g.read(norm, 2),
          [gradNorm, scale],
          1e-5,
          `norm and clip coefficient, step ${step}`,
        );
      }
      for (const [k, s] of gpu.entries()) {
        // Each step moves a parameter by about lr; f32 against the twin's float64 arithmetic.
        assertClose(await g.read(s.params), cpu[k].params, 1e-5, `params${k}`);
        assertClose(await g.read(s.m), cpu[k].m, 1e-5, `m${k}`);
        assertClose(await g.read(s.v), cpu[k].v, 1e-5, `v${k}`);
      }
    });
  }

  it('over tensors packed at aligned offsets matches per-tensor AdamW, and the padding stays zero', async () => {
    const config: AdamWConfig = { ...defaultAdamW, lr: 0.01, weightDecay: 0.1, maxGradNorm: 2 };
    const sizes = [1000, 37, 20_000];
    const { offsets, total } = packedOffsets(sizes, 64);
    expect(offsets).toEqual([0, 1024, 1088]);
    const cpu = sizes.map((n, k) => ({
      params: randomFloats(n, 71 + k),
      m: new Float32Array(n),
      v: new Float32Array(n),
    }));
    const pack = (parts: Float32Array[]) => {
      const flat = new Float32Array(total);
      for (const [k, part] of parts.entries()) flat.set(part, offsets[k]);
      return flat;
    };
    const g = rt!;
    const params = g.upload('packed/params', pack(cpu.map((s) => s.params)));
    const m = g.upload('packed/m', new Float32Array(total));
    const v = g.upload('packed/v', new Float32Array(total));
    const norm = g.arena.buffer('packed/norm', 8);
    const partials = g.arena.buffer('packed/partials', gradNormPartials(total) * 4);
    for (let step = 1; step <= 2; step++) {
      const grads = sizes.map((n, k) => randomFloats(n, 200 * step + k));
      const gradNorm = Math.sqrt(grads.reduce((sum, x) => sum + sumOfSquares(x), 0));
      for (const [k, s] of cpu.entries()) {
        adamwUpdateCpu(s.params, grads[k], s.m, s.v, step, config, clipCoefficient(gradNorm, 2));
      }
      const packedGrads = g.upload('packed/grads', pack(grads));
      await globalGradNorm(g, norm, partials, [{ buffer: packedGrads, n: total }], config.maxGradNorm);
      await adamwUpdate(g, params, packedGrads, m, v, norm, total, step, config);
      assertClose(await g.read(norm, 1), [gradNorm], 1e-5, `norm of the packed gradients, step ${step}`);
    }
    // Padding: 24 floats after the first tensor, 27 after the second, 32 at the end.
    for (const [name, buffer, expected] of [
      ['params', params, cpu.map((s) => s.params)],
      ['m', m, cpu.map((s) => s.m)],
      ['v', v, cpu.map((s) => s.v)],
    ] as const) {
      assertClose(await g.read(buffer), pack([...expected]), 1e-5, `packed ${name} (padding 0)`);
    }
  });

  it('computes one step by hand and rejects bad settings', async () => {
    const g = rt!;
    // grads (3, 4): norm 5, clip to 1 -> g = (0.6, 0.8); first step: p - lr * sign(g) (eps aside).
    const grads = g.upload('hand-grads', Float32Array.of(3, 4));
    const params = g.upload('hand-params', Float32Array.of(1, -1));
    const m = g.upload('hand-m', new Float32Array(2));
    const v = g.upload('hand-v', new Float32Array(2));
    const norm = g.arena.buffer('hand-norm', 8);
    const config: AdamWConfig = { ...defaultAdamW, lr: 0.1, weightDecay: 0, maxGradNorm: 1 };
    await globalGradNorm(g, norm, g.arena.buffer('hand-partials', 8), [{ buffer: grads, n: 2 }], 1);
    await adamwUpdate(g, params, grads, m, v, norm, 2, 1, config);
    expect(await readGradNorm(g, norm)).toBeCloseTo(5, 5);
    assertClose(await g.read(params), [0.9, -1.1], 1e-6, 'params by hand');
    assertClose(await g.read(m), [0.06, 0.08], 1e-6, 'm by hand');
    await expect(adamwUpdate(g, params, grads, m, v, norm, 2, 0, config)).rejects.toThrow(
      /step counts from 1/,
    );
    await expect(adamwUpdate(g, params, grads, m, v, norm, 2, 1, { ...config, beta1: 1 })).rejects.toThrow(
      ConfigError,
    );
  });
});
