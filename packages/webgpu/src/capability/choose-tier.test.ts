// chooseTier on recorded adapter profiles (profiles/*.json, each says where its numbers come from)
// with two real model shapes. Expected tiers follow from the sizes worked out in the comments.
import { readFileSync } from 'node:fs';
import { FormatError, InputError, loraModules } from '@prufed/model';
import { llamaConfigOf } from '@prufed/model/testing';
import { describe, expect, it } from 'vitest';
import { chooseTier, type TierBudget, type TierModel } from './choose-tier';
import type { TrainShape } from './estimate';
import { type CapabilityReport, parseCapabilityReport } from './probe';

function profile(name: string): CapabilityReport {
  return parseCapabilityReport(
    JSON.parse(readFileSync(new URL(`./profiles/${name}.json`, import.meta.url), 'utf8')),
  );
}

/** TinyLlama-1.1B's shape: 4.1 GiB of f32 weights at full depth, a 250 MiB embedding. */
const tinyLlama: TierModel<'a' | 'b' | 'c'> = {
  config: llamaConfigOf({
    L: 22,
    C: 2048,
    NH: 32,
    NKV: 4,
    F: 5632,
    V: 32000,
    maxPositions: 2048,
    tied: false,
  }),
  tiers: { a: 22, b: 16, c: 11 },
};
/** SmolLM-135M's shape: 0.5 GiB of f32 weights, a 108 MiB tied embedding, V 49152. */
const smolLm: TierModel<'a' | 'b' | 'c'> = {
  config: llamaConfigOf({ L: 30, C: 576, NH: 9, NKV: 3, F: 1536, V: 49152, maxPositions: 2048, tied: true }),
  tiers: { a: 30, b: 22, c: 15 },
};
const train = (batchSize: number, extra: Partial<TrainShape> = {}): TrainShape => ({
  batchSize,
  seqLen: 256,
  lora: { r: 8, alpha: 16, targetModules: [...loraModules] },
  localSteps: 20,
  dtypeBytes: 4,
  ...extra,
});
const budget: TierBudget = { maxRoundSeconds: 300, memoryFraction: 0.5 };

