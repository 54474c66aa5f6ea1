// The HeteAgg and FedAvg strategies (Algorithm 1): sample a fraction of the ready clients, group
// them by tier, and aggregate their updates as they arrive with a StreamingAggregator.
import { ConfigError, InputError, type LoraAdapter } from '@prufed/model';
import { sameNumbers } from './adapter-check';
import { type AggregationMode, StreamingAggregator } from './aggregate';
import { checkSamplingOptions, groupByTier, type SamplingOptions, sampleClients } from './sampling';
import type {
  AggregateOutput,
  ClientInfo,
  FitFailure,
  FitResult,
  Random,
  RoundPlan,
  Strategy,
  Tier,
  TrainConfig,
} from './types';
import { layerDeltaNorms } from './validate';

export interface StrategyOptions {
  sampling: SamplingOptions;
  train: TrainConfig;
  /** Per-tier overrides of `train`, e.g. fewer local steps on the slowest tier. */
  trainByTier?: Partial<Record<Tier, Partial<TrainConfig>>>;
  /** Quorum: fewer accepted results than this and the round makes no new global. */
  minResults: number;
  /** Flower's accept_failures: false makes any failure void the round. */
  acceptFailures: boolean;
}

/**
 * One round's aggregation in progress. The coordinator feeds it results as they arrive, so only
 * the running sums stay in memory; a result that throws InputError has changed nothing.
 */
export interface RoundAggregation {
  addResult(result: FitResult): void;
  addFailure(failure: FitFailure): void;
  /** The new global and the round's metrics, or null when the quorum is not met. */
  finish(): AggregateOutput | null;
}

/** Server-side optimizer state a strategy carries from round to round (FedAdam's moments), by name. */
export type ServerState = Map<string, Float64Array>;

/** A strategy whose rounds can be aggregated incrementally (every strategy in this package). */
export interface StreamingStrategy extends Strategy {
  openRound(round: number, previousGlobal: LoraAdapter): RoundAggregation;
  /**
   * The state after the last finished round, to persist with that round (the live arrays: write
   * them before the next round finishes); empty for a stateless strategy.
   */
  serverState(): ServerState;
  /**
   * Resumes from the state persisted with the last completed round, taking over its arrays; a
   * stateless strategy takes only an empty one.
   */
  restoreServerState(state: ServerState): void;
}

export function heteAgg(options: StrategyOptions): StreamingStrategy {
  return weightedMeanStrategy('heteagg', options);
}

/** The homogeneous baseline: every client must hold the same layers. */
export function fedAvg(options: StrategyOptions): StreamingStrategy {
  return weightedMeanStrategy('fedavg', options);
}

/** Strategy.aggregate on top of openRound: feeds every result and failure, then finishes. */
export function aggregateAll(
  strategy: StreamingStrategy,
  round: number,
  results: readonly FitResult[],
  failures: readonly FitFailure[],
  previousGlobal: LoraAdapter,
): AggregateOutput | null {
  const aggregation = strategy.openRound(round, previousGlobal);
  for (const result of results) aggregation.addResult(result);
  for (const failure of failures) aggregation.addFailure(failure);
  return aggregation.finish();
}

function weightedMeanStrategy(mode: AggregationMode, options: StrategyOptions): StreamingStrategy {
  checkSamplingOptions(options.sampling);
  if (!Number.isSafeInteger(options.minResults) || options.minResults < 1) {
    throw new ConfigError(`minResults must be an integer >= 1, got ${options.minResults}`);
  }
  if (options.minResults > options.sampling.maxClients) {
    throw new ConfigError(
      `minResults (${options.minResults}) exceeds sampling.maxClients (${options.sampling.maxClients}), so no round could succeed; lower minResults`,
    );
  }
  const strategy: StreamingStrategy = {
    name: mode,
    configureRound(round: number, ready: readonly ClientInfo[], rng: Random): RoundPlan | null {
      const sampled = sampleClients(ready, options.sampling, rng);
      if (!sampled) return null;
      if (mode === 'fedavg') {
        const depthMismatch = sampled.find(
          (client) => !sameNumbers(client.keptLayers, sampled[0].keptLayers),
        );
        if (depthMismatch) {
          throw new ConfigError(
            `fedavg needs every client at one depth: ${sampled[0].id} keeps [${sampled[0].keptLayers}], ${depthMismatch.id} keeps [${depthMismatch.keptLayers}]; use heteagg or put every client on one tier`,
          );
        }
      }
      const assignments = sampled.map((client) => ({
        client,
        train: { ...options.train, ...options.trainByTier?.[client.tier] },
        seed: Math.floor(rng.uniform() * 2 ** 31),
      }));
      return { round, assignments, byTier: groupByTier(sampled) };
    },
    openRound(round: number, previousGlobal: LoraAdapter): RoundAggregation {
      const aggregator = new StreamingAggregator(mode);
      const seen = new Set<string>();
      const failed = new Set<string>();
      const metricSums = new Map<string, { sum: number; weight: number }>();
      let totalSamples = 0;
      return {
        addResult(result: FitResult): void {
          if (seen.has(result.clientId)) {
            throw new InputError(`client ${result.clientId} already has a result in round ${round}`);
          }
          const badMetric = Object.entries(result.metrics).find(([, value]) => !Number.isFinite(value));
          if (badMetric) {
            throw new InputError(
              `client ${result.clientId} reported metric ${badMetric[0]} = ${badMetric[1]}`,
            );
          }
          aggregator.add(
            result.adapter,
            result.numSamples,
            result.layerDeltaNorms ?? layerDeltaNorms(result.adapter, previousGlobal),
          );
          seen.add(result.clientId);
          totalSamples += result.numSamples;
          for (const [name, value] of Object.entries(result.metrics)) {
            const entry = metricSums.get(name) ?? { sum: 0, weight: 0 };
            entry.sum += result.numSamples * value;
            entry.weight += result.numSamples;
            metricSums.set(name, entry);
          }
        },
        addFailure(failure: FitFailure): void {
          failed.add(failure.clientId);
        },
        finish(): AggregateOutput | null {
          if (seen.size < options.minResults) return null;
          if (!options.acceptFailures && failed.size > 0) return null;
          const { global, coverage } = aggregator.finish(previousGlobal);
          const clientMetrics: Record<string, number> = {};
          for (const [name, { sum, weight }] of metricSums) clientMetrics[name] = sum / weight;
          return {
            global,
            metrics: {
              round,
              numResults: seen.size,
              numFailures: failed.size,
              totalSamples,
              coverage,
              clientMetrics,
            },
          };
        },
      };
    },
    aggregate(round, results, failures, previousGlobal) {
      return aggregateAll(strategy, round, results, failures, previousGlobal);
    },
    serverState: () => new Map(),
    restoreServerState(state: ServerState): void {
      if (state.size > 0) {
        throw new ConfigError(
          `the stored run carries server optimizer state (${[...state.keys()].slice(0, 2).join(', ')}, ...) that ${mode} does not use; resume it with the strategy that made it (fedadam) or start a fresh run in another data dir`,
        );
      }
    },
  };
  return strategy;
}
