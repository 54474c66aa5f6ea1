import { loraKey, Rng } from '@prufed/model';
import { describe, expect, it } from 'vitest';
import { fedAvg, heteAgg, type StrategyOptions } from './strategy';
import { client, makeAdapter } from './test-fixtures';
import type { FitResult } from './types';

const options: StrategyOptions = {
  sampling: { fraction: 0.5, minClients: 2, maxClients: 10 },
  train: { localSteps: 20, batchSize: 4, learningRate: 1e-3, seqLen: 128 },
  trainByTier: { c: { localSteps: 10 } },
  minResults: 2,
  acceptFailures: true,
};
const previousGlobal = () => makeAdapter([0, 1, 2, 3], () => 0);
const result = (
  clientId: string,
  layers: number[],
  numSamples: number,
  value: number,
  loss: number,
): FitResult => ({
  clientId,
  numSamples,
  adapter: makeAdapter(layers, () => value),
  metrics: { loss },
});

describe('heteAgg strategy', () => {
  it('configures a round: sampled clients grouped by tier, per-tier config, seeded', () => {
    // Prepare
    const ready = [client('a1', 'a', [0, 1, 2, 3]), client('b1', 'b', [0, 1, 2]), client('c1', 'c', [0, 1])];
    const strategy = heteAgg({ ...options, sampling: { fraction: 1, minClients: 2, maxClients: 10 } });
    // Execute
    const plan = strategy.configureRound(4, ready, new Rng(3))!;
    const again = strategy.configureRound(4, ready, new Rng(3))!;
    // Assert
    expect(plan.round).toBe(4);
    expect(plan.byTier).toEqual({ a: ['a1'], b: ['b1'], c: ['c1'] });
    expect(plan.assignments.map((a) => [a.client.id, a.train.localSteps])).toEqual([
      ['a1', 20],
      ['b1', 20],
      ['c1', 10],
    ]);
    expect(plan.assignments.map((a) => a.seed)).toEqual(again.assignments.map((a) => a.seed));
    expect(strategy.configureRound(5, ready.slice(0, 1), new Rng(3))).toBeNull();
  });

  it('aggregates results, reports weighted client metrics and ignores failures by default', () => {
    // Prepare
    const strategy = heteAgg(options);
    const results = [result('a1', [0, 1, 2, 3], 1, 1, 2.0), result('c1', [0, 1], 3, 5, 1.0)];
    // Execute
    const output = strategy.aggregate(1, results, [{ clientId: 'b1', reason: 'timeout' }], previousGlobal())!;
    // Assert
    expect(output.global.weights.get(loraKey(0, 'q_proj'))!.A.data[0]).toBeCloseTo((1 * 1 + 3 * 5) / 4, 6);
    expect(output.global.weights.get(loraKey(3, 'q_proj'))!.A.data[0]).toBe(1);
    expect(output.metrics).toMatchObject({ round: 1, numResults: 2, numFailures: 1, totalSamples: 4 });
    expect(output.metrics.clientMetrics.loss).toBeCloseTo((1 * 2 + 3 * 1) / 4, 12);
    // Delta norms from the previous global (zero): |value| sqrt(28) per layer (2 modules x 14 values).
    const unit = Math.sqrt(28);
    expect(output.metrics.coverage.map((entry) => entry.meanDeltaNorm)).toEqual([
      expect.closeTo(3 * unit, 5),
      expect.closeTo(3 * unit, 5),
      expect.closeTo(unit, 5),
      expect.closeTo(unit, 5),
    ]);
  });

  it('makes no new global when the quorum is not met or failures are not accepted', () => {
    // Prepare
    const one = [result('a1', [0, 1, 2, 3], 1, 1, 2.0)];
    const two = [...one, result('c1', [0, 1], 3, 5, 1.0)];
    const failure = [{ clientId: 'b1', reason: 'disconnected' }];
    // Execute / Assert
    expect(heteAgg(options).aggregate(1, one, [], previousGlobal())).toBeNull();
    expect(
      heteAgg({ ...options, acceptFailures: false }).aggregate(1, two, failure, previousGlobal()),
    ).toBeNull();
    expect(
      heteAgg({ ...options, acceptFailures: false }).aggregate(1, two, [], previousGlobal()),
    ).not.toBeNull();
  });

  it('streams: a duplicate or broken result throws and leaves the round as it was', () => {
    // Prepare
    const round = heteAgg(options).openRound(1, previousGlobal());
    round.addResult(result('a1', [0, 1, 2, 3], 1, 1, 2.0));
    // Execute / Assert
    expect(() => round.addResult(result('a1', [0, 1], 1, 9, 2.0))).toThrow(/already has a result/);
    expect(() => round.addResult(result('x', [0, 1], 1, 9, Number.NaN))).toThrow(/metric loss = NaN/);
    round.addResult(result('c1', [0, 1], 1, 3, 1.0));
    expect(round.finish()!.global.weights.get(loraKey(0, 'v_proj'))!.B.data[0]).toBe(2);
  });

  it('rejects a quorum no round can reach', () => {
    expect(() => heteAgg({ ...options, minResults: 11 })).toThrow(/exceeds sampling.maxClients/);
  });
});

describe('fedAvg strategy', () => {
  it('refuses to configure a round over clients of different depths', () => {
    // Prepare
    const ready = [client('a1', 'a', [0, 1, 2, 3]), client('c1', 'c', [0, 1])];
    const strategy = fedAvg({ ...options, sampling: { fraction: 1, minClients: 2, maxClients: 2 } });
    // Execute / Assert
    expect(() => strategy.configureRound(1, ready, new Rng(1))).toThrow(
      /fedavg needs every client at one depth/,
    );
  });
});
