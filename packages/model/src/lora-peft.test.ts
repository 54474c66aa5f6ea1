import { describe, expect, it } from 'vitest';
import { ConfigError, FormatError, InputError } from './errors';
import { initLoraAdapter } from './init';
import { type LoraAdapter, type LoraModule, type LoraPair, loraKey, loraModules } from './lora';
import {
  adapterFromPeft,
  adapterToPeft,
  parsePeftTensorName,
  peftTensorName,
  validateAdapterForModel,
} from './lora-peft';
import { writeSafetensors } from './safetensors';
import type { Tensor } from './tensor';
import { llamaConfigOf } from './testing';

// C = 4, NH = 2, NKV = 1, HS = 2, F = 6: q_proj 4 -> 4, v_proj 4 -> 2, down_proj 6 -> 4.
const model = llamaConfigOf({ L: 4, C: 4, NH: 2, NKV: 1, F: 6, V: 8, maxPositions: 16, tied: true });
const shapes: Record<string, [number, number]> = { q_proj: [4, 4], v_proj: [4, 2], down_proj: [6, 4] };

/** Values that are exact in float16: multiples of 1/8 in [-2, 2). */
function tensor(shape: number[], seed: number): Tensor {
  const data = new Float32Array(shape[0] * shape[1]);
  for (let i = 0; i < data.length; i++) data[i] = (((seed * 7 + i * 3) % 32) - 16) / 8;
  return { shape, data };
}

function makeAdapter(
  layers = [1, 3],
  targetModules: LoraModule[] = ['v_proj', 'q_proj', 'down_proj'],
): LoraAdapter {
  const R = 2;
  const weights = new Map<string, LoraPair>();
  layers.forEach((layer, li) => {
    targetModules.forEach((module, mi) => {
      const [IN, OUT] = shapes[module];
      weights.set(loraKey(layer, module), {
        A: tensor([R, IN], li * 10 + mi),
        B: tensor([OUT, R], li * 10 + mi + 5),
      });
    });
  });
  return { config: { r: R, alpha: 4, targetModules }, layers, weights };
}

/** Header JSON of safetensors bytes, read by hand: 8-byte little-endian length, then JSON. */
function headerOf(
  bytes: Uint8Array,
): Record<string, { dtype: string; shape: number[]; data_offsets: number[] }> {
  const length = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true);
  return JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
}

describe('PEFT tensor names', () => {
  it('match the literal names PEFT writes', () => {
    expect(peftTensorName(3, 'q_proj', 'A')).toBe(
      'base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight',
    );
    expect(peftTensorName(0, 'o_proj', 'B')).toBe(
      'base_model.model.model.layers.0.self_attn.o_proj.lora_B.weight',
    );
    expect(peftTensorName(11, 'gate_proj', 'A')).toBe(
      'base_model.model.model.layers.11.mlp.gate_proj.lora_A.weight',
    );
    expect(peftTensorName(2, 'down_proj', 'B')).toBe(
      'base_model.model.model.layers.2.mlp.down_proj.lora_B.weight',
    );
  });

  it('parse back for every module and factor', () => {
    for (const module of loraModules) {
      for (const factor of ['A', 'B'] as const) {
        expect(parsePeftTensorName(peftTensorName(17, module, factor))).toEqual({
          layer: 17,
          module,
          factor,
        });
      }
    }
  });

  it('reject names that are not LoRA tensors of a decoder layer', () => {
    for (const name of [
      'base_model.model.model.layers.3.mlp.q_proj.lora_A.weight', // wrong parent module
      'base_model.model.model.layers.03.self_attn.q_proj.lora_A.weight',
      'base_model.model.model.layers.3.self_attn.q_proj.lora_A.default.weight',
      'base_model.model.model.layers.3.self_attn.q_proj.lora_C.weight',
      'base_model.model.model.layers.3.self_attn.qkv_proj.lora_A.weight',
      'model.layers.3.self_attn.q_proj.weight',
      'base_model.model.lm_head.lora_A.weight',
    ]) {
      expect(parsePeftTensorName(name)).toBeNull();
    }
  });
});

