// Prints milliseconds per call of the RoPE, attention and LoRA-linear kernels (forward and backward)
// at the shipped model's shape, and of the LoRA-shaped matmuls with each matmul variant, on the
// WebGPU adapter Node finds (on machines without a GPU driver, SwiftShader from Debian's chromium).
// The LoRA linear uses the matmul variant autotuning picks, as an engine would.
// Run: npx tsx packages/webgpu/src/bench-attention-lora.ts
import { benchModelShape } from '@prufed/model/testing';
import { attentionBackward, attentionForward } from './attention';
import { autotuneMatmul } from './autotune';
import { type GpuLoraLinearWeights, loraLinearBackward, loraLinearForward } from './lora-linear';
import { type MatmulLayout, matmul, matmulVariants } from './matmul';
import { acquireNodeDevice } from './node-gpu';
import { ropeBackward, ropeForward, uploadRopeTables } from './rope';
import { GpuRuntime } from './runtime';

// The shipped model: C hidden, NH heads, NKV kv heads, HS head size, F ffn; B batch, T tokens, R rank.
const { C, NH, NKV, F, B, T, R } = benchModelShape('default');
const HS = C / NH;
const N = B * T;

const ctx = await acquireNodeDevice({ label: 'bench-attention-lora' }, []);
if ('unavailable' in ctx) {
  console.error(`no WebGPU device: ${ctx.unavailable}`);
  process.exit(1);
}
const rt = new GpuRuntime(ctx);
const { variant } = await autotuneMatmul(rt);
console.log(
  `adapter: ${ctx.adapter.description}; matmul variant ${variant} (autotuned); C=${C} NH=${NH} NKV=${NKV} HS=${HS} F=${F} B=${B} T=${T} R=${R}`,
);

/** Milliseconds per run of record(), each run its own submission, after one warm-up run. */
async function time(name: string, record: () => Promise<void>, flops?: number): Promise<void> {
  await record();
  await rt.finish();
  let repetitions = 0;
  const start = performance.now();
  do {
    await record();
    rt.submit();
    if (++repetitions % 5 === 0) await rt.finish();
  } while (performance.now() - start < 300 || repetitions < 5);
  await rt.finish();
  const ms = (performance.now() - start) / repetitions;
  const rate = flops === undefined ? '' : `  ${((flops / ms) * 1e-6).toFixed(2).padStart(7)} GFLOP/s`;
  console.log(`${name.padEnd(44)} ${ms.toFixed(3).padStart(8)} ms${rate}`);
}

const values = (n: number) => Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 1000) / 2000 - 0.25);
const buffer = (name: string, n: number) => rt.upload(`bench/${name}`, values(n));

const tables = uploadRopeTables(rt, 'bench/rope', T, HS, 10000);
const q = buffer('q', N * NH * HS); // (B, T, NH, HS)
const k = buffer('k', N * NKV * HS); // (B, T, NKV, HS)
const v = buffer('v', N * NKV * HS); // (B, T, NKV, HS)
const out = buffer('out', N * NH * HS); // (B, T, NH, HS)
const lse = buffer('lse', B * NH * T); // (B, NH, T)
const rowdot = buffer('rowdot', B * NH * T); // (B, NH, T)
const dq = buffer('dq', N * NH * HS); // (B, T, NH, HS)
const dk = buffer('dk', N * NKV * HS); // (B, T, NKV, HS)
const dv = buffer('dv', N * NKV * HS); // (B, T, NKV, HS)
await time('rope forward q and k', async () => {
  await ropeForward(rt, q, tables.cos, tables.sin, B, T, NH, HS);
  await ropeForward(rt, k, tables.cos, tables.sin, B, T, NKV, HS);
});
await time('rope backward dq and dk', async () => {
  await ropeBackward(rt, dq, tables.cos, tables.sin, B, T, NH, HS);
  await ropeBackward(rt, dk, tables.cos, tables.sin, B, T, NKV, HS);
});
// Causal: about half of the T x T scores; 2 HS flops each for q.k and for p v.
const attentionFlops = B * NH * ((T * (T + 1)) / 2) * 4 * HS;
await time(
  'attention forward',
  () => attentionForward(rt, out, lse, q, k, v, B, T, NH, NKV, HS),
  attentionFlops,
);
await time(
  'attention backward',
  () => attentionBackward(rt, dq, dk, dv, out, q, k, v, out, lse, rowdot, B, T, NH, NKV, HS),
  2 * attentionFlops + B * NH * ((T * (T + 1)) / 2) * 6 * HS,
);

const projections: [string, number, number][] = [
  ['q_proj / o_proj', C, NH * HS],
  ['k_proj / v_proj', C, NKV * HS],
  ['gate_proj / up_proj', C, F],
  ['down_proj', F, C],
];
for (const [name, IN, OUT] of projections) {
  const lora: GpuLoraLinearWeights = {
    A: buffer('A', R * IN),
    B: buffer('B', OUT * R),
    dA: buffer('dA', R * IN),
    dB: buffer('dB', OUT * R),
    R,
    scale: 2,
  };
  const [inp, weight, y, dy, dinp] = [
    buffer('inp', N * IN),
    buffer('weight', OUT * IN),
    buffer('y', N * OUT),
    buffer('dy', N * OUT),
    buffer('dinp', N * IN),
  ];
  const [u, du] = [buffer('u', N * R), buffer('du', N * R)];
  const base = 2 * N * IN * OUT;
  const rank = 2 * N * R * (IN + OUT);
  await time(
    `lora linear forward ${name} (${IN}->${OUT})`,
    () => loraLinearForward(rt, y, u, inp, weight, lora, N, IN, OUT),
    base + rank,
  );
  await time(
    `lora linear backward ${name}, frozen W`,
    () => loraLinearBackward(rt, dinp, null, du, dy, u, inp, weight, lora, N, IN, OUT),
    base + 2 * rank,
  );
}

// The LoRA-shaped products alone (q_proj, IN = OUT = C), per matmul variant: [M, N, K, layout].
const products: [string, number, number, number, MatmulLayout][] = [
  ['u = x A^T', N, R, C, { transB: true }],
  ['y += us B^T', N, C, R, { transB: true, accumulate: true }],
  ['dB += dy^T us', C, R, N, { transA: true, accumulate: true }],
  ['du = dy B', N, R, C, {}],
  ['dA += du^T x', R, C, N, { transA: true, accumulate: true }],
  ['dx += du A', N, C, R, { accumulate: true }],
  ['y = x W^T (base, for scale)', N, C, C, { transB: true }],
];
const [ma, mb, mc] = [buffer('ma', N * C), buffer('mb', N * C), buffer('mc', N * C)];
for (const [name, M, Nc, K, layout] of products) {
  for (const variant of matmulVariants) {
    await time(
      `${name} (M=${M} N=${Nc} K=${K}) ${variant}`,
      () => matmul(rt, mc, ma, mb, M, Nc, K, layout, variant),
      2 * M * Nc * K,
    );
  }
}
rt.dispose();
ctx.device.destroy();
process.exit(0);