describe('chooseTier', () => {
  it('gives a high-end discrete GPU the full depth', () => {
    // SmolLM, B 4: 1.73 GiB of a 4 GiB budget; 607 GFLOP per step at 10.9 TFLOP/s x 0.5: ~2 s a round.
    const choice = chooseTier(profile('rtx-4090'), smolLm, train(4), budget);
    expect(choice).toMatchObject({ tier: 'a', keptLayerCount: 30, engine: 'webgpu' });
    expect(choice.reasons.join('\n')).toMatch(
      /tier a \(30 of 30 layers\) fits: needs 1\.73 GiB .* of 4\.00 GiB/,
    );
  });

  it('drops a laptop iGPU to tier b for TinyLlama in f32 and lets it train tier a in f16', () => {
    // f32, B 1: tier a needs 4.88 GiB > 4 GiB (50% of 8 GiB); tier b 3.70 GiB, 815 GFLOP x 20 at
    // 500 GFLOP/s effective = 33 s.
    const f32 = chooseTier(profile('intel-iris-xe'), tinyLlama, train(1), budget);
    expect(f32).toMatchObject({ tier: 'b', keptLayerCount: 16, engine: 'webgpu' });
    expect(f32.reasons[0]).toMatch(
      /tier a \(22 of 22 layers\) does not fit: needs 4\.88 GiB.*over the 4\.00 GiB memory budget \(50% of navigator\.deviceMemory 8 GiB\)/,
    );
    expect(f32.reasons[1]).toMatch(/tier b \(16 of 22 layers\) fits/);
    // f16 storage halves weights and activations: tier a fits in 2.4 GiB and 44 s.
    const f16 = chooseTier(profile('intel-iris-xe'), tinyLlama, train(1, { dtypeBytes: 2 }), budget);
    expect(f16.tier).toBe('a');
  });

  it('sends a phone to the CPU engine when the logits exceed its 128 MiB binding limit', () => {
    // SmolLM, B 4: logits (1024, 49152) f32 = 192 MiB, whatever the depth.
    const choice = chooseTier(profile('android-mali-phone'), smolLm, train(4), budget);
    expect(choice).toMatchObject({ tier: 'c', keptLayerCount: 15, engine: 'cpu' });
    const text = choice.reasons.join('\n');
    expect(text).toMatch(
      /tier a .*the logits \(B\*T, V\), takes 192\.0 MiB, over this adapter's maxStorageBufferBindingSize of 128\.0 MiB/,
    );
    expect(text).toMatch(
      /no tier fits this adapter's limits: the CPU engine trains the smallest variant, tier c/,
    );
  });

  it('refuses tiers a and b on a phone for the round time, and gives it tier c', () => {
    // SmolLM, B 1: every depth fits 128 MiB bindings and 2 GiB; at 60 GFLOP/s x 0.5 a round of
    // 20 steps takes 101 s (a), 79 s (b), 60 s (c) against a 75 s limit.
    const choice = chooseTier(profile('android-mali-phone'), smolLm, train(1), {
      ...budget,
      maxRoundSeconds: 75,
    });
    expect(choice).toMatchObject({ tier: 'c', engine: 'webgpu' });
    expect(choice.reasons[0]).toMatch(
      /tier a .* does not fit: about 101 s per local round \(20 steps of 151\.7 GFLOP at 60\.1 GFLOP\/s measured x 0\.5 efficiency\), over the 75 s limit/,
    );
    expect(choice.reasons[1]).toMatch(/tier b .* does not fit: about 79 s/);
    expect(choice.reasons[2]).toMatch(/tier c .* fits/);
  });

  it('lets the time budget pick tier c on SwiftShader, and assumes 4 GiB without navigator.deviceMemory', () => {
    // SmolLM, B 1, 2 local steps at 0.41 GFLOP/s x 0.5: a 1481 s, b 1162 s, c 882 s against 1000 s.
    const choice = chooseTier(profile('swiftshader'), smolLm, train(1, { localSteps: 2 }), {
      ...budget,
      maxRoundSeconds: 1000,
    });
    expect(choice).toMatchObject({ tier: 'c', engine: 'webgpu' });
    expect(choice.reasons[0]).toMatch(/about 1481 s per local round.*over the 1000 s limit/);
    expect(choice.reasons[2]).toMatch(/of 2\.00 GiB/);
    expect(choice.reasons[3]).toBe('chose tier c on WebGPU (SwiftShader driver 5.0.0)');
  });

  it('trains the smallest variant on WebGPU anyway when only the time budget fails', () => {
    const choice = chooseTier(profile('swiftshader'), tinyLlama, train(1, { dtypeBytes: 2 }), budget);
    expect(choice).toMatchObject({ tier: 'c', engine: 'webgpu' });
    expect(choice.reasons.at(-1)).toMatch(/no tier fits every budget.*the server may re-balance/);
  });

  it('uses the CPU engine and the smallest variant without WebGPU or after a failed benchmark', () => {
    const none = chooseTier(profile('no-webgpu'), tinyLlama, train(1), budget);
    expect(none).toMatchObject({ tier: 'c', keptLayerCount: 11, engine: 'cpu' });
    expect(none.reasons).toEqual([
      'no WebGPU: WebGPU is not available here (navigator.gpu is undefined): use a browser with WebGPU or the ' +
        'CPU engine; the CPU engine trains the smallest variant, tier c (11 of 22 layers)',
    ]);
    const rtx = profile('rtx-4090');
    const failed = { ...rtx, webgpu: { ...rtx.webgpu!, benchmark: { error: 'the GPU device was lost' } } };
    const choice = chooseTier(failed, smolLm, train(1), budget);
    expect(choice).toMatchObject({ tier: 'c', engine: 'cpu' });
    expect(choice.reasons[0]).toMatch(/^WebGPU failed its benchmark \(the GPU device was lost\)/);
  });

  it('lets ?tier= win and says whether the tier would fit; ignores unknown values', () => {
    const phone = profile('android-mali-phone');
    const tight = { ...budget, maxRoundSeconds: 75 };
    const forced = chooseTier(phone, smolLm, train(1), tight, 'a');
    expect(forced).toMatchObject({ tier: 'a', keptLayerCount: 30, engine: 'webgpu' });
    expect(forced.reasons).toHaveLength(1);
    expect(forced.reasons[0]).toMatch(
      /^\?tier=a override on WebGPU \(arm valhall\): tier a .* does not fit: about 101 s/,
    );
    const fits = chooseTier(phone, smolLm, train(1), tight, 'c');
    expect(fits.reasons[0]).toMatch(/^\?tier=c override .* fits/);
    const tooBig = chooseTier(phone, smolLm, train(4), tight, 'a');
    expect(tooBig).toMatchObject({ tier: 'a', engine: 'cpu' });
    expect(tooBig.reasons[0]).toMatch(/override on the CPU engine: .*maxStorageBufferBindingSize/);
    const cpu = chooseTier(profile('no-webgpu'), smolLm, train(1), tight, 'b');
    expect(cpu).toMatchObject({ tier: 'b', engine: 'cpu' });
    expect(cpu.reasons[0]).toMatch(/the CPU engine trains \?tier=b as asked/);
    const unknown = chooseTier(phone, smolLm, train(1), tight, 'z');
    expect(unknown.tier).toBe('c');
    expect(unknown.reasons[0]).toBe('?tier=z ignored: use one of a, b, c');
  });

  it('rejects a bad budget and a malformed report with the fix', () => {
    const rtx = profile('rtx-4090');
    expect(() => chooseTier(rtx, smolLm, train(1), { ...budget, memoryFraction: 0 })).toThrow(InputError);
    expect(() => chooseTier(rtx, { ...smolLm, tiers: { a: 31 } }, train(1), budget)).toThrow(
      /1 to 30 layers/,
    );
    const broken = JSON.parse(JSON.stringify(rtx));
    broken.webgpu.limits.maxBufferSize = '4GB';
    expect(() => parseCapabilityReport(broken)).toThrow(FormatError);
    expect(() => parseCapabilityReport(broken)).toThrow(
      /webgpu\.limits\.maxBufferSize must be a positive number/,
    );
  });
});