describe('adapterToPeft', () => {
  const adapter = makeAdapter();
  const { safetensors, config } = adapterToPeft(adapter, { baseModel: 'HuggingFaceTB/SmolLM2-135M' });

  it('writes exactly the PEFT tensor names, shapes and float32 data', () => {
    const header = headerOf(safetensors);
    const { __metadata__: metadata, ...tensors } = header;
    expect(metadata).toEqual({ format: 'pt' });
    expect(Object.keys(tensors).sort()).toEqual([
      'base_model.model.model.layers.1.mlp.down_proj.lora_A.weight',
      'base_model.model.model.layers.1.mlp.down_proj.lora_B.weight',
      'base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight',
      'base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight',
      'base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight',
      'base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight',
      'base_model.model.model.layers.3.mlp.down_proj.lora_A.weight',
      'base_model.model.model.layers.3.mlp.down_proj.lora_B.weight',
      'base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight',
      'base_model.model.model.layers.3.self_attn.q_proj.lora_B.weight',
      'base_model.model.model.layers.3.self_attn.v_proj.lora_A.weight',
      'base_model.model.model.layers.3.self_attn.v_proj.lora_B.weight',
    ]);
    const entry = tensors['base_model.model.model.layers.3.mlp.down_proj.lora_B.weight'];
    expect(entry.dtype).toBe('F32');
    expect(entry.shape).toEqual([4, 2]); // (out, R)
    expect(tensors['base_model.model.model.layers.3.mlp.down_proj.lora_A.weight'].shape).toEqual([2, 6]); // (R, in)
    const dataStart = 8 + new DataView(safetensors.buffer).getUint32(0, true);
    const [begin, end] = entry.data_offsets;
    const stored = new Float32Array(safetensors.slice(dataStart + begin, dataStart + end).buffer);
    expect(Array.from(stored)).toEqual(Array.from(adapter.weights.get('3.down_proj')!.B.data));
  });

  it('writes the adapter_config.json PEFT LoraConfig saves', () => {
    expect(config).toEqual({
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      r: 2,
      lora_alpha: 4,
      target_modules: ['down_proj', 'q_proj', 'v_proj'],
      lora_dropout: 0,
      bias: 'none',
      fan_in_fan_out: false,
      inference_mode: true,
      init_lora_weights: true,
      layers_to_transform: [1, 3],
      base_model_name_or_path: 'HuggingFaceTB/SmolLM2-135M',
      use_rslora: false,
      modules_to_save: null,
      revision: null,
    });
    expect(adapterToPeft(adapter).config.base_model_name_or_path).toBeNull();
  });

  it('rejects an adapter that lacks a listed module', () => {
    const broken = makeAdapter();
    broken.weights.delete('3.q_proj');
    expect(() => adapterToPeft(broken)).toThrow(InputError);
    expect(() => adapterToPeft(broken)).toThrow(/layer 3 and target module q_proj but holds no weights/);
  });
});

