// Downloading a pruned variant's weights: the safetensors header, then only the kept layers' tensors
// (plus embedding, final norm and LM head) by byte range, each range cached in a ByteStore keyed by
// the model version, with progress in bytes. A second load of the same version fetches nothing.
import {
  type FetchRange,
  hfGlobalTensorNames,
  hfLayerTensorNames,
  type LlamaConfig,
  type LlamaWeights,
  loadLlamaWeights,
  openSafetensorsByRange,
} from '@prufed/model';
import type { DownloadProgress } from './api';
import type { ByteStore } from './weight-cache';

/** Thrown when the browser refuses to store more bytes; the message says what to do. */
export class StorageQuotaError extends Error {
  override name = 'StorageQuotaError';
}

function isQuotaError(error: unknown): boolean {
  return (error as { name?: unknown })?.name === 'QuotaExceededError';
}

/**
 * A FetchRange that answers from `store` when it can and otherwise fetches, stores and counts:
 * `onFetched` gets the size of every range that came over the network.
 */
export function cachingFetchRange(
  network: FetchRange,
  store: ByteStore,
  modelVersion: string,
  onFetched: (bytes: number) => void,
): FetchRange {
  return async (start, end) => {
    const key = `${modelVersion} ${start}-${end}`;
    const cached = await store.get(key);
    if (cached !== undefined && cached.length === end - start) return cached;
    const bytes = await network(start, end);
    onFetched(bytes.length);
    if (bytes.length !== end - start) return bytes; // openSafetensorsByRange reports the short read
    try {
      await store.put(key, bytes);
    } catch (error) {
      if (!isQuotaError(error)) throw error;
      throw new StorageQuotaError(
        `this browser's storage quota for the page is full: caching ${bytes.length} bytes of model weights ` +
          "in IndexedDB failed (QuotaExceededError). Free space (clear this site's data in the browser " +
          'settings), leave private browsing mode, or choose a smaller variant with ?tier=c, then join again',
      );
    }
    return bytes;
  };
}

export interface VariantDownload {
  config: LlamaConfig;
  keptLayers: number[];
  /** model.safetensors by range; wrap it with cachingFetchRange to cache. */
  fetchRange: FetchRange;
  /** Bytes fetched over the network so far, read after each step for progress. */
  fetchedBytes: () => number;
  onProgress?: (progress: DownloadProgress) => void;
}

/** Reads the header and the variant's tensors, reporting progress after the header and each tensor. */
export async function downloadVariantWeights(
  download: VariantDownload,
): Promise<{ weights: LlamaWeights; progress: DownloadProgress }> {
  const { config, keptLayers, fetchRange, fetchedBytes, onProgress } = download;
  const file = await openSafetensorsByRange(fetchRange);
  const names = [...hfGlobalTensorNames(config), ...keptLayers.flatMap(hfLayerTensorNames)];
  const sizeOf = (name: string) => {
    const info = file.header.tensors.get(name);
    return info === undefined ? 0 : info.end - info.begin; // a missing tensor fails in readTensor
  };
  const progress: DownloadProgress = {
    loadedBytes: file.header.dataStart,
    totalBytes: file.header.dataStart + names.reduce((sum, name) => sum + sizeOf(name), 0),
    fetchedBytes: fetchedBytes(),
  };
  onProgress?.({ ...progress });
  const weights = await loadLlamaWeights(
    config,
    async (name) => {
      const tensor = await file.readTensor(name);
      progress.loadedBytes += sizeOf(name);
      progress.fetchedBytes = fetchedBytes();
      onProgress?.({ ...progress });
      return tensor;
    },
    keptLayers,
  );
  return { weights, progress };
}
