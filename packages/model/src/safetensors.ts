// The safetensors file format (Hugging Face): an 8-byte little-endian header length N, N bytes of JSON
// header {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {key: value}}, then the data
// section, whose offsets are relative to byte 8 + N. Read whole, or header first then tensor by tensor
// (safetensors-range.ts); written with F32 or F16 data. Tensors always come out as float32.
import { FormatError, InputError } from './errors';
import { bfloat16ToFloat32Array, float16ToFloat32Array, float32ToFloat16Array } from './half';
import { numel, type Tensor } from './tensor';

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16';

export interface SafetensorsTensorInfo {
  dtype: SafetensorsDtype;
  shape: number[];
  /** Byte offsets into the data section, end exclusive. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  tensors: Map<string, SafetensorsTensorInfo>;
  metadata: Record<string, string>;
  /** Absolute file offset of the data section: 8 + header length. */
  dataStart: number;
}

const bytesPerElement: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2 };
const maxHeaderBytes = 100_000_000;
const metadataKey = '__metadata__';

/** Header length N from the first 8 bytes of a file. */
export function safetensorsHeaderLength(first8: Uint8Array): number {
  if (first8.length < 8) {
    throw new FormatError(
      `not a safetensors file: it has ${first8.length} bytes, fewer than the 8-byte header length`,
    );
  }
  const view = new DataView(first8.buffer, first8.byteOffset, 8);
  const low = view.getUint32(0, true);
  const high = view.getUint32(4, true);
  const length = high * 2 ** 32 + low;
  if (length > maxHeaderBytes || length < 2) {
    throw new FormatError(
      `not a safetensors file: header length ${length} is outside 2..${maxHeaderBytes} bytes ` +
        '(the first 8 bytes must be the little-endian JSON header length)',
    );
  }
  return length;
}

