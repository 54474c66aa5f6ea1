import { type LoraAdapter, type LoraConfig, loraKey, Rng } from '@prufed/model';
import { describe, expect, it } from 'vitest';
import { heteAggProduct, refactor, truncatedSvd } from './product';
import { aggregateAll, heteAgg, type StrategyOptions } from './strategy';
import { makeAdapter, maxAbsDiff, tinyIn, tinyLora, tinyOut } from './test-fixtures';

const options: StrategyOptions = {
  sampling: { fraction: 1, minClients: 1, maxClients: 10 },
  train: { localSteps: 1, batchSize: 1, learningRate: 1e-3, seqLen: 16 },
  minResults: 1,
  acceptFailures: true,
};

/** B A of one adapter pair, (out, in) row-major. */
function product(adapter: LoraAdapter, key: string): number[] {
  const { A, B } = adapter.weights.get(key)!;
  const [out, R] = B.shape;
  const inFeatures = A.shape[1];
  return Array.from({ length: out * inFeatures }, (_, idx) => {
    const o = Math.floor(idx / inFeatures);
    const i = idx % inFeatures;
    let sum = 0;
    for (let r = 0; r < R; r++) sum += B.data[o * R + r] * A.data[r * inFeatures + i];
    return sum;
  });
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number): void {
  let max = 0;
  for (let i = 0; i < expected.length; i++) max = Math.max(max, Math.abs(actual[i] - expected[i]));
  if (!(max <= tolerance)) {
    throw new Error(
      `max |difference| ${max} > ${tolerance}; first actual [${Array.from(actual).slice(0, 4)}], expected [${Array.from(expected).slice(0, 4)}]`,
    );
  }
}

describe('truncatedSvd', () => {
  it('recovers the singular values and subspaces of a hand-made rank-2 matrix', () => {
    // Prepare: M = 5 u1 v1^T + 2 u2 v2^T with orthonormal u (5) and v (4).
    const u1 = [1, 1, 1, 1, 0].map((x) => x / 2);
    const u2 = [1, -1, 0, 0, 0].map((x) => x / Math.SQRT2);
    const v1 = [1, 0, 0, 0];
    const v2 = [0, 0.6, 0.8, 0];
    const data = new Float64Array(20);
    for (let o = 0; o < 5; o++)
      for (let i = 0; i < 4; i++) data[o * 4 + i] = 5 * u1[o] * v1[i] + 2 * u2[o] * v2[i];
    // Execute
    const { s, u, v } = truncatedSvd({ rows: 5, cols: 4, data }, 2, new Rng(1));
    // Assert: singular values, and each singular vector up to sign.
    expectClose(s, [5, 2], 1e-10);
    const sign = (x: ArrayLike<number>, y: number[]) =>
      Math.sign(y.reduce((sum, yi, i) => sum + yi * x[i], 0));
    expectClose(
      u[0].map((x) => x * sign(u[0], u1)),
      u1,
      1e-10,
    );
    expectClose(
      v[1].map((x) => x * sign(v[1], v2)),
      v2,
      1e-10,
    );
  });

  it('keeps the largest direction of a diagonal matrix when truncating', () => {
    const data = new Float64Array([0.5, 0, 0, 0, 1.5, 0, 0, 0, 0.25]); // diag(0.5, 1.5, 0.25)
    const { s, v } = truncatedSvd({ rows: 3, cols: 3, data }, 1, new Rng(2));
    expectClose(s, [1.5], 1e-12);
    expectClose(v[0].map(Math.abs), [0, 1, 0], 1e-12);
  });
});

describe('refactor', () => {
  it('returns the known factors of dW = B A when meanA is A', () => {
    // Prepare: B (3, 2), A (2, 4) by hand; dW = B A.
    const A = [1, 2, 0, -1, 0, 1, 3, 1];
    const B = [2, 0, -1, 1, 0.5, 3];
    const dW = new Float64Array(12);
    for (let o = 0; o < 3; o++)
      for (let i = 0; i < 4; i++) dW[o * 4 + i] = B[o * 2] * A[i] + B[o * 2 + 1] * A[4 + i];
    // Execute
    const factors = refactor({ rows: 3, cols: 4, data: dW }, A, 2, new Rng(3));
    // Assert
    expectClose(factors.A, A, 1e-5);
    expectClose(factors.B, B, 1e-5);
  });
});

