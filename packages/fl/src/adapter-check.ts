// Structural checks of a LoRA adapter against what is expected of it, shared by update
// validation (which reports a code) and the aggregator (which throws).
import { type LoraAdapter, type LoraConfig, loraKey, numel } from '@prufed/model';

export type AdapterIssueCode =
  | 'wrong-config'
  | 'bad-layers'
  | 'extra-layers'
  | 'missing-layers'
  | 'wrong-modules'
  | 'wrong-shape';

export interface AdapterIssue {
  code: AdapterIssueCode;
  reason: string;
}

export interface AdapterExpectation {
  config: LoraConfig;
  /** The layers the adapter must hold, exactly. */
  layers: readonly number[];
  /** When given, every (layer, module) pair must have the shapes this adapter's pair has. */
  shapesOf?: LoraAdapter;
}

/**
 * The first thing wrong with `adapter`, or null: rank and alpha, layers (ascending unique integers,
 * exactly the expected ones), exactly one A/B pair per (layer, target module), A (R, in) and
 * B (out, R) with data lengths matching, and the reference shapes when given.
 */
export function checkAdapter(adapter: LoraAdapter, expected: AdapterExpectation): AdapterIssue | null {
  const { config, layers, weights } = adapter;
  if (config.r !== expected.config.r || config.alpha !== expected.config.alpha) {
    return {
      code: 'wrong-config',
      reason: `LoRA r=${config.r} alpha=${config.alpha}, expected r=${expected.config.r} alpha=${expected.config.alpha}`,
    };
  }
  const modules = [...config.targetModules].sort().join(',');
  const expectedModules = [...expected.config.targetModules].sort().join(',');
  if (modules !== expectedModules || config.targetModules.length !== expected.config.targetModules.length) {
    return { code: 'wrong-modules', reason: `target modules [${modules}], expected [${expectedModules}]` };
  }
  for (let i = 0; i < layers.length; i++) {
    if (!Number.isSafeInteger(layers[i]) || layers[i] < 0 || (i > 0 && layers[i] <= layers[i - 1])) {
      return {
        code: 'bad-layers',
        reason: `layers must be ascending unique non-negative integers, got [${layers}]`,
      };
    }
  }
  const extra = layers.filter((layer) => !expected.layers.includes(layer));
  if (extra.length > 0) {
    return {
      code: 'extra-layers',
      reason: `layers [${extra}] are not among the expected [${expected.layers}]`,
    };
  }
  const missing = expected.layers.filter((layer) => !layers.includes(layer));
  if (missing.length > 0) return { code: 'missing-layers', reason: `layers [${missing}] are missing` };
  const pairs = layers.length * config.targetModules.length;
  if (weights.size !== pairs) {
    return {
      code: 'wrong-modules',
      reason: `expected ${pairs} adapter pairs (${layers.length} layers x ${config.targetModules.length} modules), got ${weights.size}`,
    };
  }
  for (const layer of layers) {
    for (const module of config.targetModules) {
      const key = loraKey(layer, module);
      const pair = weights.get(key);
      if (!pair) return { code: 'wrong-modules', reason: `adapter ${key} is missing` };
      const { A, B } = pair;
      if (
        A.shape.length !== 2 ||
        B.shape.length !== 2 ||
        A.shape[0] !== config.r ||
        B.shape[1] !== config.r
      ) {
        return {
          code: 'wrong-shape',
          reason: `adapter ${key} must have A (R, in) and B (out, R) with R = ${config.r}, got A [${A.shape}] B [${B.shape}]`,
        };
      }
      if (A.data.length !== numel(A.shape) || B.data.length !== numel(B.shape)) {
        return {
          code: 'wrong-shape',
          reason: `adapter ${key} holds ${A.data.length} / ${B.data.length} values for shapes A [${A.shape}] B [${B.shape}]`,
        };
      }
      const reference = expected.shapesOf?.weights.get(key);
      if (
        reference &&
        !(sameNumbers(A.shape, reference.A.shape) && sameNumbers(B.shape, reference.B.shape))
      ) {
        return {
          code: 'wrong-shape',
          reason: `adapter ${key} has A [${A.shape}] B [${B.shape}], expected A [${reference.A.shape}] B [${reference.B.shape}]`,
        };
      }
    }
  }
  return null;
}

export function sameNumbers(x: readonly number[], y: readonly number[]): boolean {
  return x.length === y.length && x.every((value, i) => value === y[i]);
}
