// LoRA adapters in Hugging Face PEFT's on-disk format: safetensors with PEFT tensor names plus the
// adapter_config.json object PEFT's LoraConfig saves. The same bytes travel over the socket, into
// the store and out of the dashboard's download button, loadable by PeftModel.from_pretrained as is.
// Dimension letters: R LoRA rank; in / out are a projection's input / output features.
import type { LlamaConfig } from './config';
import { ConfigError, FormatError, InputError } from './errors';
import { checkLayerList } from './hf-names';
import { assertLoraConfig } from './init';
import {
  type LoraAdapter,
  type LoraConfig,
  type LoraModule,
  type LoraPair,
  loraKey,
  loraModuleShape,
  loraModules,
  loraParent,
} from './lora';
import { readSafetensors, writeSafetensors } from './safetensors';
import { numel, type Tensor } from './tensor';

/** adapter_config.json as PEFT's LoraConfig saves it (the fields this project sets). */
export interface PeftAdapterConfig {
  peft_type: 'LORA';
  task_type: 'CAUSAL_LM';
  r: number; // R
  lora_alpha: number;
  /** Sorted. */
  target_modules: LoraModule[];
  lora_dropout: number;
  bias: 'none';
  fan_in_fan_out: boolean;
  inference_mode: boolean;
  init_lora_weights: boolean;
  /** The adapter's original layer indices, ascending. */
  layers_to_transform: number[];
  base_model_name_or_path: string | null;
  use_rslora: boolean;
  modules_to_save: null;
  revision: null;
}

export type LoraFactor = 'A' | 'B';

export interface PeftTensorName {
  layer: number;
  module: LoraModule;
  factor: LoraFactor;
}

const peftNamePattern =
  /^base_model\.model\.model\.layers\.(0|[1-9][0-9]*)\.(self_attn|mlp)\.([a-z_]+)\.lora_([AB])\.weight$/;
const peftNameTemplate = 'base_model.model.model.layers.{i}.{self_attn|mlp}.{module}.lora_{A|B}.weight';

/** PEFT name of a LoRA factor: A is (R, in), B is (out, R). */
export function peftTensorName(layer: number, module: LoraModule, factor: LoraFactor): string {
  return `base_model.model.model.layers.${layer}.${loraParent(module)}.${module}.lora_${factor}.weight`;
}

/** Inverse of peftTensorName; null when `name` is not a LoRA tensor of a LLaMA decoder layer. */
export function parsePeftTensorName(name: string): PeftTensorName | null {
  const match = peftNamePattern.exec(name);
  if (!match) return null;
  const module = loraModules.find((m) => m === match[3]);
  if (!module || loraParent(module) !== match[2]) return null;
  return { layer: Number(match[1]), module, factor: match[4] as LoraFactor };
}

/** The adapter's pair for (layer, module); an InputError when the adapter lacks it. */
function pairOf(adapter: LoraAdapter, layer: number, module: LoraModule): LoraPair {
  const pair = adapter.weights.get(loraKey(layer, module));
  if (!pair) {
    throw new InputError(
      `adapter lists layer ${layer} and target module ${module} but holds no weights for them; ` +
        'every listed layer needs every target module',
    );
  }
  return pair;
}

export interface AdapterToPeftOptions {
  /** base_model_name_or_path, e.g. "HuggingFaceTB/SmolLM2-135M"; default null. */
  baseModel?: string;
  /** Storage type of the tensors; default F32. */
  dtype?: 'F32' | 'F16';
}

/** Serialises an adapter to PEFT's adapter_model.safetensors bytes and adapter_config.json object. */
export function adapterToPeft(
  adapter: LoraAdapter,
  options: AdapterToPeftOptions = {},
): { safetensors: Uint8Array; config: PeftAdapterConfig } {
  const tensors = new Map<string, Tensor>();
  for (const layer of adapter.layers) {
    for (const module of adapter.config.targetModules) {
      const { A, B } = pairOf(adapter, layer, module);
      tensors.set(peftTensorName(layer, module, 'A'), A); // (R, in)
      tensors.set(peftTensorName(layer, module, 'B'), B); // (out, R)
    }
  }
  const config: PeftAdapterConfig = {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    r: adapter.config.r,
    lora_alpha: adapter.config.alpha,
    target_modules: [...adapter.config.targetModules].sort(),
    lora_dropout: 0,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layers_to_transform: [...adapter.layers].sort((a, b) => a - b),
    base_model_name_or_path: options.baseModel ?? null,
    use_rslora: false,
    modules_to_save: null,
    revision: null,
  };
  // PEFT and transformers write {"format": "pt"}; some loaders check it.
  const safetensors = writeSafetensors(tensors, {
    dtype: options.dtype ?? 'F32',
    metadata: { format: 'pt' },
  });
  return { safetensors, config };
}

