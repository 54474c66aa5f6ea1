import { describe, expect, it } from 'vitest';
import {
  type Parsed,
  parseAdapterBytes,
  parseControl,
  parseHello,
  parseProgress,
  parseUpdateMeta,
} from './guards';

const hello = {
  protocolVersion: 1,
  engine: 'webgpu',
  preferredTier: 'b',
  tierReason: 'fits 3L/4 in 4 GiB at 1.2 s/step',
  gpu: {
    vendor: 'nvidia',
    architecture: 'ampere',
    description: '',
    features: ['shader-f16'],
    maxStorageBufferBindingSize: 2 ** 30,
    maxBufferSize: 2 ** 31,
  },
  deviceMemoryGb: 8,
};

function reasonOf<T>(parsed: Parsed<T>): string {
  if (parsed.ok) throw new Error(`expected a rejection, got ${JSON.stringify(parsed.value)}`);
  return parsed.reason;
}

describe('parseHello', () => {
  it('accepts a full report and one without a GPU', () => {
    expect(parseHello(hello)).toEqual({ ok: true, value: hello });
    const cpu = { ...hello, engine: 'cpu', gpu: null, deviceMemoryGb: null };
    expect(parseHello(cpu)).toEqual({ ok: true, value: cpu });
  });

  it('accepts a resume claim and rejects a malformed one', () => {
    const resume = { clientId: 'c-1', round: 3, token: 'secret' };
    expect(parseHello({ ...hello, resume })).toEqual({ ok: true, value: { ...hello, resume } });
    expect(reasonOf(parseHello({ ...hello, resume: { ...resume, round: 0 } }))).toBe(
      'hello.resume.round must be an integer in [1, 9007199254740991], got 0',
    );
    expect(reasonOf(parseHello({ ...hello, resume: { ...resume, token: undefined } }))).toBe(
      'hello.resume.token is missing',
    );
    expect(reasonOf(parseHello({ ...hello, resume: { ...resume, slot: 1 } }))).toBe(
      'hello.resume has an unknown field "slot"',
    );
  });

  it('rejects wrong types, missing and unknown fields, huge strings and long arrays', () => {
    expect(reasonOf(parseHello('hello'))).toBe('hello must be an object, got "hello"');
    expect(reasonOf(parseHello([hello]))).toBe('hello must be an object, got an array of 1 items');
    expect(reasonOf(parseHello(null))).toMatch(/got null/);
    expect(reasonOf(parseHello({ ...hello, preferredTier: 'd' }))).toBe(
      'hello.preferredTier must be one of a, b, c, got "d"',
    );
    expect(reasonOf(parseHello({ ...hello, engine: undefined }))).toBe('hello.engine is missing');
    expect(reasonOf(parseHello({ ...hello, admin: true }))).toBe('hello has an unknown field "admin"');
    expect(reasonOf(parseHello({ ...hello, tierReason: 'x'.repeat(1_000_000) }))).toMatch(
      /tierReason must be a string of at most 1000 characters, got a string of 1000000 characters/,
    );
    expect(reasonOf(parseHello({ ...hello, gpu: { ...hello.gpu, features: Array(65).fill('f') } }))).toMatch(
      /hello.gpu.features must be an array of at most 64 items/,
    );
    expect(reasonOf(parseHello({ ...hello, gpu: { ...hello.gpu, maxBufferSize: [1] } }))).toMatch(
      /hello.gpu.maxBufferSize must be an integer .*, got an array of 1 items/,
    );
    expect(reasonOf(parseHello({ ...hello, deviceMemoryGb: Number.NaN }))).toMatch(
      /deviceMemoryGb must be a finite number/,
    );
  });
});