/** Parses and validates the header; `bytes` holds at least the first 8 + N bytes of the file. */
export function parseSafetensorsHeader(bytes: Uint8Array): SafetensorsHeader {
  const headerLength = safetensorsHeaderLength(bytes);
  const dataStart = 8 + headerLength;
  if (bytes.length < dataStart) {
    throw new FormatError(
      `safetensors header says it is ${headerLength} bytes long, but only ${bytes.length - 8} bytes follow ` +
        'the length: the file is truncated or not safetensors',
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataStart)));
  } catch (error) {
    throw new FormatError(`safetensors header is not valid UTF-8 JSON (${(error as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new FormatError('safetensors header must be a JSON object mapping tensor names to their info');
  }
  const metadata = parseMetadata((json as Record<string, unknown>)[metadataKey]);
  const tensors = new Map<string, SafetensorsTensorInfo>();
  for (const [name, entry] of Object.entries(json)) {
    if (name !== metadataKey) tensors.set(name, parseTensorInfo(name, entry));
  }
  checkNoOverlap(tensors);
  return { tensors, metadata, dataStart };
}

function parseMetadata(raw: unknown): Record<string, string> {
  if (raw === undefined) return {};
  const valid =
    typeof raw === 'object' &&
    raw !== null &&
    !Array.isArray(raw) &&
    Object.values(raw).every((value) => typeof value === 'string');
  if (!valid) {
    throw new FormatError(
      `safetensors "${metadataKey}" must map strings to strings, got ${JSON.stringify(raw)}`,
    );
  }
  return { ...(raw as Record<string, string>) };
}

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function parseTensorInfo(name: string, entry: unknown): SafetensorsTensorInfo {
  const { dtype, shape, data_offsets: offsets } = (entry ?? {}) as Record<string, unknown>;
  if (typeof dtype !== 'string' || !(dtype in bytesPerElement)) {
    throw new FormatError(
      `tensor "${name}" has dtype ${JSON.stringify(dtype)}, but only ${Object.keys(bytesPerElement).join(', ')} ` +
        'are supported; convert the checkpoint to float32, float16 or bfloat16',
    );
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) {
    throw new FormatError(
      `tensor "${name}" has shape ${JSON.stringify(shape)}; a shape must be a list of non-negative integers`,
    );
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger)) {
    throw new FormatError(
      `tensor "${name}" has data_offsets ${JSON.stringify(offsets)}; they must be [begin, end] byte offsets`,
    );
  }
  const [begin, end] = offsets as number[];
  if (end < begin) {
    throw new FormatError(
      `tensor "${name}" has data_offsets [${begin}, ${end}] out of order (end before begin)`,
    );
  }
  const info: SafetensorsTensorInfo = { dtype: dtype as SafetensorsDtype, shape: [...shape], begin, end };
  const expected = tensorByteLength(info);
  if (end - begin !== expected) {
    throw new FormatError(
      `tensor "${name}": shape [${info.shape}] of ${dtype} needs ${expected} bytes, but data_offsets ` +
        `[${begin}, ${end}] span ${end - begin}; the header is corrupt`,
    );
  }
  return info;
}

function tensorByteLength(info: Pick<SafetensorsTensorInfo, 'dtype' | 'shape'>): number {
  return numel(info.shape) * bytesPerElement[info.dtype];
}

function checkNoOverlap(tensors: Map<string, SafetensorsTensorInfo>): void {
  const sorted = [...tensors]
    .filter(([, info]) => info.end > info.begin)
    .sort(([, a], [, b]) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    const [previousName, previous] = sorted[i - 1];
    const [name, info] = sorted[i];
    if (info.begin < previous.end) {
      throw new FormatError(
        `tensors "${previousName}" [${previous.begin}, ${previous.end}) and "${name}" [${info.begin}, ${info.end}) ` +
          'overlap in the data section; the header is corrupt',
      );
    }
  }
}

/** Number of data-section bytes the header describes (the largest end offset). */
export function safetensorsDataLength(header: SafetensorsHeader): number {
  let length = 0;
  for (const info of header.tensors.values()) length = Math.max(length, info.end);
  return length;
}

/** Decodes one tensor's bytes (exactly end - begin of them) to float32. */
export function decodeTensor(info: SafetensorsTensorInfo, bytes: Uint8Array): Tensor {
  const expected = info.end - info.begin;
  if (bytes.length !== expected) {
    throw new FormatError(`expected ${expected} bytes of ${info.dtype} tensor data, got ${bytes.length}`);
  }
  // Copying into a fresh buffer aligns the data (new Uint8Array copies even a Node Buffer, whose slice()
  // would share the file's memory); safetensors and every supported host are little-endian.
  const aligned = new Uint8Array(bytes).buffer;
  const shape = [...info.shape];
  switch (info.dtype) {
    case 'F32':
      return { shape, data: new Float32Array(aligned) };
    case 'F16':
      return { shape, data: float16ToFloat32Array(new Uint16Array(aligned)) };
    case 'BF16':
      return { shape, data: bfloat16ToFloat32Array(new Uint16Array(aligned)) };
  }
}

/** Reads every tensor of a whole safetensors file. */
export function readSafetensors(bytes: Uint8Array): Map<string, Tensor> {
  const header = parseSafetensorsHeader(bytes);
  const expected = safetensorsDataLength(header);
  const found = bytes.length - header.dataStart;
  if (found < expected) {
    throw new FormatError(
      `safetensors file is truncated: expected ${expected} bytes of data, found ${found}; download it again`,
    );
  }
  if (found > expected) {
    throw new FormatError(
      `safetensors file has ${found} bytes of data but its header describes only ${expected}; the file is corrupt`,
    );
  }
  const tensors = new Map<string, Tensor>();
  for (const [name, info] of header.tensors) {
    const start = header.dataStart + info.begin;
    tensors.set(name, decodeTensor(info, bytes.subarray(start, start + info.end - info.begin)));
  }
  return tensors;
}

export interface WriteSafetensorsOptions {
  /** Storage type of every tensor; default F32. */
  dtype?: 'F32' | 'F16';
  metadata?: Record<string, string>;
}

/** Serialises tensors (sorted by name, contiguous data) to safetensors bytes loadable by HF safetensors. */
export function writeSafetensors(
  tensors: Map<string, Tensor>,
  options: WriteSafetensorsOptions = {},
): Uint8Array {
  const dtype = options.dtype ?? 'F32';
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = {};
  if (options.metadata !== undefined) header[metadataKey] = options.metadata;
  let offset = 0;
  for (const name of names) {
    const { shape, data } = tensors.get(name)!;
    if (name === metadataKey) throw new InputError(`"${metadataKey}" is reserved and cannot name a tensor`);
    if (data.length !== numel(shape)) {
      throw new InputError(
        `tensor "${name}" has ${data.length} values but shape [${shape}] needs ${numel(shape)}; fix its shape`,
      );
    }
    const byteLength = tensorByteLength({ dtype, shape });
    header[name] = { dtype, shape, data_offsets: [offset, offset + byteLength] };
    offset += byteLength;
  }
  // Pad the header with spaces so the data section starts 8-byte aligned, as the HF writer does.
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLength = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerLength, true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let position = 8 + headerLength;
  for (const name of names) {
    const { data } = tensors.get(name)!;
    const encoded = dtype === 'F32' ? data : float32ToFloat16Array(data);
    out.set(new Uint8Array(encoded.buffer, encoded.byteOffset, encoded.byteLength), position);
    position += encoded.byteLength;
  }
  return out;
}
