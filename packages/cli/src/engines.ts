// The training engines the command line can run, by name. A new engine registers here and every
// command can use it through --engine. webgpu runs through Dawn in Node (SwiftShader where there is
// no GPU); it is imported only when chosen, so the CPU path never loads Dawn.
import { createCpuEngine, InputError, type TrainingEngine } from '@prufed/model';

async function createNodeWebGpuEngine(): Promise<TrainingEngine> {
  const { acquireNodeDevice } = await import('@prufed/webgpu/node');
  const { createWebGpuEngine, GpuError } = await import('@prufed/webgpu');
  const ctx = await acquireNodeDevice({ label: 'prufed-cli' });
  if ('unavailable' in ctx) throw new GpuError(`--engine webgpu: ${ctx.unavailable}; or use --engine cpu`);
  return createWebGpuEngine(ctx, { ownsDevice: true });
}

const engines: Record<string, () => Promise<TrainingEngine>> = {
  cpu: async () => createCpuEngine(),
  webgpu: createNodeWebGpuEngine,
};

export const engineNames = Object.keys(engines);

export function createEngine(name: string): Promise<TrainingEngine> {
  const create = engines[name];
  if (!create) throw new InputError(`unknown engine "${name}"; available engines: ${engineNames.join(', ')}`);
  return create();
}
