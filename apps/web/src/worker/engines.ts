// The engines the trainer worker can build, by kind: the caller picks an engine, not a code path.
// The WebGPU engine acquires its own device from the worker's navigator.gpu; where WebGPU or an
// adapter is missing its creation throws a GpuError that says to use the CPU engine.
import { createCpuEngine, InputError, type TrainingEngine } from '@prufed/model';
import { acquireDevice, createWebGpuEngine } from '@prufed/webgpu';
import type { EngineKind } from './api';

/** Best first. */
const factories: Record<EngineKind, () => Promise<TrainingEngine>> = {
  // acquireDevice, not createWebGpuEngine(navigator.gpu): it reports a missing navigator.gpu clearly.
  webgpu: async () => {
    const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
    return createWebGpuEngine(await acquireDevice(gpu, { label: 'prufed-worker' }), { ownsDevice: true });
  },
  cpu: async () => createCpuEngine(),
};

/** Engines this build has, best first. */
export const builtEngines = Object.keys(factories) as EngineKind[];

export function createEngine(kind: EngineKind): Promise<TrainingEngine> {
  // kind arrives from the page through comlink, unchecked by the type system.
  const create = factories[kind] as (() => Promise<TrainingEngine>) | undefined;
  if (create === undefined) {
    throw new InputError(`this build has no "${kind}" engine; use one of ${builtEngines.join(', ')}`);
  }
  return create();
}
