// The vocabulary of a federated round, shared by strategies, the coordinator and the clients:
// who takes part (ClientInfo), what comes back (FitResult / FitFailure) and the Strategy contract.
import type { LoraAdapter } from '@prufed/model';

/** Device tiers: a = full depth, b = 3L/4, c = L/2 by default (depths are configurable). */
export const tiers = ['a', 'b', 'c'] as const;
export type Tier = (typeof tiers)[number];

/** A seeded generator of uniform numbers in [0, 1), such as @prufed/model's Rng: rounds are reproducible. */
export interface Random {
  uniform(): number;
}

export interface ClientInfo {
  id: string;
  tier: Tier;
  /** ORIGINAL indices of the decoder layers this client's variant keeps, ascending. */
  keptLayers: number[];
}

/** Hyperparameters of one client's local training in one round. */
export interface TrainConfig {
  localSteps: number;
  batchSize: number;
  learningRate: number;
  /** Tokens per example after truncation. */
  seqLen: number;
}

/** What one sampled client is asked to do this round. */
export interface Assignment {
  client: ClientInfo;
  train: TrainConfig;
  /** Seed of the client's local data shuffling, drawn from the round's rng. */
  seed: number;
}

export interface RoundPlan {
  round: number;
  assignments: Assignment[];
  /** Sampled client ids grouped by tier (Algorithm 1), each list ascending. */
  byTier: Record<Tier, string[]>;
}

/** A client's accepted update: its adapters hold ONLY the client's kept layers. */
export interface FitResult {
  clientId: string;
  numSamples: number;
  adapter: LoraAdapter;
  metrics: Record<string, number>;
  /** L2 norm of (update - previous global) per original layer; acceptUpdate sets it, else it is computed. */
  layerDeltaNorms?: ReadonlyMap<number, number>;
}

/** A sampled client that did not deliver: disconnect, timeout or rejected update. */
export interface FitFailure {
  clientId: string;
  reason: string;
}

/** How many clients trained an original layer this round and their total sample weight. */
export interface LayerCoverage {
  layer: number;
  clients: number;
  weight: number;
  /** Mean over those clients of the L2 norm of their update's delta on this layer; null when none. */
  meanDeltaNorm: number | null;
}

export interface RoundMetrics {
  round: number;
  numResults: number;
  numFailures: number;
  totalSamples: number;
  coverage: LayerCoverage[];
  /** Sample-weighted mean of each metric the clients reported (over the clients reporting it). */
  clientMetrics: Record<string, number>;
}

export interface AggregateOutput {
  global: LoraAdapter;
  metrics: RoundMetrics;
}

/** Flower-style strategy: configure a round, then aggregate results AND failures. */
export interface Strategy {
  readonly name: string;
  /** Which ready clients train this round and with what; null when too few clients are ready. */
  configureRound(round: number, ready: readonly ClientInfo[], rng: Random): RoundPlan | null;
  /** The new global adapter, or null when no new global is made this round (quorum not met). */
  aggregate(
    round: number,
    results: readonly FitResult[],
    failures: readonly FitFailure[],
    previousGlobal: LoraAdapter,
  ): AggregateOutput | null;
}