describe('adapterFromPeft', () => {
  function expectSameWeights(found: LoraAdapter, expected: LoraAdapter): void {
    expect(found.layers).toEqual(expected.layers);
    expect([...found.weights.keys()].sort()).toEqual([...expected.weights.keys()].sort());
    for (const [key, pair] of expected.weights) {
      const got = found.weights.get(key)!;
      expect(got.A.shape).toEqual(pair.A.shape);
      expect(got.B.shape).toEqual(pair.B.shape);
      expect(Array.from(got.A.data)).toEqual(Array.from(pair.A.data));
      expect(Array.from(got.B.data)).toEqual(Array.from(pair.B.data));
    }
  }

  for (const dtype of ['F32', 'F16'] as const) {
    it(`round-trips through ${dtype} bytes and JSON`, () => {
      const adapter = makeAdapter();
      const { safetensors, config } = adapterToPeft(adapter, { dtype });
      expect(Object.values(headerOf(safetensors)).some((e) => 'dtype' in e && e.dtype === dtype)).toBe(true);
      const back = adapterFromPeft(safetensors, JSON.parse(JSON.stringify(config)));
      expect(back.config).toEqual({ r: 2, alpha: 4, targetModules: ['down_proj', 'q_proj', 'v_proj'] });
      expectSameWeights(back, adapter);
    });
  }

  it('reads a minimal PEFT config without layers_to_transform', () => {
    const adapter = makeAdapter([0], ['q_proj']);
    const { safetensors } = adapterToPeft(adapter);
    const back = adapterFromPeft(safetensors, {
      peft_type: 'LORA',
      r: 2,
      lora_alpha: 4,
      target_modules: ['q_proj'],
    });
    expectSameWeights(back, adapter);
  });

  const good = adapterToPeft(makeAdapter());
  const configErrors: [string, unknown, RegExp][] = [
    ['a config that is not an object', 'LORA', /must be a JSON object/],
    [
      'another PEFT type',
      { ...good.config, peft_type: 'PREFIX_TUNING' },
      /peft_type is "PREFIX_TUNING"; only LoRA/,
    ],
    ['a missing r', { ...good.config, r: undefined }, /lacks "r"/],
    ['a missing lora_alpha', { ...good.config, lora_alpha: undefined }, /lacks "lora_alpha"/],
    ['a zero rank', { ...good.config, r: 0 }, /rank r must be a positive integer/],
    [
      'an unknown target module',
      { ...good.config, target_modules: ['q_proj', 'c_attn'] },
      /unknown LoRA target module "c_attn"/,
    ],
    [
      'all-linear',
      { ...good.config, target_modules: 'all-linear' },
      /regular expressions and "all-linear" are not supported/,
    ],
    ['rsLoRA', { ...good.config, use_rslora: true }, /use_rslora is true; only plain LoRA/],
    ['DoRA', { ...good.config, use_dora: true }, /use_dora is true/],
    ['a rank pattern', { ...good.config, rank_pattern: { q_proj: 4 } }, /rank_pattern .* not supported/],
    [
      'bad layers_to_transform',
      { ...good.config, layers_to_transform: 'all' },
      /layers_to_transform is "all"/,
    ],
  ];
  for (const [name, config, message] of configErrors) {
    it(`rejects ${name}`, () => {
      expect(() => adapterFromPeft(good.safetensors, config)).toThrow(ConfigError);
      expect(() => adapterFromPeft(good.safetensors, config)).toThrow(message);
    });
  }

  /** Safetensors bytes of a hand-made tensor map: start from the good adapter and edit names. */
  function edited(edit: (tensors: Map<string, Tensor>) => void): Uint8Array {
    const tensors = new Map<string, Tensor>();
    for (const [key, { A, B }] of makeAdapter().weights) {
      const [layer, module] = key.split('.');
      tensors.set(peftTensorName(Number(layer), module as LoraModule, 'A'), A);
      tensors.set(peftTensorName(Number(layer), module as LoraModule, 'B'), B);
    }
    edit(tensors);
    return writeSafetensors(tensors);
  }
  const qA3 = 'base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight';
  const qB3 = 'base_model.model.model.layers.3.self_attn.q_proj.lora_B.weight';
  const formatErrors: [string, Uint8Array, unknown, RegExp][] = [
    [
      'a tensor that is not a PEFT LoRA name',
      edited((t) => t.set('model.embed_tokens.weight', tensor([8, 4], 0))),
      good.config,
      /tensor "model.embed_tokens.weight" is not a PEFT LoRA tensor name; expected base_model\.model\.model\.layers\.\{i\}/,
    ],
    [
      'an A without its B',
      edited((t) => t.delete(qB3)),
      good.config,
      /"[^"]*layers\.3\.self_attn\.q_proj\.lora_A\.weight" has no matching "[^"]*lora_B/,
    ],
    [
      'a B without its A',
      edited((t) => t.delete(qA3)),
      good.config,
      /"[^"]*layers\.3\.self_attn\.q_proj\.lora_B\.weight" has no matching "[^"]*lora_A/,
    ],
    [
      'a layer lacking a target module',
      edited((t) => {
        t.delete(qA3);
        t.delete(qB3);
      }),
      good.config,
      /layer 3 has LoRA tensors but none for target module q_proj/,
    ],
    [
      'a rank that differs from r',
      good.safetensors,
      { ...good.config, r: 4 },
      /down_proj\.lora_A\.weight" has shape \[2, 6\] but adapter_config r is 4: lora_A must be \[4, in\]/,
    ],
    [
      'a module missing from target_modules',
      good.safetensors,
      { ...good.config, target_modules: ['down_proj', 'q_proj'] },
      /adapts v_proj, which adapter_config target_modules \[down_proj, q_proj\] does not list/,
    ],
    [
      'layers_to_transform that differ from the tensors',
      good.safetensors,
      { ...good.config, layers_to_transform: [1, 2, 3] },
      /layers_to_transform \[1, 2, 3\] differs from the layers the tensors adapt \[1, 3\]/,
    ],
    ['no tensors at all', writeSafetensors(new Map()), good.config, /holds no LoRA tensors/],
  ];
  for (const [name, bytes, config, message] of formatErrors) {
    it(`rejects ${name}`, () => {
      expect(() => adapterFromPeft(bytes, config)).toThrow(FormatError);
      expect(() => adapterFromPeft(bytes, config)).toThrow(message);
    });
  }
});

