// Prints GFLOP/s of both matmul kernels on the WebGPU adapter Node finds (Dawn; on machines
// without a GPU driver, SwiftShader from Debian's chromium package), at square sizes and a
// LoRA-like shape. Dawn runs with its defaults, as in Chrome (workgroup memory zero-initialised).
// Run: npx tsx packages/webgpu/src/bench-matmul.ts [--quick]
import { timeMatmul } from './autotune';
import { matmulVariants } from './matmul';
import { acquireNodeDevice } from './node-gpu';
import { GpuRuntime } from './runtime';

const shapes = [
  { M: 256, N: 256, K: 256 },
  { M: 512, N: 512, K: 512 },
  { M: 1024, N: 1024, K: 1024 },
  { M: 1024, N: 2048, K: 8 }, // LoRA B-projection: (B T, R) x (R, OUT)
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
  const row = [`M=${shape.M} N=${shape.N} K=${shape.K}`.padEnd(24)];
  for (const variant of matmulVariants) {
    const estimate = await timeMatmul(rt, variant, shape, 1);
    const repetitions = Math.max(1, Math.min(50, Math.round(300 / estimate)));
    const ms = await timeMatmul(rt, variant, shape, repetitions);
    row.push(`${variant} ${((flops / ms) * 1e-6).toFixed(2).padStart(8)} GFLOP/s (${ms.toFixed(2)} ms)`);
  }
  console.log(row.join('  '));
}
rt.dispose();
ctx.device.destroy();
process.exit(0);
