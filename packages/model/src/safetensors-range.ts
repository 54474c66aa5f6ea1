// Reading a safetensors file piece by piece: the 8-byte length, the header, then single tensors by byte
// range, so a client downloads only the layers its pruned variant keeps (over HTTP Range or a file handle).
import { FormatError, InputError } from './errors';
import {
  decodeTensor,
  parseSafetensorsHeader,
  type SafetensorsHeader,
  safetensorsHeaderLength,
} from './safetensors';
import type { Tensor } from './tensor';

/** Returns the file's bytes [start, endExclusive). */
export type FetchRange = (start: number, endExclusive: number) => Promise<Uint8Array>;

export interface SafetensorsByRange {
  header: SafetensorsHeader;
  readTensor(name: string): Promise<Tensor>;
  /** The tensor's raw stored bytes (its dtype as in header.tensors), e.g. for a cache. */
  readTensorBytes(name: string): Promise<Uint8Array>;
}

async function fetchExactly(
  fetchRange: FetchRange,
  start: number,
  end: number,
  what: string,
): Promise<Uint8Array> {
  const bytes = await fetchRange(start, end);
  if (bytes.length !== end - start) {
    throw new FormatError(
      `reading ${what} (bytes ${start}..${end}) returned ${bytes.length} bytes instead of ${end - start}; ` +
        'the file is truncated or the server does not honour byte ranges',
    );
  }
  return bytes;
}

/** Reads the header (two small requests); tensors are fetched only when asked for. */
export async function openSafetensorsByRange(fetchRange: FetchRange): Promise<SafetensorsByRange> {
  const first8 = await fetchExactly(fetchRange, 0, 8, 'the safetensors header length');
  const headerLength = safetensorsHeaderLength(first8);
  const headerBytes = await fetchExactly(fetchRange, 8, 8 + headerLength, 'the safetensors header');
  const bytes = new Uint8Array(8 + headerLength);
  bytes.set(first8);
  bytes.set(headerBytes, 8);
  const header = parseSafetensorsHeader(bytes);

  const infoOf = (name: string) => {
    const info = header.tensors.get(name);
    if (info === undefined) {
      const names = [...header.tensors.keys()];
      const some = names.slice(0, 5).join(', ') + (names.length > 5 ? `, ... (${names.length} in all)` : '');
      throw new InputError(`no tensor "${name}" in the safetensors file; it holds ${some || 'no tensors'}`);
    }
    return info;
  };
  const readTensorBytes = async (name: string) => {
    const info = infoOf(name);
    if (info.end === info.begin) return new Uint8Array(0);
    return fetchExactly(
      fetchRange,
      header.dataStart + info.begin,
      header.dataStart + info.end,
      `tensor "${name}"`,
    );
  };
  return {
    header,
    readTensorBytes,
    readTensor: async (name) => decodeTensor(infoOf(name), await readTensorBytes(name)),
  };
}

/** A FetchRange over HTTP Range requests; the server must answer 206 Partial Content. */
export function httpFetchRange(url: string, fetchImpl: typeof fetch = fetch): FetchRange {
  return async (start, endExclusive) => {
    const response = await fetchImpl(url, { headers: { Range: `bytes=${start}-${endExclusive - 1}` } });
    if (response.status === 200) {
      throw new InputError(
        `${url} ignored the Range header (status 200 with the whole file); serve model files from a server ` +
          'that supports HTTP Range requests (206 Partial Content)',
      );
    }
    if (response.status !== 206) {
      throw new InputError(
        `GET ${url} bytes ${start}..${endExclusive} failed with HTTP ${response.status} ${response.statusText}; ` +
          'check the model URL and that the server is running',
      );
    }
    return new Uint8Array(await response.arrayBuffer());
  };
}
