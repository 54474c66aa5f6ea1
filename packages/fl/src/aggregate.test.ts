import { type LoraAdapter, type LoraModule, loraKey, Rng } from '@prufed/model';
import { describe, expect, it } from 'vitest';
import { StreamingAggregator } from './aggregate';
import { makeAdapter, maxAbsDiff, tinyLora } from './test-fixtures';

// Client k (1, 2, 3) holds A entries s * (i + 1) and B entries -s * (i + 1) with
// s = 10 k + layer (+ 100 for v_proj), and trains on n_k = k samples.
const tierLayers = { 1: [0, 1, 2, 3], 2: [0, 1, 2], 3: [0, 1] } as const;
const scale = (k: number, layer: number, module: LoraModule) =>
  10 * k + layer + (module === 'v_proj' ? 100 : 0);
const clientAdapter = (k: 1 | 2 | 3) =>
  makeAdapter(
    [...tierLayers[k]],
    (layer, module, factor, i) => (factor === 'A' ? 1 : -1) * scale(k, layer, module) * (i + 1),
  );
const previousGlobal = () => makeAdapter([0, 1, 2, 3], (_layer, _module, _factor, i) => 7 + i);

function expectPairScale(global: LoraAdapter, layer: number, module: LoraModule, s: number): void {
  const { A, B } = global.weights.get(loraKey(layer, module))!;
  A.data.forEach((v, i) => {
    expect(v).toBeCloseTo(s * (i + 1), 4);
  });
  B.data.forEach((v, i) => {
    expect(v).toBeCloseTo(-s * (i + 1), 4);
  });
}

function randomAdapter(rng: Rng, layers: number[]): LoraAdapter {
  return makeAdapter(layers, () => rng.normal());
}

describe('StreamingAggregator heteagg', () => {
  it('gives the hand-computed sample-weighted means per layer', () => {
    // Prepare
    const aggregator = new StreamingAggregator('heteagg');
    // Execute
    for (const k of [1, 2, 3] as const) aggregator.add(clientAdapter(k), k);
    const { global, coverage } = aggregator.finish(previousGlobal());
    // Assert: layers 0, 1 by all three (weights 1, 2, 3), layer 2 by clients 1 and 2, layer 3 by client 1.
    const expectedQ = [
      (1 * 10 + 2 * 20 + 3 * 30) / 6,
      (1 * 11 + 2 * 21 + 3 * 31) / 6,
      (1 * 12 + 2 * 22) / 3,
      13,
    ];
    expectedQ.forEach((s, layer) => {
      expectPairScale(global, layer, 'q_proj', s);
      expectPairScale(global, layer, 'v_proj', s + 100);
    });
    expect(coverage).toEqual([
      { layer: 0, clients: 3, weight: 6, meanDeltaNorm: null },
      { layer: 1, clients: 3, weight: 6, meanDeltaNorm: null },
      { layer: 2, clients: 2, weight: 3, meanDeltaNorm: null },
      { layer: 3, clients: 1, weight: 1, meanDeltaNorm: null },
    ]);
    expect(global.layers).toEqual([0, 1, 2, 3]);
    expect(global.config).toEqual(tinyLora);
  });

  it('keeps the previous value of a layer nobody trained and does not touch the previous global', () => {
    // Prepare
    const previous = previousGlobal();
    const aggregator = new StreamingAggregator('heteagg');
    // Execute: only the clients of tiers b and c report, so nobody trains layer 3.
    aggregator.add(clientAdapter(2), 2);
    aggregator.add(clientAdapter(3), 3);
    const { global, coverage } = aggregator.finish(previous);
    // Assert
    for (const module of tinyLora.targetModules) {
      const pair = global.weights.get(loraKey(3, module))!;
      expect(Array.from(pair.A.data)).toEqual([7, 8, 9, 10, 11, 12]);
      expect(Array.from(pair.B.data)).toEqual([7, 8, 9, 10, 11, 12, 13, 14]);
      expect(pair.A.data).not.toBe(previous.weights.get(loraKey(3, module))!.A.data);
    }
    expectPairScale(global, 2, 'q_proj', 22);
    expectPairScale(global, 0, 'q_proj', (2 * 20 + 3 * 30) / 5);
    expect(coverage[3]).toEqual({ layer: 3, clients: 0, weight: 0, meanDeltaNorm: null });
    expect(Array.from(previous.weights.get(loraKey(0, 'q_proj'))!.A.data)).toEqual([7, 8, 9, 10, 11, 12]);
  });

  it('gives the same result whatever the order of arrival, up to float rounding', () => {
    // Prepare
    const rng = new Rng(42);
    const updates = [
      { adapter: randomAdapter(rng, [0, 1, 2, 3]), n: 17 },
      { adapter: randomAdapter(rng, [0, 1, 2]), n: 5 },
      { adapter: randomAdapter(rng, [0, 1]), n: 123 },
    ];
    const orders = [
      [0, 1, 2],
      [0, 2, 1],
      [1, 0, 2],
      [1, 2, 0],
      [2, 0, 1],
      [2, 1, 0],
    ];
    // Execute
    const globals = orders.map((order) => {
      const aggregator = new StreamingAggregator('heteagg');
      for (const i of order) aggregator.add(updates[i].adapter, updates[i].n);
      return aggregator.finish(previousGlobal()).global;
    });
    // Assert
    for (const global of globals.slice(1)) expect(maxAbsDiff(global, globals[0])).toBeLessThan(1e-6);
  });

  it('equals fedavg exactly when every client is at one depth', () => {
    // Prepare
    const rng = new Rng(7);
    const updates = [3, 1, 4].map((n) => ({ adapter: randomAdapter(rng, [0, 1]), n }));
    const heteagg = new StreamingAggregator('heteagg');
    const fedavg = new StreamingAggregator('fedavg');
    // Execute
    for (const { adapter, n } of updates) {
      heteagg.add(adapter, n);
      fedavg.add(adapter, n);
    }
    const fromHeteagg = heteagg.finish(previousGlobal());
    const fromFedavg = fedavg.finish(previousGlobal());
    // Assert
    expect(maxAbsDiff(fromHeteagg.global, fromFedavg.global)).toBe(0);
    expect(fromHeteagg.coverage).toEqual(fromFedavg.coverage);
    const a = updates.map(({ adapter }) => adapter.weights.get(loraKey(1, 'v_proj'))!.A.data[4]);
    const mean = (3 * a[0] + 1 * a[1] + 4 * a[2]) / 8;
    expect(fromFedavg.global.weights.get(loraKey(1, 'v_proj'))!.A.data[4]).toBeCloseTo(mean, 6);
  });
});

