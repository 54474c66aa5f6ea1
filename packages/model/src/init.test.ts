import { describe, expect, it } from 'vitest';
import { ConfigError, InputError } from './errors';
import { initLoraAdapter, randomLlamaWeights } from './init';
import { loraKey } from './lora';
import { tinyLlamaConfig } from './testing';

// 4 layers, C 64, NH 4, NKV 2 (HS 16), F 128, V 50.
const config = tinyLlamaConfig({ V: 50 });

describe('randomLlamaWeights', () => {
  it('creates every HF tensor with its shape, norms 1 and linear weights normal(0, std)', () => {
    const w = randomLlamaWeights(config, { seed: 1 });
    expect(w.layers).toEqual([0, 1, 2, 3]);
    expect(w.tensors.size).toBe(2 + 4 * 9); // embed, final norm, 9 per layer, no lm_head (tied)
    expect(w.tensors.has('lm_head.weight')).toBe(false);
    expect(w.tensors.get('model.embed_tokens.weight')!.shape).toEqual([50, 64]);
    expect(w.tensors.get('model.layers.2.self_attn.k_proj.weight')!.shape).toEqual([32, 64]);
    expect(w.tensors.get('model.layers.2.mlp.down_proj.weight')!.shape).toEqual([64, 128]);
    expect([...w.tensors.get('model.layers.0.input_layernorm.weight')!.data].every((x) => x === 1)).toBe(
      true,
    );
    const gate = w.tensors.get('model.layers.1.mlp.gate_proj.weight')!.data;
    const mean = gate.reduce((a, x) => a + x, 0) / gate.length;
    const std = Math.sqrt(gate.reduce((a, x) => a + x * x, 0) / gate.length);
    expect(Math.abs(mean)).toBeLessThan(0.002);
    expect(std).toBeGreaterThan(0.019);
    expect(std).toBeLessThan(0.021);
  });

  it('untied weights have lm_head; a layer subset has the same values as the full model', () => {
    const full = randomLlamaWeights({ ...config, tieWordEmbeddings: false }, { seed: 3, std: 0.1 });
    expect(full.tensors.get('lm_head.weight')!.shape).toEqual([50, 64]);
    const part = randomLlamaWeights(
      { ...config, tieWordEmbeddings: false },
      { seed: 3, std: 0.1, layers: [2] },
    );
    expect(part.layers).toEqual([2]);
    expect(part.tensors.has('model.layers.0.self_attn.q_proj.weight')).toBe(false);
    const name = 'model.layers.2.self_attn.q_proj.weight';
    expect(part.tensors.get(name)!.data).toEqual(full.tensors.get(name)!.data);
  });

  it('rejects unknown or unordered layers', () => {
    expect(() => randomLlamaWeights(config, { seed: 1, layers: [4] })).toThrow(InputError);
    expect(() => randomLlamaWeights(config, { seed: 1, layers: [2, 1] })).toThrow(/ascending/);
  });
});

describe('initLoraAdapter', () => {
  const lora = { r: 4, alpha: 8, targetModules: ['q_proj' as const, 'down_proj' as const] };

  it('A (R, in) ~ uniform(-1/sqrt(in), 1/sqrt(in)), B (out, R) = 0', () => {
    const adapter = initLoraAdapter(config, lora, [1, 3], 5);
    expect(adapter.layers).toEqual([1, 3]);
    expect(adapter.weights.size).toBe(4);
    const down = adapter.weights.get(loraKey(3, 'down_proj'))!;
    expect(down.A.shape).toEqual([4, 128]);
    expect(down.B.shape).toEqual([64, 4]);
    expect([...down.B.data].every((x) => x === 0)).toBe(true);
    const bound = 1 / Math.sqrt(128);
    const absMax = Math.max(...down.A.data.map(Math.abs));
    expect(absMax).toBeLessThanOrEqual(bound);
    expect(absMax).toBeGreaterThan(0.9 * bound);
    expect(adapter.weights.get(loraKey(1, 'q_proj'))!.A.shape).toEqual([4, 64]);
  });

  it('is deterministic per seed', () => {
    const a = initLoraAdapter(config, lora, [0], 9).weights.get('0.q_proj')!.A.data;
    expect(initLoraAdapter(config, lora, [0], 9).weights.get('0.q_proj')!.A.data).toEqual(a);
    expect(initLoraAdapter(config, lora, [0], 10).weights.get('0.q_proj')!.A.data).not.toEqual(a);
  });

  it('rejects bad LoRA configs with a ConfigError', () => {
    expect(() => initLoraAdapter(config, { ...lora, r: 0 }, [0], 1)).toThrow(ConfigError);
    expect(() => initLoraAdapter(config, { ...lora, r: 2.5 }, [0], 1)).toThrow(/positive integer/);
    expect(() => initLoraAdapter(config, { ...lora, alpha: 0 }, [0], 1)).toThrow(/alpha/);
    expect(() => initLoraAdapter(config, { ...lora, targetModules: [] }, [0], 1)).toThrow(ConfigError);
    expect(() => initLoraAdapter(config, { ...lora, targetModules: ['lm_head' as never] }, [0], 1)).toThrow(
      /unknown LoRA target module "lm_head"/,
    );
  });
});
