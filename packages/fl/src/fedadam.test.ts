import { loraKey } from '@prufed/model';
import { describe, expect, it } from 'vitest';
import { withFedAdam } from './fedadam';
import { heteAgg } from './strategy';
import { makeAdapter, maxAbsDiff } from './test-fixtures';

const inner = () =>
  heteAgg({
    sampling: { fraction: 1, minClients: 1, maxClients: 4 },
    train: { localSteps: 1, batchSize: 1, learningRate: 1e-3, seqLen: 8 },
    minResults: 1,
    acceptFailures: true,
  });
const previousGlobal = makeAdapter([0, 1, 2, 3], () => 0.25);
// One client on layers 0 and 1: it moves layer 0 by +0.5 and layer 1 by -0.2.
const update = makeAdapter([0, 1], (layer) => (layer === 0 ? 0.75 : 0.05));
const results = [{ clientId: 'c1', numSamples: 4, adapter: update, metrics: {} }];

describe('withFedAdam', () => {
  it('takes the first Adam step of the paper by hand', () => {
    // Prepare: lr 0.01, beta1 0.9, beta2 0.99, tau 0.001.
    const strategy = withFedAdam(inner(), { learningRate: 0.01, beta1: 0.9, beta2: 0.99, tau: 0.001 });
    // Execute
    const { global } = strategy.aggregate(1, results, [], previousGlobal)!;
    // Assert
    // delta +0.5: m = 0.05, v = 0.0025, x = 0.25 + 0.01 * 0.05 / (0.05 + 0.001) = 0.2598039216
    // delta -0.2: m = -0.02, v = 0.0004, x = 0.25 - 0.01 * 0.02 / (0.02 + 0.001) = 0.2404761905
    for (const factor of ['A', 'B'] as const) {
      for (const v of global.weights.get(loraKey(0, 'q_proj'))![factor].data)
        expect(v).toBeCloseTo(0.2598039216, 6);
      for (const v of global.weights.get(loraKey(1, 'v_proj'))![factor].data)
        expect(v).toBeCloseTo(0.2404761905, 6);
      for (const v of global.weights.get(loraKey(3, 'q_proj'))![factor].data) expect(v).toBe(0.25);
    }
    expect(strategy.name).toBe('fedadam(heteagg)');
  });

  it('keeps its moments across rounds and streams like the inner strategy', () => {
    // Prepare
    const strategy = withFedAdam(inner(), { learningRate: 0.01, beta1: 0.9, beta2: 0.99, tau: 0.001 });
    strategy.aggregate(1, results, [], previousGlobal);
    // Execute: the same delta again, now through the streaming path.
    const round = strategy.openRound(2, previousGlobal);
    round.addResult(results[0]);
    const second = round.finish()!.global.weights.get(loraKey(0, 'q_proj'))!.A.data[0];
    // Assert: m = 0.095, v = 0.004975, x = 0.25 + 0.01 * 0.095 / (sqrt(0.004975) + 0.001)
    expect(second).toBeCloseTo(0.25 + (0.01 * 0.095) / (Math.sqrt(0.004975) + 0.001), 6);
  });

  it('passes on "no new global" and rejects bad hyperparameters', () => {
    // Prepare
    const strategy = withFedAdam(inner());
    // Execute / Assert
    expect(strategy.aggregate(1, [], [{ clientId: 'c1', reason: 'timeout' }], previousGlobal)).toBeNull();
    expect(() => withFedAdam(inner(), { beta2: 1 })).toThrow(/0 <= beta1, beta2 < 1/);
  });
});

describe('withFedAdam server state', () => {
  const later = makeAdapter([0, 1], (layer) => (layer === 0 ? 0.5 : 0.4));
  const laterResults = [{ clientId: 'c1', numSamples: 4, adapter: later, metrics: {} }];

  it('resumes from its saved moments exactly as if it had never stopped', () => {
    // Prepare: one strategy runs two rounds; another runs round 1, and a fresh one restores its state.
    const uninterrupted = withFedAdam(inner());
    const first = uninterrupted.aggregate(1, results, [], previousGlobal)!.global;
    const expected = uninterrupted.aggregate(2, laterResults, [], first)!.global;
    const beforeRestart = withFedAdam(inner());
    beforeRestart.aggregate(1, results, [], previousGlobal);
    const saved = new Map([...beforeRestart.serverState()].map(([name, values]) => [name, values.slice()]));
    // m = (1 - beta1) * 0.5 after round 1; restoring hands the arrays over, so check it first.
    expect(saved.get(`${loraKey(0, 'q_proj')}.A.m`)![0]).toBeCloseTo(0.05, 9);
    // Execute
    const restarted = withFedAdam(inner());
    restarted.restoreServerState(saved);
    const resumed = restarted.aggregate(2, laterResults, [], first)!.global;
    const forgetful = withFedAdam(inner()).aggregate(2, laterResults, [], first)!.global;
    // Assert: 2 layers x 2 modules x (A, B) x (m, v) entries, and the same round 2 bit for bit.
    expect(saved.size).toBe(16);
    expect(maxAbsDiff(resumed, expected)).toBe(0);
    expect(maxAbsDiff(forgetful, expected)).toBeGreaterThan(1e-4);
  });

  it('refuses a corrupt state, and a stateless strategy refuses any', () => {
    const strategy = withFedAdam(inner());
    expect(() => strategy.restoreServerState(new Map([['0.q_proj.A.m', new Float64Array(6)]]))).toThrow(
      /lacks a first \(\.m\) or second \(\.v\) moment/,
    );
    expect(() => inner().restoreServerState(new Map([['0.q_proj.A.m', new Float64Array(6)]]))).toThrow(
      /fedadam/,
    );
    expect(() => inner().restoreServerState(new Map())).not.toThrow();
  });
});