function shown(value: unknown): string {
  return value === undefined ? 'missing' : JSON.stringify(value);
}

/** Our LoraConfig plus the optional layer list from a PEFT adapter_config.json object. */
function loraConfigFromPeft(json: unknown): { lora: LoraConfig; layersToTransform: number[] | null } {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ConfigError(
      'adapter_config.json must be a JSON object as PEFT saves it (peft_type, r, lora_alpha, ...)',
    );
  }
  const c = json as Record<string, unknown>;
  if (c.peft_type !== 'LORA') {
    throw new ConfigError(
      `adapter_config peft_type is ${shown(c.peft_type)}; only LoRA adapters ("LORA") are supported`,
    );
  }
  if (c.r === undefined) throw new ConfigError('adapter_config lacks "r", the LoRA rank (e.g. 8)');
  if (c.lora_alpha === undefined)
    throw new ConfigError('adapter_config lacks "lora_alpha", the LoRA scale numerator (e.g. 16)');
  if (!Array.isArray(c.target_modules)) {
    throw new ConfigError(
      `adapter_config target_modules is ${shown(c.target_modules)}; list module names from ` +
        `${loraModules.join(', ')} (regular expressions and "all-linear" are not supported)`,
    );
  }
  // Variants that change what the tensors mean: refuse them rather than load garbage.
  const unsupported: [string, unknown, unknown][] = [
    ['use_rslora', c.use_rslora, false],
    ['use_dora', c.use_dora, false],
    ['fan_in_fan_out', c.fan_in_fan_out, false],
    ['bias', c.bias, 'none'],
  ];
  for (const [field, value, plain] of unsupported) {
    if (value !== undefined && value !== plain) {
      throw new ConfigError(
        `adapter_config ${field} is ${shown(value)}; only plain LoRA (${field}: ${JSON.stringify(plain)}) is supported`,
      );
    }
  }
  for (const field of ['rank_pattern', 'alpha_pattern']) {
    const pattern = c[field];
    if (typeof pattern === 'object' && pattern !== null && Object.keys(pattern).length > 0) {
      throw new ConfigError(
        `adapter_config ${field} is ${shown(pattern)}; per-module ranks and alphas are not supported`,
      );
    }
  }
  const lora = { r: c.r, alpha: c.lora_alpha, targetModules: c.target_modules } as LoraConfig;
  assertLoraConfig(lora);
  const layers = c.layers_to_transform;
  const layerList = typeof layers === 'number' ? [layers] : layers;
  if (
    layerList !== undefined &&
    layerList !== null &&
    !(Array.isArray(layerList) && layerList.every(Number.isInteger))
  ) {
    throw new ConfigError(
      `adapter_config layers_to_transform is ${shown(layers)}; use a list of layer indices or null`,
    );
  }
  return { lora, layersToTransform: layerList ?? null };
}