describe('StreamingAggregator errors', () => {
  it('fedavg rejects clients of different depths', () => {
    // Prepare
    const fedavg = new StreamingAggregator('fedavg');
    fedavg.add(clientAdapter(1), 1);
    // Execute / Assert
    expect(() => fedavg.add(clientAdapter(3), 3)).toThrow(
      /fedavg needs every client to hold the same layers/,
    );
  });

  it('a rejected update changes nothing', () => {
    // Prepare
    const reference = new StreamingAggregator();
    reference.add(clientAdapter(1), 1);
    const aggregator = new StreamingAggregator();
    aggregator.add(clientAdapter(1), 1);
    const badShape = clientAdapter(2);
    const lastPair = badShape.weights.get(loraKey(2, 'v_proj'))!;
    lastPair.B = { shape: [5, 2], data: new Float32Array(10) };
    const otherRank = makeAdapter([0], () => 1, { ...tinyLora, r: 1 });
    // Execute / Assert
    expect(() => aggregator.add(badShape, 2)).toThrow(/other updates have A \[2,3\] B \[4,2\]/);
    expect(() => aggregator.add(otherRank, 2)).toThrow(/wrong-config/);
    expect(() => aggregator.add(clientAdapter(2), 0)).toThrow(/numSamples must be a positive number/);
    expect(
      maxAbsDiff(aggregator.finish(previousGlobal()).global, reference.finish(previousGlobal()).global),
    ).toBe(0);
  });

  it('averages the per-layer delta norms over the clients that trained each layer', () => {
    // Prepare
    const aggregator = new StreamingAggregator('heteagg');
    // Execute: client 1 holds layers 0..3, client 3 layers 0 and 1.
    aggregator.add(
      clientAdapter(1),
      1,
      new Map([
        [0, 2],
        [1, 4],
        [2, 6],
        [3, 8],
      ]),
    );
    aggregator.add(
      clientAdapter(3),
      3,
      new Map([
        [0, 1],
        [1, 3],
      ]),
    );
    const { coverage } = aggregator.finish(previousGlobal());
    // Assert: plain (not sample-weighted) means.
    expect(coverage.map((entry) => entry.meanDeltaNorm)).toEqual([1.5, 3.5, 6, 8]);
  });

  it('refuses a previous global that lacks a layer the updates carry', () => {
    // Prepare
    const aggregator = new StreamingAggregator();
    aggregator.add(clientAdapter(1), 1);
    const shallowGlobal = makeAdapter([0, 1, 2], () => 0);
    // Execute / Assert
    expect(() => aggregator.finish(shallowGlobal)).toThrow(
      /3.q_proj, which the previous global adapter lacks/,
    );
  });
});
