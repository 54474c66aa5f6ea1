import {
  adapterFromPeft,
  adapterToPeft,
  type LoraAdapter,
  loraKey,
  peftTensorName,
  Rng,
  readSafetensors,
  type Tensor,
  writeSafetensors,
} from '@prufed/model';
import { describe, expect, it } from 'vitest';
import { readPeftUpdate } from './peft-update';
import { makeAdapter } from './test-fixtures';
import { acceptUpdate, type UpdateExpectation, validateUpdate } from './validate';

const layers = [1, 2];
const global = makeAdapter([0, 1, 2, 3], (_l, _m, _f, i) => 0.01 * i);

function tensorsOf(adapter: LoraAdapter): Map<string, Tensor> {
  return readSafetensors(adapterToPeft(adapter).safetensors);
}

function bytesOf(tensors: Map<string, Tensor>, dtype: 'F32' | 'F16' = 'F32'): Uint8Array {
  return writeSafetensors(tensors, { dtype, metadata: { format: 'pt' } });
}

function codeOf(bytes: Uint8Array): string {
  const read = readPeftUpdate(bytes, global, layers);
  return read.ok ? 'ok' : read.code;
}

const update = () => {
  const rng = new Rng(5);
  return makeAdapter(layers, () => rng.normal() * 0.1);
};

describe('readPeftUpdate', () => {
  it('views an aligned F32 payload in place and matches the full decoder value for value', () => {
    // Prepare
    const bytes = adapterToPeft(update()).safetensors;
    // Execute
    const read = readPeftUpdate(bytes, global, layers);
    // Assert: against @prufed/model's whole-file decoder (copies) as the reference.
    if (!read.ok) throw new Error(read.reason);
    const reference = adapterFromPeft(bytes, adapterToPeft(update()).config);
    expect(read.adapter.layers).toEqual(layers);
    expect([...read.adapter.weights.keys()].sort()).toEqual([...reference.weights.keys()].sort());
    for (const [key, pair] of reference.weights) {
      for (const factor of ['A', 'B'] as const) {
        const view = read.adapter.weights.get(key)![factor];
        expect(view.shape).toEqual(pair[factor].shape);
        expect(Array.from(view.data)).toEqual(Array.from(pair[factor].data));
        expect(view.data.buffer).toBe(bytes.buffer);
      }
    }
  });

  it('copies a misaligned payload once and decodes F16', () => {
    // Prepare: the same file at byte offset 1 of a larger buffer, and an F16 file of the same values.
    const bytes = adapterToPeft(update()).safetensors;
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const misaligned = shifted.subarray(1);
    const half = bytesOf(tensorsOf(update()), 'F16');
    // Execute
    const fromMisaligned = readPeftUpdate(misaligned, global, layers);
    const fromHalf = readPeftUpdate(half, global, layers);
    // Assert
    if (!fromMisaligned.ok || !fromHalf.ok) throw new Error('expected both to read');
    const key = loraKey(2, 'v_proj');
    const expected = update().weights.get(key)!.B.data;
    expect(Array.from(fromMisaligned.adapter.weights.get(key)!.B.data)).toEqual(Array.from(expected));
    fromHalf.adapter.weights.get(key)!.B.data.forEach((v, i) => {
      expect(Math.abs(v - expected[i])).toBeLessThan(1e-3 * Math.max(1, Math.abs(expected[i])));
    });
  });

  it('gives each layout problem its code from the header alone', () => {
    // Prepare
    const good = tensorsOf(update());
    const without = (name: string) => new Map([...good].filter(([n]) => n !== name));
    const extraLayer = new Map([...good, ...tensorsOf(makeAdapter([3], () => 0))]);
    const wrongModule = new Map([
      ...good,
      [peftTensorName(1, 'k_proj', 'A'), { shape: [2, 3], data: new Float32Array(6) }],
    ]);
    const wrongShape = new Map([
      ...good,
      [peftTensorName(2, 'q_proj', 'B'), { shape: [5, 2], data: new Float32Array(10) }],
    ]);
    const onlyLayer1 = new Map([...good].filter(([n]) => n.includes('layers.1.')));
    const trailing = new Uint8Array(bytesOf(good).length + 4);
    trailing.set(bytesOf(good));
    // Execute / Assert
    expect(codeOf(bytesOf(good))).toBe('ok');
    expect(codeOf(bytesOf(extraLayer))).toBe('extra-layers');
    expect(codeOf(bytesOf(wrongModule))).toBe('wrong-modules');
    expect(codeOf(bytesOf(wrongShape))).toBe('wrong-shape');
    expect(codeOf(bytesOf(onlyLayer1))).toBe('missing-layers');
    expect(codeOf(bytesOf(without(peftTensorName(2, 'v_proj', 'B'))))).toBe('wrong-modules');
    expect(codeOf(trailing)).toBe('malformed');
    expect(codeOf(bytesOf(new Map([['model.embed_tokens.weight', good.values().next().value!]])))).toBe(
      'malformed',
    );
    expect(codeOf(new Uint8Array([3, 0, 0, 0, 0, 0, 0, 0, 123]))).toBe('malformed');
  });
});