describe('heteAggProduct', () => {
  const config: LoraConfig = { ...tinyLora, r: 2 };
  const sharedA = (i: number) => [0.3, -0.2, 0.5, 0.1, 0.4, -0.6][i];

  it('reduces to plain HeteAgg when every client sends the same A', () => {
    // Prepare: three clients of two depths share A; their B differ.
    const previous = makeAdapter([0, 1, 2], () => 0, config);
    const update = (layers: number[], scale: number) =>
      makeAdapter(
        layers,
        (layer, _module, factor, i) => (factor === 'A' ? sharedA(i) : scale * (i + 1) + layer * (i % 3)),
        config,
      );
    const results = [
      { clientId: 'a', numSamples: 2, adapter: update([0, 1, 2], 1), metrics: {} },
      { clientId: 'b', numSamples: 1, adapter: update([0, 1], -2), metrics: {} },
      { clientId: 'c', numSamples: 3, adapter: update([0], 0.5), metrics: {} },
    ];
    // Execute
    const plain = aggregateAll(heteAgg(options), 1, results, [], previous)!;
    const products = aggregateAll(heteAggProduct(options), 1, results, [], previous)!;
    // Assert: the same factors (B of layer 0, q_proj by hand: (2*1 + 1*(-2) + 3*0.5) / 6 * 1 at i = 0).
    expect(plain.global.weights.get(loraKey(0, 'q_proj'))!.B.data[0]).toBeCloseTo(1.5 / 6, 6);
    expect(maxAbsDiff(products.global, plain.global)).toBeLessThan(1e-5);
    expect(products.metrics).toEqual(plain.metrics);
  });

  it('averages the products B A, which separate means of A and B do not', () => {
    // Prepare: r = 1 in one layer; client 1 has dW = 3 e1 f1^T, client 2 dW = 1 e2 f2^T.
    const r1: LoraConfig = { ...tinyLora, r: 1, targetModules: ['q_proj'] };
    const client = (id: string, row: number, col: number, value: number) => ({
      clientId: id,
      numSamples: 1,
      metrics: {},
      adapter: makeAdapter(
        [0],
        (_layer, _module, factor, i) => (factor === 'A' ? (i === col ? 1 : 0) : i === row ? value : 0),
        r1,
      ),
    });
    const previous = makeAdapter([0], () => 0, r1);
    // Execute
    const output = aggregateAll(
      heteAggProduct(options),
      1,
      [client('x', 0, 0, 3), client('y', 1, 1, 1)],
      [],
      previous,
    )!;
    // Assert: mean dW = diag(1.5, 0.5) (padded); its rank-1 truncation is 1.5 e1 f1^T. Separate means
    // would give B A = [1.5, 0.5] x [0.5, 0.5] = 0.75 in the (0, 0) entry.
    const expected = new Array(tinyOut * tinyIn).fill(0);
    expected[0] = 1.5;
    expectClose(product(output.global, loraKey(0, 'q_proj')), expected, 1e-6);
  });

  it('rejects a bad update before adding it, and keeps untrained layers', () => {
    const previous = makeAdapter([0, 1], (layer) => layer + 1, config);
    const strategy = heteAggProduct(options);
    const aggregation = strategy.openRound(1, previous);
    const good = makeAdapter([0], (_l, _m, factor, i) => (factor === 'A' ? sharedA(i) : i), config);
    aggregation.addResult({ clientId: 'a', numSamples: 1, adapter: good, metrics: {} });
    expect(() => aggregation.addResult({ clientId: 'a', numSamples: 1, adapter: good, metrics: {} })).toThrow(
      /already has a result/,
    );
    const { global } = aggregation.finish()!;
    expectClose(product(global, loraKey(0, 'v_proj')), product(good, loraKey(0, 'v_proj')), 1e-5);
    expect(global.weights.get(loraKey(1, 'q_proj'))!.A.data[0]).toBe(2);
  });
});
