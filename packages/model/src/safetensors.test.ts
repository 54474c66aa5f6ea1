import { describe, expect, it } from 'vitest';
import { FormatError, InputError } from './errors';
import {
  decodeTensor,
  parseSafetensorsHeader,
  readSafetensors,
  safetensorsHeaderLength,
  writeSafetensors,
} from './safetensors';
import type { Tensor } from './tensor';

/** A safetensors file built by hand: little-endian u64 length, the header text as given, then the data. */
function handBuilt(header: string, data: number[]): Uint8Array {
  const json = new TextEncoder().encode(header);
  const lengthBytes = [json.length & 0xff, (json.length >> 8) & 0xff, 0, 0, 0, 0, 0, 0];
  return new Uint8Array([...lengthBytes, ...json, ...data]);
}

const f32One = [0x00, 0x00, 0x80, 0x3f]; // 1.0
const f32MinusTwoAndAHalf = [0x00, 0x00, 0x20, 0xc0]; // -2.5
const f32Two = [0x00, 0x00, 0x00, 0x40]; // 2.0

describe('readSafetensors on hand-built files', () => {
  it('reads F32, F16 and BF16 tensors, shapes and metadata', () => {
    const header =
      '{"__metadata__":{"format":"pt"},' +
      '"w":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},' +
      '"h":{"dtype":"F16","shape":[2],"data_offsets":[8,12]},' +
      '"b":{"dtype":"BF16","shape":[],"data_offsets":[12,14]},' +
      '"e":{"dtype":"F32","shape":[0,3],"data_offsets":[14,14]}}';
    const bytes = handBuilt(header, [...f32One, ...f32MinusTwoAndAHalf, 0x00, 0x3c, 0x00, 0xc0, 0x49, 0x40]);
    const parsed = parseSafetensorsHeader(bytes);
    expect(parsed.dataStart).toBe(8 + header.length);
    expect(parsed.metadata).toEqual({ format: 'pt' });
    expect(parsed.tensors.get('h')).toEqual({ dtype: 'F16', shape: [2], begin: 8, end: 12 });
    const tensors = readSafetensors(bytes);
    expect([...tensors.keys()].sort()).toEqual(['b', 'e', 'h', 'w']);
    expect(tensors.get('w')).toEqual({ shape: [1, 2], data: new Float32Array([1, -2.5]) });
    expect(tensors.get('h')).toEqual({ shape: [2], data: new Float32Array([1, -2]) });
    expect(tensors.get('b')).toEqual({ shape: [], data: new Float32Array([3.140625]) });
    expect(tensors.get('e')).toEqual({ shape: [0, 3], data: new Float32Array(0) });
  });

  it('reads a header padded with trailing spaces and no metadata', () => {
    const bytes = handBuilt('{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}     ', f32Two);
    expect(readSafetensors(bytes).get('x')?.data).toEqual(new Float32Array([2]));
    expect(parseSafetensorsHeader(bytes).metadata).toEqual({});
  });

  it('reads from a Node Buffer that is a view into a larger allocation (fs.readFile pools small files)', () => {
    const file = handBuilt('{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', [...f32One, ...f32Two]);
    const pool = Buffer.alloc(file.length + 64, 0x7f);
    pool.set(file, 32);
    const view = pool.subarray(32, 32 + file.length);
    expect(readSafetensors(view).get('x')).toEqual({ shape: [2], data: new Float32Array([1, 2]) });
  });

  it('reads the header length from the first 8 bytes', () => {
    expect(safetensorsHeaderLength(new Uint8Array([0x10, 0x01, 0, 0, 0, 0, 0, 0]))).toBe(0x110);
  });

  it('decodeTensor checks the byte count', () => {
    expect(() => decodeTensor({ dtype: 'F32', shape: [2], begin: 0, end: 8 }, new Uint8Array(4))).toThrow(
      /expected 8 bytes of F32 tensor data, got 4/,
    );
  });
});