describe('readPeftUpdate with a header it has accepted before', () => {
  it("reads each payload's own values, and still checks the data length and the kept layers", () => {
    // Prepare: two updates with the same header (same layers and shapes) and different values.
    const first = adapterToPeft(update()).safetensors;
    const rng = new Rng(9);
    const other = makeAdapter(layers, () => rng.normal());
    const second = adapterToPeft(other).safetensors;
    // Execute
    const a = readPeftUpdate(first, global, layers);
    const b = readPeftUpdate(second, global, layers);
    // Assert: the second read views its own bytes, value for value.
    if (!a.ok || !b.ok) throw new Error('both updates are well formed');
    const key = loraKey(1, 'q_proj');
    expect(b.adapter.weights.get(key)!.B.data.buffer).toBe(second.buffer);
    expect(Array.from(b.adapter.weights.get(key)!.B.data)).toEqual(
      Array.from(other.weights.get(key)!.B.data),
    );
    expect(codeOf(first.subarray(0, first.byteLength - 4))).toBe('malformed');
    const read = readPeftUpdate(first, global, [1]);
    expect(read.ok ? 'ok' : read.code).toBe('extra-layers');
  });
});

describe('acceptUpdate on bytes agrees with the decoded reference path', () => {
  const expectation = (maxDeltaNorm: number): UpdateExpectation => ({
    round: 1,
    assigned: new Map([['c', { id: 'c', tier: 'b', keptLayers: layers }]]),
    submitted: new Set(),
    maxPayloadBytes: 1 << 20,
    maxNumSamples: 100,
    global,
    maxDeltaNorm,
  });

  it('on the norm bound and on a NaN, naming the entry', () => {
    // Prepare: the delta norm by hand, in float64.
    const adapter = update();
    let squared = 0;
    for (const [key, pair] of adapter.weights) {
      for (const factor of ['A', 'B'] as const) {
        const base = global.weights.get(key)![factor].data;
        pair[factor].data.forEach((v, i) => {
          squared += (v - base[i]) ** 2;
        });
      }
    }
    const norm = Math.sqrt(squared);
    const incoming = { round: 1, clientId: 'c', numSamples: 4, metrics: {} };
    const withNaN = update();
    withNaN.weights.get(loraKey(2, 'q_proj'))!.A.data[4] = Number.NaN;
    // Execute / Assert
    for (const [bound, ok] of [
      [norm * 1.0001, true],
      [norm * 0.9999, false],
    ] as const) {
      const fast = acceptUpdate(
        { ...incoming, bytes: adapterToPeft(adapter).safetensors },
        expectation(bound),
      );
      const slow = validateUpdate({ ...incoming, payloadBytes: 0, adapter }, expectation(bound));
      expect(fast.ok).toBe(ok);
      expect(slow.ok).toBe(ok);
    }
    const nan = acceptUpdate({ ...incoming, bytes: adapterToPeft(withNaN).safetensors }, expectation(1e9));
    expect(nan).toMatchObject({
      ok: false,
      code: 'non-finite',
      reason: expect.stringContaining('2.q_proj A[4]'),
    });
  });
});