describe('parseProgress', () => {
  it('accepts round, step and loss and rejects anything else', () => {
    expect(parseProgress({ round: 2, step: 0, loss: 3.25 })).toEqual({
      ok: true,
      value: { round: 2, step: 0, loss: 3.25 },
    });
    expect(reasonOf(parseProgress({ round: 0, step: 0, loss: 1 }))).toMatch(
      /progress.round must be an integer in \[1/,
    );
    expect(reasonOf(parseProgress({ round: 1, step: 1.5, loss: 1 }))).toMatch(/progress.step/);
    expect(reasonOf(parseProgress({ round: 1, step: 1, loss: '1' }))).toMatch(
      /progress.loss must be a finite number/,
    );
    expect(reasonOf(parseProgress({ round: 1, step: 1, loss: [1] }))).toMatch(/got an array of 1 items/);
    expect(reasonOf(parseProgress({ round: 1, step: 1 }))).toBe('progress.loss is missing');
  });
});

describe('parseUpdateMeta', () => {
  it('accepts metadata with finite metrics', () => {
    const meta = { round: 4, numSamples: 32, metrics: { loss: 1.1, tokens: 4096 } };
    expect(parseUpdateMeta(meta)).toEqual({ ok: true, value: meta });
  });

  it('rejects bad sample counts, non-numeric or too many metrics and prototype tricks', () => {
    expect(reasonOf(parseUpdateMeta({ round: 4, numSamples: 0, metrics: {} }))).toMatch(/numSamples/);
    expect(reasonOf(parseUpdateMeta({ round: 4, numSamples: '32', metrics: {} }))).toMatch(/numSamples/);
    expect(reasonOf(parseUpdateMeta({ round: 4, numSamples: 32, metrics: { loss: 'low' } }))).toMatch(
      /update.metrics.loss must be a finite number/,
    );
    expect(reasonOf(parseUpdateMeta({ round: 4, numSamples: 32, metrics: [1, 2] }))).toMatch(
      /metrics must be an object/,
    );
    const many = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`m${i}`, i]));
    expect(reasonOf(parseUpdateMeta({ round: 4, numSamples: 32, metrics: many }))).toMatch(
      /at most 32 metrics/,
    );
    expect(reasonOf(parseUpdateMeta({ round: 4, numSamples: 32, metrics: { ['k'.repeat(65)]: 1 } }))).toMatch(
      /metrics key must be a string of at most 64/,
    );
    const polluted = parseUpdateMeta(JSON.parse('{"round":4,"numSamples":32,"metrics":{"__proto__":1}}'));
    expect(polluted.ok && Object.getPrototypeOf(polluted.value.metrics)).toBe(Object.prototype);
  });
});

describe('parseAdapterBytes', () => {
  it('accepts Uint8Array and ArrayBuffer up to the limit, nothing else', () => {
    const bytes = new Uint8Array([1, 2, 3]);
    expect(parseAdapterBytes(bytes, 3)).toEqual({ ok: true, value: bytes });
    expect(parseAdapterBytes(bytes.buffer, 3)).toEqual({ ok: true, value: bytes });
    expect(reasonOf(parseAdapterBytes(bytes, 2))).toBe('adapter is 3 bytes, the limit is 2');
    expect(reasonOf(parseAdapterBytes([1, 2, 3], 10))).toMatch(/adapter must be binary data/);
    expect(reasonOf(parseAdapterBytes('AQID', 10))).toMatch(/adapter must be binary data/);
  });
});

describe('parseControl', () => {
  it('accepts the four commands', () => {
    for (const type of ['start', 'pause', 'resume'] as const)
      expect(parseControl({ type })).toEqual({ ok: true, value: { type } });
    const configure = {
      type: 'configure',
      settings: { sampling: { fraction: 0.5 }, train: { learningRate: 2e-4 }, totalRounds: 10 },
    };
    expect(parseControl(configure)).toEqual({ ok: true, value: configure });
  });

  it('rejects unknown commands, stray fields and bad settings', () => {
    expect(reasonOf(parseControl({ type: 'shutdown' }))).toMatch(
      /control.type must be one of start, pause, resume, configure/,
    );
    expect(reasonOf(parseControl({ type: 'start', settings: {} }))).toBe(
      'control has an unknown field "settings"',
    );
    expect(reasonOf(parseControl({ type: 'configure' }))).toBe('control.settings is missing');
    expect(reasonOf(parseControl({ type: 'configure', settings: { sampling: { fraction: 2 } } }))).toMatch(
      /control.settings.sampling.fraction must be a finite number/,
    );
    expect(reasonOf(parseControl({ type: 'configure', settings: { train: { localSteps: -1 } } }))).toMatch(
      /control.settings.train.localSteps/,
    );
    expect(reasonOf(parseControl({ type: 'configure', settings: { rounds: 3 } }))).toMatch(
      /unknown field "rounds"/,
    );
    expect(reasonOf(parseControl(42))).toBe('control must be an object, got 42');
  });
});
