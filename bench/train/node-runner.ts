// PruFed's WebGPU engine in Node (Dawn) as a benchmark runner (prufed-webgpu-node), shared by main.ts
// and node-gpu.ts: a fresh device per shape, the adapter's matmul peak measured on the first shape and
// kept in `nodePeak`, and the adapter named in full in the report (a log then shows whether a real GPU
// or a software adapter ran the kernels). Node-only: the browser page never imports it.
import type { BenchShape } from '@prufed/model/testing';
import { type AdapterDescription, adapterLabel, createWebGpuEngine, GpuRuntime } from '@prufed/webgpu';
import { acquireNodeDevice } from '@prufed/webgpu/node';
import { makeBenchCase } from './case';
import { type Measured, measure } from './measure';
import { type MatmulPeak, measureMatmulPeak, prepareEngine, runSteps, type StepPlan } from './runners';

export interface NodePeak {
  peak?: MatmulPeak;
  adapter?: string;
  adapterInfo?: AdapterDescription;
}

export async function runWebGpuNode(
  shape: BenchShape,
  plan: StepPlan,
  sizes: number[],
  nodePeak: NodePeak,
  log: (line: string) => void,
): Promise<Measured> {
  const ctx = await acquireNodeDevice({ label: 'bench-node' });
  if ('unavailable' in ctx) throw new Error(ctx.unavailable);
  try {
    if (nodePeak.peak === undefined) {
      log(`  adapter ${JSON.stringify(ctx.adapter)}; measuring its matmul peak (sizes ${sizes.join(', ')})`);
      const rt = new GpuRuntime(ctx);
      nodePeak.peak = await measureMatmulPeak(rt, sizes);
      nodePeak.adapter = ctx.adapter.description;
      nodePeak.adapterInfo = ctx.adapter;
      rt.dispose();
      log(
        `  peak ${nodePeak.peak.gflops.toFixed(1)} GFLOP/s (${nodePeak.peak.variant} ${nodePeak.peak.size}^3)`,
      );
    }
    const c = makeBenchCase(shape);
    const prepare = async () =>
      prepareEngine(await createWebGpuEngine(ctx), c, `Dawn: ${adapterLabel(ctx.adapter)}`);
    return measure(shape, await runSteps('prufed-webgpu-node', prepare, plan), nodePeak.peak);
  } finally {
    ctx.device.destroy();
  }
}
