// A pretraining gradient worker (worker_threads): holds its own CPU engine on the full model and,
// per request, copies the current weights from shared memory, computes the gradients (or the loss)
// of its share of the batch, and writes the gradients to its shared gradient buffer.
import { parentPort, workerData } from 'node:worker_threads';
import { type Batch, createCpuEngine, type LlamaConfig, llamaTensorSpecs } from '@prufed/model';

export interface GradWorkerData {
  config: LlamaConfig;
  params: SharedArrayBuffer; // f32, the engine's flat parameter layout
  grads: SharedArrayBuffer; // f32, same layout: this worker's gradients
}

export type GradRequest = { kind: 'grad' | 'loss'; batch: Batch };
export type GradReply = { loss: number; tokens: number };

const { config, params: paramsBuffer, grads: gradsBuffer } = workerData as GradWorkerData;
const params = new Float32Array(paramsBuffer);
const grads = new Float32Array(gradsBuffer);
const layers = Array.from({ length: config.numHiddenLayers }, (_, i) => i);
const tensors = new Map(
  (() => {
    let offset = 0;
    return llamaTensorSpecs(config, layers).map(({ name, shape }) => {
      const size = shape.reduce((a, b) => a * b, 1);
      const data = params.slice(offset, offset + size);
      offset += size;
      return [name, { shape, data }] as const;
    });
  })(),
);
const engine = createCpuEngine();
await engine.loadVariant({ config, layers, tensors }, { keptLayers: layers, trainBase: true });
const model = engine.model;
if (model.params.length !== params.length || model.grads === null) {
  throw new Error(
    `engine holds ${model.params.length} parameters, the trainer ${params.length}: layouts differ`,
  );
}

parentPort!.on('message', async ({ kind, batch }: GradRequest) => {
  model.params.set(params);
  const result = kind === 'grad' ? await engine.computeGradients(batch) : await engine.evaluateLoss(batch);
  if (kind === 'grad') grads.set(model.grads!);
  parentPort!.postMessage({ loss: result.loss, tokens: result.tokens } satisfies GradReply);
});
parentPort!.postMessage('ready');
