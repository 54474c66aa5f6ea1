// Parity of the attention kernels with the CPU twins of @prufed/model, with grouped-query heads and
// sequences shorter and longer than a workgroup, plus a case computed by hand. Skips, saying why,
// where no WebGPU adapter exists.
import {
  attentionBackward as attentionBackwardCpu,
  attentionForward as attentionForwardCpu,
} from '@prufed/model';
import { afterAll, describe, expect, it } from 'vitest';
import { attentionBackward, attentionForward } from './attention';
import { acquireNodeDevice } from './node-gpu';
import { GpuRuntime } from './runtime';
import { assertClose, randomFloats } from './test-support';

const acquired = await acquireNodeDevice({ label: 'attention-test' });
const rt = 'unavailable' in acquired ? null : new GpuRuntime(acquired);
if ('unavailable' in acquired) console.warn(`WebGPU attention tests skipped: ${acquired.unavailable}`);
afterAll(() => rt?.device.destroy());

describe.skipIf(rt === null)('attention on WebGPU', () => {
  for (const [B, T, NH, NKV, HS] of [
    [2, 7, 4, 2, 8],
    [1, 70, 3, 1, 12],
    [1, 5, 2, 2, 4],
  ]) {
    it(`forward and backward match the CPU twin (B=${B}, T=${T}, NH=${NH}, NKV=${NKV}, HS=${HS})`, async () => {
      const qFloats = B * T * NH * HS;
      const kvFloats = B * T * NKV * HS;
      const q = randomFloats(qFloats, 31); // (B, T, NH, HS)
      const k = randomFloats(kvFloats, 32); // (B, T, NKV, HS)
      const v = randomFloats(kvFloats, 33); // (B, T, NKV, HS)
      const dout = randomFloats(qFloats, 34); // (B, T, NH, HS)
      const dq0 = randomFloats(qFloats, 35); // (B, T, NH, HS), accumulated into
      const dk0 = randomFloats(kvFloats, 36); // (B, T, NKV, HS), accumulated into
      const dv0 = randomFloats(kvFloats, 37); // (B, T, NKV, HS), accumulated into
      const out = new Float32Array(qFloats);
      const lse = new Float32Array(B * NH * T);
      const [dq, dk, dv] = [dq0.slice(), dk0.slice(), dv0.slice()];
      const scratch = new Float32Array(2 * T);
      attentionForwardCpu(out, lse, q, k, v, scratch, B, T, NH, NKV, HS);
      attentionBackwardCpu(dq, dk, dv, dout, q, k, v, lse, scratch, B, T, NH, NKV, HS);

      const g = rt!;
      const [qGpu, kGpu, vGpu] = [g.upload('q', q), g.upload('k', k), g.upload('v', v)];
      const outGpu = g.arena.buffer('out', qFloats * 4);
      const lseGpu = g.arena.buffer('lse', B * NH * T * 4);
      const [dqGpu, dkGpu, dvGpu] = [g.upload('dq', dq0), g.upload('dk', dk0), g.upload('dv', dv0)];
      const rowdot = g.arena.buffer('rowdot', B * NH * T * 4);
      await attentionForward(g, outGpu, lseGpu, qGpu, kGpu, vGpu, B, T, NH, NKV, HS);
      const doutGpu = g.upload('dout', dout);
      await attentionBackward(
        g,
        dqGpu,
        dkGpu,
        dvGpu,
        doutGpu,
        qGpu,
        kGpu,
        vGpu,
        outGpu,
        lseGpu,
        rowdot,
        B,
        T,
        NH,
        NKV,
        HS,
      );
      // f32 sums over at most T keys (forward) or T * NH / NKV query rows (dk, dv) of terms below 1,
      // against the CPU's float64 sums: a few ulps of the O(1) results each, well inside 1e-5.
      assertClose(await g.read(outGpu), out, 1e-5, 'out');
      assertClose(await g.read(lseGpu), lse, 1e-5, 'lse');
      assertClose(await g.read(dqGpu), dq, 1e-5, 'dq');
      assertClose(await g.read(dkGpu), dk, 1e-5, 'dk');
      assertClose(await g.read(dvGpu), dv, 1e-5, 'dv');

      // accumulate false: dq, dk and dv are written over what they hold (the sums above)
      const [dqFresh, dkFresh, dvFresh] = [qFloats, kvFloats, kvFloats].map((n) => new Float32Array(n));
      attentionBackwardCpu(dqFresh, dkFresh, dvFresh, dout, q, k, v, lse, scratch, B, T, NH, NKV, HS);
      const args = [doutGpu, qGpu, kGpu, vGpu, outGpu, lseGpu, rowdot, B, T, NH, NKV, HS] as const;
      await attentionBackward(g, dqGpu, dkGpu, dvGpu, ...args, false);
      assertClose(await g.read(dqGpu), dqFresh, 1e-5, 'dq written');
      assertClose(await g.read(dkGpu), dkFresh, 1e-5, 'dk written');
      assertClose(await g.read(dvGpu), dvFresh, 1e-5, 'dv written');
    });
  }

  it('attends causally and uniformly to equal scores, by hand', async () => {
    const g = rt!;
    // q = k = 0: token 0 sees v0 alone (lse 0), token 1 averages v0 and v1 (lse log 2).
    const zeros = g.upload('zeros', new Float32Array(8)); // (1, 2, 1, 4)
    const v = g.upload('hand-v', Float32Array.of(1, 2, 3, 4, 3, 2, 1, 0)); // (1, 2, 1, 4)
    const out = g.arena.buffer('hand-out', 8 * 4);
    const lse = g.arena.buffer('hand-lse', 2 * 4);
    await attentionForward(g, out, lse, zeros, zeros, v, 1, 2, 1, 1, 4);
    assertClose(await g.read(out), [1, 2, 3, 4, 2, 2, 2, 2], 1e-6, 'out by hand');
    assertClose(await g.read(lse), [0, Math.log(2)], 1e-6, 'lse by hand');
  });

  it('rejects layouts the kernels cannot run', async () => {
    const g = rt!;
    const x = g.arena.buffer('any', 4096);
    await expect(attentionForward(g, x, x, x, x, x, 1, 2, 3, 2, 4)).rejects.toThrow(/multiple of NKV/);
    await expect(attentionForward(g, x, x, x, x, x, 1, 2, 2, 2, 6)).rejects.toThrow(/multiple of 4/);
    await expect(attentionForward(g, x, x, x, x, x, 1, 2, 1, 1, 256)).rejects.toThrow(/at most 128/);
    await expect(attentionForward(g, x, x, x, x, x, 1, 512, 1, 1, 4)).rejects.toThrow(
      /out holds 1024 floats but needs 2048/,
    );
  });
});
