// The page's handle on the trainer worker: one worker per page, reached through comlink with the
// typed TrainerApi. Helpers wrap callbacks in Comlink.proxy and transfer batch and adapter buffers.
import type { Batch } from '@prufed/model';
import * as Comlink from 'comlink';
import type { DownloadProgress, TrainerApi } from './worker/api';

export type Trainer = Comlink.Remote<TrainerApi>;

let trainer: Trainer | null = null;

/** The page's trainer worker, started on first use. */
export function getTrainer(): Trainer {
  trainer ??= Comlink.wrap<TrainerApi>(
    new Worker(new URL('./worker/trainer.worker.ts', import.meta.url), { type: 'module', name: 'trainer' }),
  );
  return trainer;
}

/** A progress callback the worker can call across the thread boundary. */
export function progressCallback(callback: (progress: DownloadProgress) => void) {
  return Comlink.proxy(callback);
}

/** Marks the batch's buffers for transfer (the page gives them up), so they are moved, not copied. */
export function transferBatch(batch: Batch): Batch {
  return Comlink.transfer(batch, [batch.inputIds.buffer, batch.labels.buffer]);
}

/** A copy of the bytes, marked for transfer (the caller keeps its own bytes). */
export function transferCopy(bytes: Uint8Array): Uint8Array {
  const copy = bytes.slice();
  return Comlink.transfer(copy, [copy.buffer]);
}
