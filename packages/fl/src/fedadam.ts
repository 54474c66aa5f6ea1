// FedAdam (Reddi et al., "Adaptive Federated Optimization", ICLR 2021, Algorithm 2): the server
// treats the averaged client change as a pseudo-gradient and takes an Adam step with its own
// learning rate, betas and tau. Wraps any streaming strategy; layers nobody trained this round
// keep their value and their moments, as in HeteAgg. The moments are the strategy's server state:
// the coordinator persists them with each round and restores them when it resumes.
//   delta = aggregated - previous            (the pseudo-gradient is -delta)
//   m = beta1 m + (1 - beta1) delta
//   v = beta2 v + (1 - beta2) delta^2
//   x = previous + lr m / (sqrt(v) + tau)     (no bias correction, as in the paper)
import { ConfigError, InputError, type LoraAdapter, loraKey } from '@prufed/model';
import type { RoundAggregation, ServerState, StreamingStrategy } from './strategy';
import type { AggregateOutput } from './types';

export interface FedAdamOptions {
  learningRate: number;
  beta1: number;
  beta2: number;
  /** Adaptivity: larger tau makes the step closer to momentum SGD. */
  tau: number;
}

/** Defaults from the paper's sweeps (server lr tuned per task; 1e-2 suits LoRA adapters). */
export const fedAdamDefaults: FedAdamOptions = { learningRate: 1e-2, beta1: 0.9, beta2: 0.99, tau: 1e-3 };

interface Moments {
  m: Float64Array;
  v: Float64Array;
}

export function withFedAdam(
  inner: StreamingStrategy,
  options: Partial<FedAdamOptions> = {},
): StreamingStrategy {
  const { learningRate, beta1, beta2, tau } = { ...fedAdamDefaults, ...options };
  if (!(learningRate > 0) || !(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1) || !(tau > 0)) {
    throw new ConfigError(
      `fedadam needs learningRate > 0, 0 <= beta1, beta2 < 1 and tau > 0; got lr=${learningRate} beta1=${beta1} beta2=${beta2} tau=${tau}`,
    );
  }
  const moments = new Map<string, Moments>();

  function adamStep(previous: Float32Array, aggregated: Float32Array, key: string): void {
    let state = moments.get(key);
    if (!state) {
      state = { m: new Float64Array(previous.length), v: new Float64Array(previous.length) };
      moments.set(key, state);
    }
    if (state.m.length !== previous.length) {
      throw new InputError(
        `fedadam moments of ${key} hold ${state.m.length} values, the adapter ${previous.length}; the restored state belongs to another adapter layout`,
      );
    }
    const { m, v } = state;
    for (let i = 0; i < previous.length; i++) {
      const delta = aggregated[i] - previous[i];
      m[i] = beta1 * m[i] + (1 - beta1) * delta;
      v[i] = beta2 * v[i] + (1 - beta2) * delta * delta;
      aggregated[i] = previous[i] + (learningRate * m[i]) / (Math.sqrt(v[i]) + tau);
    }
  }

  function step(output: AggregateOutput, previousGlobal: LoraAdapter): AggregateOutput {
    const { global, metrics } = output;
    for (const { layer, clients } of metrics.coverage) {
      if (clients === 0) continue;
      for (const module of global.config.targetModules) {
        const key = loraKey(layer, module);
        const previous = previousGlobal.weights.get(key)!;
        const next = global.weights.get(key)!;
        adamStep(previous.A.data, next.A.data, `${key}.A`);
        adamStep(previous.B.data, next.B.data, `${key}.B`);
      }
    }
    return output;
  }

  const strategy: StreamingStrategy = {
    name: `fedadam(${inner.name})`,
    configureRound: (round, ready, rng) => inner.configureRound(round, ready, rng),
    openRound(round: number, previousGlobal: LoraAdapter): RoundAggregation {
      const aggregation = inner.openRound(round, previousGlobal);
      return {
        addResult: (result) => aggregation.addResult(result),
        addFailure: (failure) => aggregation.addFailure(failure),
        finish() {
          const output = aggregation.finish();
          return output && step(output, previousGlobal);
        },
      };
    },
    aggregate(round, results, failures, previousGlobal) {
      const output = inner.aggregate(round, results, failures, previousGlobal);
      return output && step(output, previousGlobal);
    },
    serverState(): ServerState {
      const state: ServerState = new Map();
      for (const [key, { m, v }] of moments) {
        state.set(`${key}.m`, m);
        state.set(`${key}.v`, v);
      }
      return state;
    },
    restoreServerState(state: ServerState): void {
      const restored = new Map<string, Moments>();
      for (const name of state.keys()) {
        const key = name.slice(0, -2);
        const m = state.get(`${key}.m`);
        const v = state.get(`${key}.v`);
        if (!/\.[mv]$/.test(name) || !m || !v || m.length !== v.length) {
          throw new ConfigError(
            `fedadam state entry "${name}" lacks a first (.m) or second (.v) moment of its length; the stored optimizer state is corrupt, start a fresh run`,
          );
        }
        restored.set(key, { m, v });
      }
      moments.clear();
      for (const [key, value] of restored) moments.set(key, value);
    },
  };
  return strategy;
}