/** Reads a PEFT adapter (adapter_model.safetensors bytes + parsed adapter_config.json) and validates it. */
export function adapterFromPeft(safetensors: Uint8Array, config: unknown): LoraAdapter {
  const { lora, layersToTransform } = loraConfigFromPeft(config);
  const R = lora.r;
  const factors = new Map<string, Partial<LoraPair>>();
  const layerSet = new Set<number>();
  for (const [name, tensor] of readSafetensors(safetensors)) {
    const parsed = parsePeftTensorName(name);
    if (!parsed) {
      throw new FormatError(`tensor "${name}" is not a PEFT LoRA tensor name; expected ${peftNameTemplate}`);
    }
    const { layer, module, factor } = parsed;
    if (!lora.targetModules.includes(module)) {
      throw new FormatError(
        `tensor "${name}" adapts ${module}, which adapter_config target_modules [${lora.targetModules.join(', ')}] ` +
          'does not list; add it there or remove the tensor',
      );
    }
    const rankAxis = factor === 'A' ? 0 : 1; // A (R, in), B (out, R)
    if (tensor.shape.length !== 2 || tensor.shape[rankAxis] !== R) {
      throw new FormatError(
        `tensor "${name}" has shape [${tensor.shape.join(', ')}] but adapter_config r is ${R}: lora_${factor} must be ` +
          `${factor === 'A' ? `[${R}, in]` : `[out, ${R}]`}`,
      );
    }
    const key = loraKey(layer, module);
    factors.set(key, { ...factors.get(key), [factor]: tensor });
    layerSet.add(layer);
  }
  if (layerSet.size === 0) throw new FormatError('adapter safetensors holds no LoRA tensors');

  const layers = [...layerSet].sort((a, b) => a - b);
  const weights = new Map<string, LoraPair>();
  for (const layer of layers) {
    for (const module of lora.targetModules) {
      const { A, B } = factors.get(loraKey(layer, module)) ?? {};
      if (!A && !B) {
        throw new FormatError(
          `layer ${layer} has LoRA tensors but none for target module ${module} ("${peftTensorName(layer, module, 'A')}" ` +
            'is missing); every adapted layer needs every target module',
        );
      }
      if (!A || !B) {
        const [present, absent]: LoraFactor[] = A ? ['A', 'B'] : ['B', 'A'];
        throw new FormatError(
          `tensor "${peftTensorName(layer, module, present)}" has no matching "${peftTensorName(layer, module, absent)}"; ` +
            'every LoRA A needs its B',
        );
      }
      weights.set(loraKey(layer, module), { A, B });
    }
  }
  if (layersToTransform !== null) {
    const listed = [...new Set(layersToTransform)].sort((a, b) => a - b);
    if (listed.join() !== layers.join()) {
      throw new FormatError(
        `adapter_config layers_to_transform [${listed.join(', ')}] differs from the layers the tensors adapt ` +
          `[${layers.join(', ')}]; the config and the safetensors belong to different adapters`,
      );
    }
  }
  return { config: lora, layers, weights };
}

/**
 * Checks that an adapter fits a model variant that keeps `keptLayers` (original indices): a valid
 * LoRA config, ascending layers that the variant keeps, exactly one pair per (layer, target module),
 * and every factor of the shape this model's projections need.
 */
export function validateAdapterForModel(
  adapter: LoraAdapter,
  config: LlamaConfig,
  keptLayers: readonly number[],
): void {
  assertLoraConfig(adapter.config);
  const kept = new Set(keptLayers);
  const missing = adapter.layers.filter((layer) => !kept.has(layer));
  if (missing.length > 0) {
    throw new InputError(
      `adapter has layers ${missing.join(', ')} that this model variant lacks (it keeps layers ` +
        `${keptLayers.join(', ')}); send only the adapter layers the variant keeps`,
    );
  }
  checkLayerList(config, adapter.layers, 'adapter layer'); // all kept, so in range; checks the order
  const R = adapter.config.r;
  const listed = new Set<string>();
  for (const layer of adapter.layers) {
    for (const module of adapter.config.targetModules) {
      const [IN, OUT] = loraModuleShape(config, module);
      const pair = pairOf(adapter, layer, module);
      listed.add(loraKey(layer, module));
      const expected: Record<LoraFactor, number[]> = { A: [R, IN], B: [OUT, R] };
      for (const factor of ['A', 'B'] as const) {
        const { shape, data } = pair[factor];
        const name = peftTensorName(layer, module, factor);
        if (shape.join() !== expected[factor].join()) {
          throw new InputError(
            `${name} has shape [${shape.join(', ')}] but this model needs ` +
              `[${expected[factor].join(', ')}]; the adapter was made for a different model or rank`,
          );
        }
        if (data.length !== numel(shape)) {
          throw new InputError(
            `${name} holds ${data.length} values, but its shape [${shape}] needs ${numel(shape)}`,
          );
        }
      }
    }
  }
  const extra = [...adapter.weights.keys()].filter((key) => !listed.has(key));
  if (extra.length > 0) {
    throw new InputError(
      `adapter holds ${extra.join(', ')} outside its layers x target modules; remove them or list them`,
    );
  }
}
