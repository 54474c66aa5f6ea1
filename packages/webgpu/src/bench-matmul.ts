// Prints GFLOP/s of both matmul kernels on the WebGPU adapter Node finds (Dawn; on machines
// without a GPU driver, SwiftShader from Debian's chromium package), at square sizes and a
// LoRA-like shape. Dawn runs with its defaults, as in Chrome (workgroup memory zero-initialised).
// Run: npx tsx packages/webgpu/src/bench-matmul.ts [--quick]
import { timeMatmul } from './autotune';
import { type MatmulLayout, matmulVariants } from './matmul';
import { acquireNodeDevice } from './node-gpu';
import { GpuRuntime } from './runtime';

const shapes: { M: number; N: number; K: number; layout?: MatmulLayout }[] = [
  { M: 256, N: 256, K: 256 },
  { M: 512, N: 512, K: 512 },
  { M: 1024, N: 1024, K: 1024 },
  { M: 1024, N: 2048, K: 8 }, // LoRA B-projection: (B T, R) x (R, OUT)
  // The shipped model's training step (B T = 256 rows, C 128, F 384, V 2048, R 8):
  { M: 256, N: 384, K: 128, layout: { transB: true } }, // gate/up projection x W^T
  { M: 256, N: 128, K: 384, layout: { accumulate: true } }, // their input gradient dy W
  { M: 256, N: 2048, K: 128, layout: { transB: true } }, // tied LM head
  { M: 256, N: 128, K: 2048, layout: { accumulate: true } }, // its input gradient
  { M: 256, N: 8, K: 128, layout: { transB: true } }, // LoRA x A^T
  { M: 8, N: 128, K: 256, layout: { transA: true, accumulate: true } }, // LoRA dA
];

const ctx = await acquireNodeDevice({ label: 'bench-matmul' }, []);
if ('unavailable' in ctx) {
  console.error(`no WebGPU device: ${ctx.unavailable}`);
  process.exit(1);
}
const rt = new GpuRuntime(ctx);
const { vendor, architecture, device, description, isFallbackAdapter } = ctx.adapter;
console.log(
  `adapter: ${description} (vendor ${vendor}, architecture ${architecture}, device ${device}${isFallbackAdapter ? ', fallback' : ''})`,
);
const quick = process.argv.includes('--quick');
for (const shape of quick ? shapes.slice(0, 1) : shapes) {
  const flops = 2 * shape.M * shape.N * shape.K;
  // About 0.3 s of work per measurement, at least one repetition.
  const layout = Object.keys(shape.layout ?? {}).join('+');
  const row = [`M=${shape.M} N=${shape.N} K=${shape.K} ${layout}`.padEnd(40)];
  for (const variant of matmulVariants) {
    const estimate = await timeMatmul(rt, variant, shape, 1, shape.layout);
    const repetitions = Math.max(1, Math.min(50, Math.round(300 / estimate)));
    const ms = await timeMatmul(rt, variant, shape, repetitions, shape.layout);
    row.push(`${variant} ${((flops / ms) * 1e-6).toFixed(2).padStart(8)} GFLOP/s (${ms.toFixed(2)} ms)`);
  }
  console.log(row.join('  '));
}
rt.dispose();
ctx.device.destroy();
process.exit(0);
