import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors';
import { Rng } from '../rng';
import { clientShard, partition } from './partition';
import { sampleDirichlet, sampleGamma, shuffleInPlace } from './sampling';
import { parseTaskJsonl } from './task';

const shipped = parseTaskJsonl(
  readFileSync(new URL('../../../../public/datasets/wordnet/category/train.jsonl', import.meta.url), 'utf8'),
);

/** Total variation distance between a client's category distribution and the split's. */
function distanceFromGlobal(records: readonly { category: string }[], shard: readonly number[]): number {
  const global = new Map<string, number>();
  for (const r of records) global.set(r.category, (global.get(r.category) ?? 0) + 1 / records.length);
  const local = new Map<string, number>();
  for (const i of shard)
    local.set(records[i].category, (local.get(records[i].category) ?? 0) + 1 / shard.length);
  let distance = 0;
  for (const [category, p] of global) distance += Math.abs(p - (local.get(category) ?? 0)) / 2;
  return distance;
}

describe('sampling', () => {
  it('Gamma draws have mean and variance equal to the shape', () => {
    for (const shape of [0.3, 2.5]) {
      const rng = new Rng(7);
      const n = 40_000;
      const draws = Array.from({ length: n }, () => sampleGamma(shape, rng));
      const mean = draws.reduce((a, b) => a + b, 0) / n;
      const variance = draws.reduce((a, b) => a + (b - mean) ** 2, 0) / n;
      expect(Math.abs(mean - shape)).toBeLessThan(4 * Math.sqrt(shape / n));
      expect(Math.abs(variance / shape - 1)).toBeLessThan(0.1);
    }
  });

  it('Dirichlet draws sum to 1 and a shuffle is a permutation', () => {
    const p = sampleDirichlet(0.01, 6, new Rng(1));
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(p.every((x) => x >= 0)).toBe(true);
    expect(shuffleInPlace([1, 2, 3, 4, 5], new Rng(3)).sort()).toEqual([1, 2, 3, 4, 5]);
  });
});

describe('partition', () => {
  for (const scheme of ['iid', 'dirichlet'] as const) {
    it(`${scheme}: every index exactly once, deterministic per seed, different across seeds`, () => {
      const options = { clients: 10, scheme, alpha: 0.5, seed: 42 };
      const shards = partition(shipped, options);
      expect(shards).toHaveLength(10);
      expect(shards.reduce((n, s) => n + s.length, 0)).toBe(shipped.length);
      expect(
        shards
          .flat()
          .sort((a, b) => a - b)
          .every((v, i) => v === i),
      ).toBe(true);
      expect(shards.every((s) => s.length > 0 && s.every((v, i) => i === 0 || s[i - 1] < v))).toBe(true);
      expect(partition(shipped, options)).toEqual(shards);
      expect(partition(shipped, { ...options, seed: 43 })).not.toEqual(shards);
      expect(clientShard(shipped, 3, options)).toEqual(shards[3].map((i) => shipped[i]));
    });
  }

  it('iid gives equal sizes and the global category mix', () => {
    const shards = partition(shipped, { clients: 8, scheme: 'iid', seed: 1 });
    const sizes = shards.map((s) => s.length);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    for (const shard of shards) expect(distanceFromGlobal(shipped, shard)).toBeLessThan(0.2);
  });

  it('dirichlet with small alpha is skewed and with large alpha is near IID', () => {
    const topShare = (shard: number[]) => {
      const counts = new Map<string, number>();
      for (const i of shard) counts.set(shipped[i].category, (counts.get(shipped[i].category) ?? 0) + 1);
      const top = [...counts.values()].sort((a, b) => b - a);
      return (top[0] + (top[1] ?? 0)) / shard.length;
    };
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const skewed = [5, 6, 7].flatMap((seed) =>
      partition(shipped, { clients: 10, scheme: 'dirichlet', alpha: 0.05, seed }),
    );
    // Globally the two largest categories hold under 30% of the records; a skewed client's top two hold
    // about half of its records, and its category mix is far from the split's.
    expect(mean(skewed.map(topShare))).toBeGreaterThan(0.45);
    expect(mean(skewed.map((s) => distanceFromGlobal(shipped, s)))).toBeGreaterThan(0.5);
    const flat = partition(shipped, { clients: 10, scheme: 'dirichlet', alpha: 1000, seed: 5 });
    for (const shard of flat) expect(distanceFromGlobal(shipped, shard)).toBeLessThan(0.1);
    expect(mean(flat.map(topShare))).toBeLessThan(0.4);
  });

  it('rejects bad options with a hint', () => {
    expect(() => partition(shipped, { clients: 0, scheme: 'iid', seed: 1 })).toThrow(ConfigError);
    expect(() => partition(shipped, { clients: 2, scheme: 'dirichlet', seed: 1 })).toThrow(/alpha/);
    expect(() => partition(shipped.slice(0, 3), { clients: 4, scheme: 'iid', seed: 1 })).toThrow(
      /at most one client/,
    );
    expect(() =>
      partition(shipped.slice(0, 12), { clients: 12, scheme: 'dirichlet', alpha: 0.001, seed: 1 }),
    ).toThrow(/raise alpha/);
    expect(() => clientShard(shipped, 10, { clients: 10, scheme: 'iid', seed: 1 })).toThrow(/outside 0\.\.9/);
  });
});
