// Device tiers on the server: the layers each tier's pruned variant keeps (and why), which tier a
// client gets from its hello report, and the slice of the global adapter a tier trains.
import { type HelloReport, type Tier, tiers } from '@prufed/fl';
import {
  angularDistances,
  blockInfluence,
  ConfigError,
  type LlamaWeights,
  type PruningStrategy,
  selectLayers,
} from '@prufed/model';
import type { Calibration } from './calibration';

// The slice a tier trains lives in @prufed/fl, shared with the federated study.
export { sliceAdapter } from '@prufed/fl';

export interface TierPlan {
  /** Kept original layers of each enabled tier, ascending. */
  layers: Partial<Record<Tier, number[]>>;
  /** Why each enabled tier keeps those layers, for the log. */
  reasons: Partial<Record<Tier, string>>;
  enabled: Tier[];
}

export interface TierPlanOptions {
  numLayers: number; // L
  enabled: Tier[];
  depths: Record<Tier, number>;
  pruning: PruningStrategy;
  /** All layers' weights; needed by the `magnitude` strategy. */
  weights?: LlamaWeights;
  /** Hidden states of the full model on calibration text; needed by `contribution` and `angular`. */
  calibration?: Calibration;
}

export function planTiers(options: TierPlanOptions): TierPlan {
  const { numLayers: L, pruning, calibration } = options;
  if ((pruning === 'contribution' || pruning === 'angular') && !calibration) {
    throw new ConfigError(
      `pruning strategy "${pruning}" needs calibration hidden states; compute them with computeCalibration (startServer does)`,
    );
  }
  const enabled = tiers.filter((tier) => options.enabled.includes(tier));
  const layers: Partial<Record<Tier, number[]>> = {};
  const reasons: Partial<Record<Tier, string>> = {};
  for (const tier of enabled) {
    const keep = Math.min(L, Math.max(1, Math.round(options.depths[tier] * L)));
    const kept = selectLayers(pruning, { numLayers: L, keep, weights: options.weights, ...calibration });
    layers[tier] = kept;
    reasons[tier] =
      `tier ${tier} keeps ${keep} of ${L} layers [${kept}] (${pruningReason(pruning, kept, L, calibration)})`;
  }
  return { layers, reasons, enabled };
}

/** What the strategy saw when it dropped the layers that `kept` lacks. */
function pruningReason(
  pruning: PruningStrategy,
  kept: number[],
  L: number,
  calibration: Calibration | undefined,
): string {
  const dropped = Array.from({ length: L }, (_, i) => i).filter((layer) => !kept.includes(layer));
  if (dropped.length === 0) return 'nothing to drop';
  if (pruning === 'contribution' && calibration) {
    const influence = blockInfluence(calibration.hidden, calibration.hiddenSize);
    const scores = dropped.map((layer) => `${layer}: ${influence[layer].toPrecision(3)}`).join(', ');
    return `contribution: dropped the lowest block influence 1 - cos(h_i, h_i+1) over ${calibration.tokens} calibration tokens, ${scores}`;
  }
  if (pruning === 'angular' && calibration) {
    const n = dropped.length;
    const distance = angularDistances(
      calibration.hidden,
      calibration.hiddenSize,
      n,
      calibration.lastTokenIndices,
    )[dropped[0]];
    return `angular: dropped layers ${dropped[0]}..${dropped[0] + n - 1}, the block of ${n} with the smallest angular distance ${distance.toPrecision(3)} on the last tokens of ${calibration.sequences} calibration lines`;
  }
  return `${pruning}: dropped [${dropped}]`;
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
