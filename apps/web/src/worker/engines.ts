// The engines the trainer worker can build, by kind: the caller picks an engine, not a code path.
// The WebGPU engine (@prufed/webgpu) registers here once it implements TrainingEngine.
import { createCpuEngine, InputError, type TrainingEngine } from '@prufed/model';
import type { EngineKind } from './api';

const factories: Partial<Record<EngineKind, () => Promise<TrainingEngine>>> = {
  cpu: async () => createCpuEngine(),
};

/** Engines this build has, best first. */
export const builtEngines: EngineKind[] = (['webgpu', 'cpu'] as const).filter((kind) => kind in factories);

export function createEngine(kind: EngineKind): Promise<TrainingEngine> {
  const create = factories[kind];
  if (create === undefined) {
    throw new InputError(`this build has no "${kind}" engine; use one of ${builtEngines.join(', ')}`);
  }
  return create();
}
