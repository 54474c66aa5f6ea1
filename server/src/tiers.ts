// Device tiers on the server: the layers each tier's pruned variant keeps, which tier a client gets
// from its hello report, and the slice of the global adapter a tier trains.
import { type HelloReport, type Tier, tiers } from '@prufed/fl';
import {
  ConfigError,
  type LlamaWeights,
  type LoraAdapter,
  type LoraPair,
  loraKey,
  type PruningStrategy,
  selectLayers,
} from '@prufed/model';

export interface TierPlan {
  /** Kept original layers of each enabled tier, ascending. */
  layers: Partial<Record<Tier, number[]>>;
  enabled: Tier[];
}

export interface TierPlanOptions {
  numLayers: number; // L
  enabled: Tier[];
  depths: Record<Tier, number>;
  pruning: PruningStrategy;
  /** All layers' weights; needed by the `magnitude` strategy. */
  weights?: LlamaWeights;
}

export function planTiers(options: TierPlanOptions): TierPlan {
  const { numLayers: L, pruning } = options;
  if (pruning === 'contribution' || pruning === 'angular') {
    throw new ConfigError(
      `pruning strategy "${pruning}" needs calibration hidden states, which the server does not compute yet; use top, alternate-even, alternate-odd, symmetric or magnitude`,
    );
  }
  const enabled = tiers.filter((tier) => options.enabled.includes(tier));
  const layers: Partial<Record<Tier, number[]>> = {};
  for (const tier of enabled) {
    const keep = Math.min(L, Math.max(1, Math.round(options.depths[tier] * L)));
    layers[tier] = selectLayers(pruning, { numLayers: L, keep, weights: options.weights });
  }
  return { layers, enabled };
}

/**
 * The tier a client gets: the one it asked for (its own capability estimate or a ?tier= override)
 * when enabled, else the nearest shallower enabled tier (it must fit the device), else the shallowest.
 */
export function assignTier(report: HelloReport, plan: TierPlan): { tier: Tier; reason: string } {
  const wanted = report.preferredTier;
  if (plan.enabled.includes(wanted)) return { tier: wanted, reason: report.tierReason };
  const shallower = tiers.slice(tiers.indexOf(wanted) + 1).find((tier) => plan.enabled.includes(tier));
  const tier = shallower ?? plan.enabled[plan.enabled.length - 1];
  return {
    tier,
    reason: `tier ${wanted} is not used by this run (tiers: ${plan.enabled.join(', ')}); assigned tier ${tier}`,
  };
}

/** The adapter restricted to `layers` (shares the tensors, copies nothing). */
export function sliceAdapter(adapter: LoraAdapter, layers: readonly number[]): LoraAdapter {
  const weights = new Map<string, LoraPair>();
  for (const layer of layers) {
    for (const module of adapter.config.targetModules) {
      const key = loraKey(layer, module);
      const pair = adapter.weights.get(key);
      if (!pair) throw new ConfigError(`the global adapter lacks ${key}; it does not match the model`);
      weights.set(key, pair);
    }
  }
  return { config: adapter.config, layers: [...layers], weights };
}
