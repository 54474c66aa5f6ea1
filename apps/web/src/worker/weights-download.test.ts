import {
  type FetchRange,
  type LlamaConfig,
  parseSafetensorsHeader,
  randomLlamaWeights,
  readSafetensors,
  safetensorsHeaderLength,
  writeSafetensors,
} from '@prufed/model';
import { describe, expect, it } from 'vitest';
import type { DownloadProgress } from './api';
import type { ByteStore } from './weight-cache';
import { cachingFetchRange, downloadVariantWeights, StorageQuotaError } from './weights-download';

// L = 4, C = 16, NH = 2, NKV = 1, F = 24, V = 40; untied, so lm_head is downloaded too.
const config: LlamaConfig = {
  hiddenSize: 16,
  intermediateSize: 24,
  numHiddenLayers: 4,
  numAttentionHeads: 2,
  numKeyValueHeads: 1,
  headDim: 8,
  rmsNormEps: 1e-5,
  ropeTheta: 10000,
  vocabSize: 40,
  maxPositionEmbeddings: 64,
  tieWordEmbeddings: false,
  bosTokenId: 1,
  eosTokenId: 2,
};
const file = writeSafetensors(randomLlamaWeights(config, { seed: 3 }).tensors);
const keptLayers = [1, 3];

/** Header plus every tensor that is global or in a kept layer, from the file's own header. */
function variantBytes(layers: number[]): number {
  const header = parseSafetensorsHeader(file.subarray(0, 8 + safetensorsHeaderLength(file.subarray(0, 8))));
  let bytes = header.dataStart;
  for (const [name, info] of header.tensors) {
    const layer = /^model\.layers\.(\d+)\./.exec(name);
    if (layer === null || layers.includes(Number(layer[1]))) bytes += info.end - info.begin;
  }
  return bytes;
}

function fileServer() {
  const server = { requests: 0, fetch: (async () => new Uint8Array()) as FetchRange };
  server.fetch = async (start, end) => {
    server.requests++;
    return file.slice(start, end);
  };
  return server;
}

function mapStore(): ByteStore & { entries: Map<string, Uint8Array> } {
  const entries = new Map<string, Uint8Array>();
  return {
    entries,
    get: async (key) => entries.get(key),
    put: async (key, bytes) => void entries.set(key, bytes.slice()),
    clear: async () => entries.clear(),
  };
}

async function load(network: FetchRange, store: ByteStore, version: string) {
  let fetched = 0;
  const seen: DownloadProgress[] = [];
  const result = await downloadVariantWeights({
    config,
    keptLayers,
    fetchRange: cachingFetchRange(network, store, version, (bytes) => {
      fetched += bytes;
    }),
    fetchedBytes: () => fetched,
    onProgress: (progress) => seen.push(progress),
  });
  return { ...result, seen };
}

describe('downloadVariantWeights over cachingFetchRange', () => {
  it('fetches only the header and the kept layers, with progress in bytes up to the total', async () => {
    const { weights, progress, seen } = await load(fileServer().fetch, mapStore(), 'v1');
    const expected = variantBytes(keptLayers);
    expect(expected).toBeLessThan(file.length);
    expect(progress).toEqual({ loadedBytes: expected, totalBytes: expected, fetchedBytes: expected });
    expect(seen.at(-1)).toEqual(progress);
    for (let i = 1; i < seen.length; i++)
      expect(seen[i].loadedBytes).toBeGreaterThan(seen[i - 1].loadedBytes);
    const all = readSafetensors(file);
    expect(weights.layers).toEqual(keptLayers);
    expect([...weights.tensors.keys()].some((name) => name.startsWith('model.layers.0.'))).toBe(false);
    for (const [name, tensor] of weights.tensors) expect(tensor.data).toEqual(all.get(name)?.data);
  });

  it('reads a second load of the same version from the store without a request', async () => {
    const store = mapStore();
    await load(fileServer().fetch, store, 'v1');
    const server = fileServer();
    const second = await load(server.fetch, store, 'v1');
    expect(server.requests).toBe(0);
    expect(second.progress.fetchedBytes).toBe(0);
    expect(second.progress.loadedBytes).toBe(variantBytes(keptLayers));
  });

  it('fetches again when the model version changes', async () => {
    const store = mapStore();
    await load(fileServer().fetch, store, 'v1');
    const { progress } = await load(fileServer().fetch, store, 'v2');
    expect(progress.fetchedBytes).toBe(variantBytes(keptLayers));
  });

  it('explains a full storage quota', async () => {
    const store = mapStore();
    store.put = async () => {
      throw new DOMException('the quota has been exceeded', 'QuotaExceededError');
    };
    const failed = load(fileServer().fetch, store, 'v1');
    await expect(failed).rejects.toThrow(StorageQuotaError);
    await expect(failed).rejects.toThrow(/storage quota .* is full.*\?tier=c/);
  });

  it('does not cache a short read', async () => {
    const store = mapStore();
    const truncated: FetchRange = async (start, end) => file.slice(start, Math.min(end, 100));
    await expect(load(truncated, store, 'v1')).rejects.toThrow(/truncated/);
    expect([...store.entries.values()].every((bytes) => bytes.length <= 100)).toBe(true);
    expect(store.entries.size).toBe(1); // only the 8-byte header length was whole
  });
});
