// Fingerprints of a study's inputs for its journal's configuration: the model weights and the task
// files it reads. A re-exported model or a rebuilt dataset then never mixes with cells of the old one.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { SPLITS, type TaskName } from '@prufed/model';

async function sha256(files: string[]): Promise<string> {
  const hash = createHash('sha256');
  for (const file of files) hash.update(await readFile(file));
  return hash.digest('hex');
}

/** sha256 of model.safetensors in `model`, and of every split file of `tasks` under `data`. */
export async function studyInputsSha256(
  model: string,
  data: string,
  tasks: readonly TaskName[],
): Promise<{ weightsSha256: string; dataSha256: string }> {
  return {
    weightsSha256: await sha256([path.join(model, 'model.safetensors')]),
    dataSha256: await sha256(
      tasks.flatMap((task) => SPLITS.map((split) => path.join(data, task, `${split}.jsonl`))),
    ),
  };
}
