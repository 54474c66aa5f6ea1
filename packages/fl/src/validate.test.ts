import { adapterToPeft, loraKey } from '@prufed/model';
import { describe, expect, it } from 'vitest';
import { makeAdapter, tinyLora } from './test-fixtures';
import { acceptUpdate, type CandidateUpdate, type UpdateExpectation, validateUpdate } from './validate';

const keptLayers = [0, 1];
// 2 layers x 2 modules x (6 A + 8 B entries) = 56 entries of 0.1 over a zero global: delta norm 0.1 * sqrt(56).
const deltaNorm = 0.1 * Math.sqrt(56);

function expectation(): UpdateExpectation {
  return {
    round: 3,
    assigned: new Map([
      ['c1', { id: 'c1', tier: 'c', keptLayers }],
      ['c2', { id: 'c2', tier: 'a', keptLayers: [0, 1, 2, 3] }],
    ]),
    submitted: new Set(['c2']),
    maxPayloadBytes: 10_000,
    maxNumSamples: 1000,
    global: makeAdapter([0, 1, 2, 3], () => 0),
    maxDeltaNorm: 0.75,
  };
}

function candidate(): CandidateUpdate {
  return {
    round: 3,
    clientId: 'c1',
    numSamples: 8,
    payloadBytes: 2000,
    adapter: makeAdapter(keptLayers, () => 0.1),
  };
}

function codeOf(update: CandidateUpdate, expected = expectation()): string {
  const validation = validateUpdate(update, expected);
  return validation.ok ? 'ok' : validation.code;
}

describe('validateUpdate', () => {
  it('accepts a well-formed update within the norm bound', () => {
    expect(deltaNorm).toBeLessThan(0.75);
    expect(validateUpdate(candidate(), expectation())).toEqual({ ok: true });
  });

  it('gives each envelope problem its code', () => {
    expect(codeOf({ ...candidate(), payloadBytes: 10_001 })).toBe('payload-too-large');
    expect(codeOf({ ...candidate(), round: 2 })).toBe('wrong-round');
    expect(codeOf({ ...candidate(), clientId: 'stranger' })).toBe('unknown-client');
    expect(codeOf({ ...candidate(), clientId: 'c2' })).toBe('duplicate-client');
    expect(codeOf({ ...candidate(), numSamples: 0 })).toBe('bad-num-samples');
    expect(codeOf({ ...candidate(), numSamples: 1001 })).toBe('bad-num-samples');
    expect(codeOf({ ...candidate(), numSamples: 2.5 })).toBe('bad-num-samples');
  });

  it('gives each adapter layout problem its code', () => {
    // Prepare
    const withAdapter = (adapter: CandidateUpdate['adapter']) => ({ ...candidate(), adapter });
    const extraModule = makeAdapter(keptLayers, () => 0.1);
    extraModule.weights.set(loraKey(0, 'k_proj'), extraModule.weights.get(loraKey(0, 'q_proj'))!);
    const missingModule = makeAdapter(keptLayers, () => 0.1);
    missingModule.weights.delete(loraKey(1, 'v_proj'));
    missingModule.weights.set('1.x_proj', missingModule.weights.get(loraKey(1, 'q_proj'))!);
    const wrongIn = makeAdapter(keptLayers, () => 0.1);
    wrongIn.weights.get(loraKey(1, 'q_proj'))!.A = { shape: [2, 5], data: new Float32Array(10) };
    const shortData = makeAdapter(keptLayers, () => 0.1);
    shortData.weights.get(loraKey(0, 'v_proj'))!.B.data = new Float32Array(7);
    // Execute / Assert
    expect(codeOf(withAdapter(makeAdapter(keptLayers, () => 0.1, { ...tinyLora, alpha: 8 })))).toBe(
      'wrong-config',
    );
    expect(
      codeOf(withAdapter(makeAdapter(keptLayers, () => 0.1, { ...tinyLora, targetModules: ['q_proj'] }))),
    ).toBe('wrong-modules');
    expect(codeOf(withAdapter({ ...makeAdapter(keptLayers, () => 0.1), layers: [1, 0] }))).toBe('bad-layers');
    expect(codeOf(withAdapter(makeAdapter([0, 1, 2], () => 0.1)))).toBe('extra-layers');
    expect(codeOf(withAdapter(makeAdapter([0], () => 0.1)))).toBe('missing-layers');
    expect(codeOf(withAdapter(extraModule))).toBe('wrong-modules');
    expect(codeOf(withAdapter(missingModule))).toBe('wrong-modules');
    expect(codeOf(withAdapter(wrongIn))).toBe('wrong-shape');
    expect(codeOf(withAdapter(shortData))).toBe('wrong-shape');
  });

  it('rejects NaN and Inf values', () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      const adapter = makeAdapter(keptLayers, (layer, module, factor, i) =>
        layer === 1 && module === 'v_proj' && factor === 'B' && i === 7 ? bad : 0.1,
      );
      const validation = validateUpdate({ ...candidate(), adapter }, expectation());
      expect(validation).toMatchObject({ ok: false, code: 'non-finite' });
      expect(validation.ok || validation.reason).toMatch(/1.v_proj B\[7\]/);
    }
  });

  it('bounds the L2 norm of the delta from the global the client received', () => {
    // Prepare: a global of 0.1 everywhere makes the same adapter a zero delta.
    const tight = { ...expectation(), maxDeltaNorm: 0.74 };
    const shiftedGlobal = { ...tight, global: makeAdapter([0, 1, 2, 3], () => 0.1) };
    // Execute / Assert
    expect(codeOf(candidate(), tight)).toBe('norm-too-large');
    expect(codeOf(candidate(), shiftedGlobal)).toBe('ok');
  });
});