describe('validateAdapterForModel', () => {
  it('accepts an adapter whose layers the variant keeps', () => {
    expect(() => validateAdapterForModel(makeAdapter(), model, [0, 1, 2, 3])).not.toThrow();
    expect(() => validateAdapterForModel(makeAdapter([1]), model, [0, 1])).not.toThrow();
  });

  it('accepts a fresh adapter on all seven modules after a PEFT round trip', () => {
    const fresh = initLoraAdapter(model, { r: 3, alpha: 6, targetModules: [...loraModules] }, [0, 2], 1);
    const { safetensors, config } = adapterToPeft(fresh, { dtype: 'F16' });
    const back = adapterFromPeft(safetensors, config);
    expect(back.weights.size).toBe(14);
    expect(() => validateAdapterForModel(back, model, [0, 2, 3])).not.toThrow();
  });

  it('names the layers the variant lacks', () => {
    expect(() => validateAdapterForModel(makeAdapter(), model, [0, 1])).toThrow(InputError);
    expect(() => validateAdapterForModel(makeAdapter(), model, [0, 1])).toThrow(
      /adapter has layers 3 that this model variant lacks \(it keeps layers 0, 1\)/,
    );
  });

  it('names a tensor whose shape does not fit, with expected and found shapes', () => {
    const wider = { ...model, hiddenSize: 8, numAttentionHeads: 4 };
    expect(() => validateAdapterForModel(makeAdapter(), wider, [1, 3])).toThrow(
      'base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight has shape [2, 4] but this model needs [2, 8]',
    );
    const fatterMlp = { ...model, intermediateSize: 5 };
    expect(() => validateAdapterForModel(makeAdapter(), fatterMlp, [1, 3])).toThrow(
      'base_model.model.model.layers.1.mlp.down_proj.lora_A.weight has shape [2, 6] but this model needs [2, 5]',
    );
  });

  it('rejects a bad LoRA config, unordered layers, extra pairs and too few values', () => {
    expect(() =>
      validateAdapterForModel(
        { ...makeAdapter(), config: { r: 0, alpha: 4, targetModules: ['q_proj'] } },
        model,
        [1, 3],
      ),
    ).toThrow(ConfigError);
    expect(() => validateAdapterForModel(makeAdapter([3, 1]), model, [1, 3])).toThrow(
      /adapter layer indices \[3, 1\] must be ascending and unique/,
    );
    const extra = makeAdapter();
    extra.weights.set(loraKey(1, 'k_proj'), extra.weights.get(loraKey(1, 'v_proj'))!);
    expect(() => validateAdapterForModel(extra, model, [1, 3])).toThrow(/holds 1.k_proj outside its layers/);
    const short = makeAdapter();
    const pair = short.weights.get(loraKey(3, 'q_proj'))!;
    short.weights.set(loraKey(3, 'q_proj'), {
      ...pair,
      B: { shape: pair.B.shape, data: new Float32Array(3) },
    });
    expect(() => validateAdapterForModel(short, model, [1, 3])).toThrow(
      'base_model.model.model.layers.3.self_attn.q_proj.lora_B.weight holds 3 values, but its shape [4,2] needs 8',
    );
  });
});
