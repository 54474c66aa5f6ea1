// Small hand-made adapters and clients for the unit tests of this package.
import type { LoraAdapter, LoraConfig, LoraModule, LoraPair } from '@prufed/model';
import { loraKey } from '@prufed/model';
import type { ClientInfo, Tier } from './types';

export const tinyLora: LoraConfig = { r: 2, alpha: 4, targetModules: ['q_proj', 'v_proj'] };
/** in and out features of every adapted projection in the tiny adapters. */
export const tinyIn = 3;
export const tinyOut = 4;

/**
 * An adapter of `tinyLora` over `layers` whose A (R, in) and B (out, R) entries are
 * value(layer, module, factor, i) at flat index i.
 */
export function makeAdapter(
  layers: number[],
  value: (layer: number, module: LoraModule, factor: 'A' | 'B', i: number) => number,
  config: LoraConfig = tinyLora,
): LoraAdapter {
  const weights = new Map<string, LoraPair>();
  for (const layer of layers) {
    for (const module of config.targetModules) {
      const A = Float32Array.from({ length: config.r * tinyIn }, (_, i) => value(layer, module, 'A', i));
      const B = Float32Array.from({ length: tinyOut * config.r }, (_, i) => value(layer, module, 'B', i));
      weights.set(loraKey(layer, module), {
        A: { shape: [config.r, tinyIn], data: A }, // (R, in)
        B: { shape: [tinyOut, config.r], data: B }, // (out, R)
      });
    }
  }
  return { config, layers: [...layers], weights };
}

export function client(id: string, tier: Tier, keptLayers: number[]): ClientInfo {
  return { id, tier, keptLayers };
}

export { maxAbsDiff } from '@prufed/model/testing';
