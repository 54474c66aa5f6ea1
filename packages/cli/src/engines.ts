// The training engines the command line can run, by name. A new engine (e.g. webgpu in Node)
// registers here and every command can use it through --engine.
import { createCpuEngine, InputError, type TrainingEngine } from '@prufed/model';

const engines: Record<string, () => Promise<TrainingEngine>> = {
  cpu: async () => createCpuEngine(),
};

export const engineNames = Object.keys(engines);

export function createEngine(name: string): Promise<TrainingEngine> {
  const create = engines[name];
  if (!create) throw new InputError(`unknown engine "${name}"; available engines: ${engineNames.join(', ')}`);
  return create();
}
