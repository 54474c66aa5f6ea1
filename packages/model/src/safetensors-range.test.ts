import { describe, expect, it } from 'vitest';
import { FormatError, InputError } from './errors';
import { expectedTensorShape, hfGlobalTensorNames, hfLayerTensorNames } from './hf-names';
import { writeSafetensors } from './safetensors';
import { type FetchRange, httpFetchRange, openSafetensorsByRange } from './safetensors-range';
import type { Tensor } from './tensor';
import { llamaConfigOf } from './testing';
import { loadLlamaWeights } from './weights-load';

const config = llamaConfigOf({ L: 4, C: 4, NH: 2, NKV: 1, F: 6, V: 5, maxPositions: 16, tied: false });

function modelFile(): { file: Uint8Array; tensors: Map<string, Tensor> } {
  const names = [...hfGlobalTensorNames(config), ...[0, 1, 2, 3].flatMap(hfLayerTensorNames)];
  const tensors = new Map<string, Tensor>();
  names.forEach((name, i) => {
    const shape = expectedTensorShape(config, name);
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1)).map((_, j) => i + j / 100);
    tensors.set(name, { shape, data });
  });
  return { file: writeSafetensors(tensors), tensors };
}

/** A FetchRange over bytes in memory that records every range asked for. */
function recordingFetch(file: Uint8Array): { fetchRange: FetchRange; ranges: [number, number][] } {
  const ranges: [number, number][] = [];
  const fetchRange: FetchRange = async (start, end) => {
    ranges.push([start, end]);
    return file.slice(start, end);
  };
  return { fetchRange, ranges };
}

/** Reads the header length and JSON straight from the bytes, independently of the parser. */
function headerOf(file: Uint8Array): { dataStart: number; json: Record<string, { data_offsets: number[] }> } {
  const length = file[0] | (file[1] << 8) | (file[2] << 16);
  return { dataStart: 8 + length, json: JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + length))) };
}

describe('openSafetensorsByRange', () => {
  it('loading 2 of 4 layers fetches the header and only those layers and the global tensors', async () => {
    const { file, tensors } = modelFile();
    const { fetchRange, ranges } = recordingFetch(file);
    const reader = await openSafetensorsByRange(fetchRange);
    const { dataStart, json } = headerOf(file);
    expect(ranges).toEqual([
      [0, 8],
      [8, dataStart],
    ]);
    const weights = await loadLlamaWeights(config, reader.readTensor, [1, 3]);

    const fetched = ranges.slice(2);
    const wanted = [...hfGlobalTensorNames(config), ...hfLayerTensorNames(1), ...hfLayerTensorNames(3)];
    expect(fetched).toEqual(
      wanted.map((name) => [dataStart + json[name].data_offsets[0], dataStart + json[name].data_offsets[1]]),
    );
    const fetchedBytes = fetched.reduce((sum, [a, b]) => sum + b - a, 0);
    const wantedBytes = wanted.reduce((sum, name) => sum + 4 * tensors.get(name)!.data.length, 0);
    expect(fetchedBytes).toBe(wantedBytes);
    // Layers 0 and 2 occupy bytes that no request touched.
    for (const name of [...hfLayerTensorNames(0), ...hfLayerTensorNames(2)]) {
      const [begin, end] = json[name].data_offsets.map((o) => dataStart + o);
      expect(
        fetched.some(([a, b]) => a < end && begin < b),
        name,
      ).toBe(false);
    }
    for (const name of wanted) expect(weights.tensors.get(name)).toEqual(tensors.get(name));
  });

  it('returns a tensor’s raw stored bytes', async () => {
    const { file } = modelFile();
    const reader = await openSafetensorsByRange(recordingFetch(file).fetchRange);
    const { dataStart, json } = headerOf(file);
    const [begin, end] = json['model.norm.weight'].data_offsets;
    expect(await reader.readTensorBytes('model.norm.weight')).toEqual(
      file.slice(dataStart + begin, dataStart + end),
    );
  });

  it('rejects an unknown tensor name, listing some names', async () => {
    const reader = await openSafetensorsByRange(recordingFetch(modelFile().file).fetchRange);
    await expect(reader.readTensor('model.layers.9.mlp.up_proj.weight')).rejects.toThrow(InputError);
    await expect(reader.readTensor('nope')).rejects.toThrow(
      /no tensor "nope".*lm_head.weight, .*\(39 in all\)/,
    );
  });

  it('rejects short reads (truncated file)', async () => {
    const { file } = modelFile();
    const truncated = file.slice(0, file.length - 10);
    const reader = await openSafetensorsByRange(recordingFetch(truncated).fetchRange);
    const last = [...reader.header.tensors].sort(([, a], [, b]) => b.end - a.end)[0][0];
    await expect(reader.readTensor(last)).rejects.toThrow(FormatError);
    await expect(reader.readTensor(last)).rejects.toThrow(/returned \d+ bytes instead of \d+/);
    await expect(openSafetensorsByRange(recordingFetch(file.slice(0, 5)).fetchRange)).rejects.toThrow(
      /header length \(bytes 0..8\) returned 5 bytes/,
    );
  });
});

describe('httpFetchRange', () => {
  /** A fetch that serves `file` honouring (or, with ignoreRange, ignoring) the Range header. */
  function fakeServer(file: Uint8Array, ignoreRange = false) {
    const rangeHeaders: string[] = [];
    const fetchImpl = (async (_url: string, init?: RequestInit) => {
      const range = new Headers(init?.headers).get('Range') ?? '';
      rangeHeaders.push(range);
      const match = /^bytes=(\d+)-(\d+)$/.exec(range);
      if (ignoreRange || match === null) return new Response(file.slice().buffer, { status: 200 });
      return new Response(file.slice(Number(match[1]), Number(match[2]) + 1).buffer, { status: 206 });
    }) as typeof fetch;
    return { fetchImpl, rangeHeaders };
  }

  it('sends inclusive byte ranges and reads a model through them', async () => {
    const { file, tensors } = modelFile();
    const server = fakeServer(file);
    const fetchRange = httpFetchRange('http://model/model.safetensors', server.fetchImpl);
    expect(await fetchRange(10, 20)).toEqual(file.slice(10, 20));
    expect(server.rangeHeaders).toEqual(['bytes=10-19']);
    const reader = await openSafetensorsByRange(fetchRange);
    expect(await reader.readTensor('model.layers.2.mlp.down_proj.weight')).toEqual(
      tensors.get('model.layers.2.mlp.down_proj.weight'),
    );
  });

  it('says so when the server ignores Range or fails', async () => {
    const ignoring = httpFetchRange('http://model/x', fakeServer(new Uint8Array(100), true).fetchImpl);
    await expect(ignoring(0, 8)).rejects.toThrow(/ignored the Range header/);
    const missing = httpFetchRange(
      'http://model/x',
      (async () => new Response('no', { status: 404, statusText: 'Not Found' })) as unknown as typeof fetch,
    );
    await expect(missing(0, 8)).rejects.toThrow(/HTTP 404 Not Found/);
  });
});