describe('acceptUpdate', () => {
  it('decodes PEFT bytes into a FitResult', () => {
    // Prepare
    const { safetensors } = adapterToPeft(makeAdapter(keptLayers, (_l, _m, _f, i) => 0.01 * i));
    // Execute
    const acceptance = acceptUpdate(
      { round: 3, clientId: 'c1', numSamples: 8, metrics: { loss: 1.5 }, bytes: safetensors },
      expectation(),
    );
    // Assert
    expect(acceptance.ok).toBe(true);
    if (!acceptance.ok) return;
    expect(acceptance.result).toMatchObject({ clientId: 'c1', numSamples: 8, metrics: { loss: 1.5 } });
    expect(acceptance.result.adapter.layers).toEqual(keptLayers);
    expect(acceptance.result.adapter.weights.get(loraKey(1, 'v_proj'))!.B.data[3]).toBeCloseTo(0.03, 7);
  });

  it("gives each layer's delta norm: the update minus the global over every module's A and B", () => {
    // Prepare: layer 0 holds 0.5, layer 1 holds -2; each layer has 2 modules x (6 + 8) values.
    const adapter = makeAdapter(keptLayers, (layer) => (layer === 0 ? 0.5 : -2));
    const global = makeAdapter([0, 1, 2, 3], () => 0.25);
    const { safetensors } = adapterToPeft(adapter);
    // Execute
    const acceptance = acceptUpdate(
      { round: 3, clientId: 'c1', numSamples: 8, metrics: {}, bytes: safetensors },
      { ...expectation(), global, maxDeltaNorm: 100 },
    );
    // Assert: sqrt(28 * d^2) = |d| sqrt(28), d = 0.25 and -2.25.
    if (!acceptance.ok) throw new Error(acceptance.reason);
    expect(acceptance.result.layerDeltaNorms?.get(0)).toBeCloseTo(0.25 * Math.sqrt(28), 6);
    expect(acceptance.result.layerDeltaNorms?.get(1)).toBeCloseTo(2.25 * Math.sqrt(28), 6);
    expect([...(acceptance.result.layerDeltaNorms?.keys() ?? [])]).toEqual([0, 1]);
  });

  it('answers malformed for bytes that are not a PEFT adapter, after checking their size', () => {
    // Prepare
    const garbage = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const incoming = { round: 3, clientId: 'c1', numSamples: 8, metrics: {}, bytes: garbage };
    // Execute / Assert
    expect(acceptUpdate(incoming, expectation())).toMatchObject({ ok: false, code: 'malformed' });
    expect(acceptUpdate(incoming, { ...expectation(), maxPayloadBytes: 9 })).toMatchObject({
      ok: false,
      code: 'payload-too-large',
    });
  });
});
