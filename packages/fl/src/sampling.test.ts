import { Rng } from '@prufed/model';
import { describe, expect, it } from 'vitest';
import { groupByTier, sampleClients, sampleCount } from './sampling';
import { client } from './test-fixtures';
import type { ClientInfo } from './types';

const readyClients = (count: number): ClientInfo[] =>
  Array.from({ length: count }, (_, i) =>
    client(`c${String(i).padStart(2, '0')}`, 'abc'[i % 3] as 'a', [0, 1]),
  );

describe('sampleCount', () => {
  it('rounds the fraction up and clamps to [min, max]', () => {
    // Prepare
    const options = { fraction: 0.1, minClients: 2, maxClients: 5 };
    // Execute / Assert: 0.1 * 30 is 3.0000000000000004 in floats and must still give 3.
    expect(sampleCount(30, options)).toBe(3);
    expect(sampleCount(31, options)).toBe(4);
    expect(sampleCount(5, options)).toBe(2);
    expect(sampleCount(100, options)).toBe(5);
    expect(sampleCount(7, { fraction: 1, minClients: 1, maxClients: 100 })).toBe(7);
  });
});

describe('sampleClients', () => {
  it('is deterministic for a seed and independent of the order of the ready list', () => {
    // Prepare
    const ready = readyClients(20);
    const options = { fraction: 0.3, minClients: 1, maxClients: 20 };
    // Execute
    const first = sampleClients(ready, options, new Rng(5))!;
    const again = sampleClients([...ready].reverse(), options, new Rng(5))!;
    const otherSeed = sampleClients(ready, options, new Rng(6))!;
    // Assert
    expect(first.map((c) => c.id)).toEqual(again.map((c) => c.id));
    expect(first).toHaveLength(6);
    expect(new Set(first.map((c) => c.id)).size).toBe(6);
    expect(first.map((c) => c.id)).not.toEqual(otherSeed.map((c) => c.id));
    expect(first.map((c) => c.id)).toEqual([...first.map((c) => c.id)].sort());
  });

  it('samples every client about equally often', () => {
    // Prepare
    const ready = readyClients(10);
    const rng = new Rng(11);
    const counts = new Map<string, number>();
    // Execute: 2000 draws of 3 out of 10: each client expects 600.
    for (let i = 0; i < 2000; i++) {
      for (const c of sampleClients(ready, { fraction: 0.3, minClients: 1, maxClients: 10 }, rng)!) {
        counts.set(c.id, (counts.get(c.id) ?? 0) + 1);
      }
    }
    // Assert: binomial sd is about 20.5; 5 sd either side.
    for (const c of ready) expect(Math.abs(counts.get(c.id)! - 600)).toBeLessThan(105);
  });

  it('returns null when fewer than minClients are ready and rejects bad options', () => {
    // Prepare
    const ready = readyClients(2);
    // Execute / Assert
    expect(sampleClients(ready, { fraction: 1, minClients: 3, maxClients: 5 }, new Rng(1))).toBeNull();
    expect(sampleClients(ready, { fraction: 1, minClients: 2, maxClients: 5 }, new Rng(1))).toHaveLength(2);
    expect(() => sampleClients(ready, { fraction: 0, minClients: 1, maxClients: 5 }, new Rng(1))).toThrow(
      /fraction/,
    );
    expect(() => sampleClients(ready, { fraction: 0.5, minClients: 3, maxClients: 2 }, new Rng(1))).toThrow(
      /maxClients must be an integer >= minClients/,
    );
  });
});

describe('groupByTier', () => {
  it('groups ids by tier, sorted, with every tier present', () => {
    // Prepare
    const clients = [client('z', 'a', [0]), client('b', 'c', [0]), client('a', 'a', [0])];
    // Execute / Assert
    expect(groupByTier(clients)).toEqual({ a: ['a', 'z'], b: [], c: ['b'] });
  });
});
