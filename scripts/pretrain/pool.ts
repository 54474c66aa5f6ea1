// Data-parallel gradients over worker threads: each worker computes the gradients of a slice of the
// batch's rows with its own CPU engine; the pool sums them weighted by target tokens, which gives
// the gradient of the mean loss over the whole batch. Weights travel through shared memory.
import { Worker } from 'node:worker_threads';
import type { Batch, LlamaConfig } from '@prufed/model';
import type { GradReply, GradRequest, GradWorkerData } from './grad-worker';

/** A worker script that loads grad-worker.ts through tsx (Node 20 workers ignore tsx's --import hooks). */
const tsWorkerBootstrap = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then(({ tsImport }) =>
  tsImport(${JSON.stringify(new URL('./grad-worker.ts', import.meta.url).href)}, ${JSON.stringify(import.meta.url)}))`;

/** Rows [start, end) of a (B, T) batch. */
function sliceRows(batch: Batch, start: number, end: number): Batch {
  const T = batch.seqLen;
  return {
    batchSize: end - start,
    seqLen: T,
    inputIds: batch.inputIds.slice(start * T, end * T),
    labels: batch.labels.slice(start * T, end * T),
  };
}

export class GradPool {
  /** The weights the workers read; write them before each request. */
  readonly params: Float32Array;
  /** The token-weighted mean gradient of the last gradients() call. */
  readonly grads: Float32Array;
  private readonly workerGrads: Float32Array[];

  private constructor(
    private readonly workers: Worker[],
    params: Float32Array,
    workerGrads: Float32Array[],
  ) {
    this.params = params;
    this.grads = new Float32Array(params.length);
    this.workerGrads = workerGrads;
  }

  static async create(config: LlamaConfig, initial: Float32Array, numWorkers: number): Promise<GradPool> {
    const params = new Float32Array(new SharedArrayBuffer(initial.length * 4));
    params.set(initial);
    const workerGrads: Float32Array[] = [];
    const workers: Worker[] = [];
    for (let w = 0; w < numWorkers; w++) {
      const grads = new Float32Array(new SharedArrayBuffer(initial.length * 4));
      const data: GradWorkerData = {
        config,
        params: params.buffer as SharedArrayBuffer,
        grads: grads.buffer as SharedArrayBuffer,
      };
      const worker = new Worker(tsWorkerBootstrap, { eval: true, workerData: data });
      await new Promise<void>((resolve, reject) => {
        worker.once('error', reject);
        worker.once('message', () => {
          worker.off('error', reject);
          resolve();
        });
      });
      workers.push(worker);
      workerGrads.push(grads);
    }
    return new GradPool(workers, params, workerGrads);
  }

  private async run(kind: GradRequest['kind'], batch: Batch): Promise<GradReply[]> {
    const B = batch.batchSize;
    const used = this.workers.slice(0, Math.min(B, this.workers.length));
    return Promise.all(
      used.map((worker, w) => {
        const start = Math.floor((w * B) / used.length);
        const end = Math.floor(((w + 1) * B) / used.length);
        const reply = new Promise<GradReply>((resolve, reject) => {
          const onError = (error: Error) => reject(error);
          worker.once('error', onError);
          worker.once('message', (message: GradReply) => {
            worker.off('error', onError);
            resolve(message);
          });
        });
        worker.postMessage({ kind, batch: sliceRows(batch, start, end) } satisfies GradRequest);
        return reply;
      }),
    );
  }

  /** Gradients of the batch's mean loss into this.grads; returns that loss and the target tokens. */
  async gradients(batch: Batch): Promise<GradReply> {
    const replies = await this.run('grad', batch);
    const tokens = replies.reduce((n, r) => n + r.tokens, 0);
    this.grads.fill(0);
    let loss = 0;
    replies.forEach((reply, w) => {
      if (reply.tokens === 0) return;
      const weight = reply.tokens / tokens;
      loss += weight * reply.loss;
      const g = this.workerGrads[w];
      for (let i = 0; i < g.length; i++) this.grads[i] += weight * g[i];
    });
    return { loss, tokens };
  }

  /** Mean loss of the batch without gradients. */
  async loss(batch: Batch): Promise<GradReply> {
    const replies = await this.run('loss', batch);
    const tokens = replies.reduce((n, r) => n + r.tokens, 0);
    const loss = replies.reduce((sum, r) => (r.tokens === 0 ? sum : sum + r.loss * r.tokens), 0) / tokens;
    return { loss, tokens };
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }
}
