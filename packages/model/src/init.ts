// Random initialisers: base LLaMA weights for tests and pretraining from scratch, and fresh LoRA
// adapters (A random, B zero, as PEFT does). Every tensor draws from its own seeded stream named by
// the tensor, so a tensor's values do not depend on which other layers are initialised.
import type { LlamaConfig } from './config';
import { ConfigError, InputError } from './errors';
import { checkLayerList, llamaTensorSpecs } from './hf-names';
import {
  type LoraAdapter,
  type LoraConfig,
  type LoraPair,
  loraKey,
  loraModuleShape,
  loraModules,
} from './lora';
import { Rng } from './rng';
import { numel, type Tensor } from './tensor';
import type { LlamaWeights } from './weights';

export interface RandomWeightsOptions {
  seed: number;
  /** Standard deviation of linear and embedding weights (HF initializer_range); default 0.02. */
  std?: number;
  /** Original layer indices to create, ascending; default all layers. */
  layers?: number[];
}

/**
 * Random LLaMA weights with HF names: RMSNorm weights 1, embedding and linear weights
 * normal(0, std). lm_head is absent when config.tieWordEmbeddings.
 */
export function randomLlamaWeights(config: LlamaConfig, options: RandomWeightsOptions): LlamaWeights {
  const std = options.std ?? 0.02;
  if (!(std >= 0) || !Number.isFinite(std)) {
    throw new InputError(`init std must be a finite number >= 0, got ${std}`);
  }
  const layers = options.layers ?? Array.from({ length: config.numHiddenLayers }, (_, i) => i);
  checkLayerList(config, layers, 'randomLlamaWeights layer');
  const rng = new Rng(options.seed);
  const tensors = new Map<string, Tensor>();
  for (const { name, shape } of llamaTensorSpecs(config, layers)) {
    const data = new Float32Array(numel(shape));
    if (shape.length === 1) {
      data.fill(1);
    } else {
      const stream = rng.fork(name);
      for (let i = 0; i < data.length; i++) data[i] = std * stream.normal();
    }
    tensors.set(name, { shape, data });
  }
  return { config, layers: [...layers], tensors };
}

/** Throws a ConfigError unless r is a positive integer, alpha > 0 and the targets are known and distinct. */
export function assertLoraConfig(lora: LoraConfig): void {
  if (!Number.isSafeInteger(lora.r) || lora.r <= 0) {
    throw new ConfigError(`LoRA rank r must be a positive integer (e.g. 8), got ${lora.r}`);
  }
  if (typeof lora.alpha !== 'number' || !Number.isFinite(lora.alpha) || lora.alpha <= 0) {
    throw new ConfigError(`LoRA alpha must be a positive number (e.g. 16), got ${lora.alpha}`);
  }
  if (!Array.isArray(lora.targetModules) || lora.targetModules.length === 0) {
    throw new ConfigError(`LoRA targetModules must list at least one of ${loraModules.join(', ')}`);
  }
  for (const module of lora.targetModules) {
    if (!(loraModules as readonly string[]).includes(module)) {
      throw new ConfigError(`unknown LoRA target module "${module}"; use some of ${loraModules.join(', ')}`);
    }
  }
  if (new Set(lora.targetModules).size !== lora.targetModules.length) {
    throw new ConfigError(`LoRA targetModules lists a module twice: ${lora.targetModules.join(', ')}`);
  }
}

/**
 * A fresh adapter on `layers` (original indices, ascending): A (R, in) ~ uniform(-1/sqrt(in),
 * 1/sqrt(in)) — exactly PEFT's kaiming_uniform_(a=sqrt(5)) bound — and B (out, R) = 0, so the
 * adapted model starts equal to the base model.
 */
export function initLoraAdapter(
  config: LlamaConfig,
  lora: LoraConfig,
  layers: number[],
  seed: number,
): LoraAdapter {
  assertLoraConfig(lora);
  checkLayerList(config, layers, 'initLoraAdapter layer');
  const rng = new Rng(seed);
  const R = lora.r;
  const weights = new Map<string, LoraPair>();
  for (const layer of layers) {
    for (const module of lora.targetModules) {
      const [IN, OUT] = loraModuleShape(config, module);
      const key = loraKey(layer, module);
      const stream = rng.fork(key);
      const bound = 1 / Math.sqrt(IN);
      const A = new Float32Array(R * IN); // (R, in)
      for (let i = 0; i < A.length; i++) A[i] = bound * (2 * stream.uniform() - 1);
      const B = new Float32Array(OUT * R); // (out, R)
      weights.set(key, { A: { shape: [R, IN], data: A }, B: { shape: [OUT, R], data: B } });
    }
  }
  return { config: { ...lora, targetModules: [...lora.targetModules] }, layers: [...layers], weights };
}