describe('writeSafetensors', () => {
  it('writes the exact HF layout: sorted names, space-padded header, contiguous data', () => {
    const tensors = new Map<string, Tensor>([
      ['z', { shape: [1], data: new Float32Array([2]) }],
      ['a', { shape: [2], data: new Float32Array([1, -2.5]) }],
    ]);
    const bytes = writeSafetensors(tensors, { metadata: { format: 'pt' } });
    const header =
      '{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
      '"z":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}';
    const padded = Math.ceil(header.length / 8) * 8;
    expect(padded).toBeGreaterThan(header.length); // the test exercises padding
    expect(bytes.length).toBe(8 + padded + 12);
    expect(Array.from(bytes.subarray(0, 8))).toEqual([padded, 0, 0, 0, 0, 0, 0, 0]);
    expect(new TextDecoder().decode(bytes.subarray(8, 8 + padded))).toBe(header.padEnd(padded, ' '));
    expect(Array.from(bytes.subarray(8 + padded))).toEqual([...f32One, ...f32MinusTwoAndAHalf, ...f32Two]);
  });

  it('round-trips F32 exactly and F16 to the nearest half', () => {
    const tensors = new Map<string, Tensor>([
      ['model.norm.weight', { shape: [3], data: new Float32Array([0.1, -7.25, 1e-3]) }],
      ['m', { shape: [2, 2], data: new Float32Array([1, 2, 3, 65504]) }],
      ['scalar', { shape: [], data: new Float32Array([0.5]) }],
    ]);
    expect(readSafetensors(writeSafetensors(tensors))).toEqual(tensors);
    const half = readSafetensors(writeSafetensors(tensors, { dtype: 'F16' }));
    expect(parseSafetensorsHeader(writeSafetensors(tensors, { dtype: 'F16' })).tensors.get('m')?.dtype).toBe(
      'F16',
    );
    expect(half.get('m')).toEqual(tensors.get('m'));
    // Nearest halves: 0.1 -> 0x2e66, 1e-3 -> 0x1419 (0.0010004043579101562).
    expect(half.get('model.norm.weight')?.data).toEqual(
      new Float32Array([0.0999755859375, -7.25, 0.0010004043579101562]),
    );
  });

  it('rejects data that does not fit its shape and the reserved name', () => {
    const bad = new Map<string, Tensor>([['w', { shape: [2, 2], data: new Float32Array(3) }]]);
    expect(() => writeSafetensors(bad)).toThrow(InputError);
    expect(() => writeSafetensors(bad)).toThrow(/3 values but shape \[2,2\] needs 4/);
    const reserved = new Map<string, Tensor>([['__metadata__', { shape: [1], data: new Float32Array(1) }]]);
    expect(() => writeSafetensors(reserved)).toThrow(/reserved/);
  });
});

describe('safetensors errors', () => {
  const one = (entry: string) => `{"t":${entry}}`;
  const cases: [string, Uint8Array, RegExp][] = [
    ['fewer than 8 bytes', new Uint8Array([1, 2, 3]), /fewer than the 8-byte header length/],
    [
      'absurd header length',
      new Uint8Array([0, 0, 0, 0, 1, 0, 0, 0, 0x7b]),
      /header length 4294967296 is outside/,
    ],
    [
      'header beyond the file',
      new Uint8Array([...[100, 0, 0, 0, 0, 0, 0, 0], ...new TextEncoder().encode('{"t":')]),
      /header says it is 100 bytes long, but only 5 bytes follow/,
    ],
    ['corrupt JSON', handBuilt('{"t":{"dtype":"F32",', []), /not valid UTF-8 JSON/],
    ['header not an object', handBuilt('[1,2]', []), /must be a JSON object/],
    [
      'F64',
      handBuilt(one('{"dtype":"F64","shape":[1],"data_offsets":[0,8]}'), []),
      /dtype "F64".*F32, F16, BF16/,
    ],
    ['I8', handBuilt(one('{"dtype":"I8","shape":[1],"data_offsets":[0,1]}'), [0]), /dtype "I8"/],
    ['missing dtype', handBuilt(one('{"shape":[1],"data_offsets":[0,4]}'), f32One), /dtype undefined/],
    [
      'shape/offset mismatch',
      handBuilt(one('{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}'), []),
      /shape \[2,3\] of F32 needs 24 bytes, but data_offsets \[0, 20\] span 20/,
    ],
    [
      'negative dim',
      handBuilt(one('{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}'), f32One),
      /non-negative/,
    ],
    [
      'fractional dim',
      handBuilt(one('{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}'), f32One),
      /non-negative/,
    ],
    [
      'bad offsets',
      handBuilt(one('{"dtype":"F32","shape":[1],"data_offsets":[0]}'), f32One),
      /\[begin, end\]/,
    ],
    [
      'end before begin',
      handBuilt(one('{"dtype":"F32","shape":[0],"data_offsets":[4,0]}'), f32One),
      /out of order/,
    ],
    [
      'overlapping tensors',
      handBuilt(
        '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
        [...f32One, ...f32Two],
      ),
      /"a" \[0, 8\) and "b" \[4, 8\) overlap/,
    ],
    ['bad metadata', handBuilt('{"__metadata__":{"n":1}}', []), /must map strings to strings/],
    [
      'truncated data',
      handBuilt(one('{"dtype":"F32","shape":[3],"data_offsets":[0,12]}'), [...f32One, ...f32Two]),
      /file is truncated: expected 12 bytes of data, found 8/,
    ],
    [
      'trailing data',
      handBuilt(one('{"dtype":"F32","shape":[1],"data_offsets":[0,4]}'), [...f32One, ...f32Two]),
      /8 bytes of data but its header describes only 4/,
    ],
  ];
  for (const [what, bytes, message] of cases) {
    it(`rejects ${what} with a FormatError`, () => {
      expect(() => readSafetensors(bytes)).toThrow(FormatError);
      expect(() => readSafetensors(bytes)).toThrow(message);
    });
  }
});
