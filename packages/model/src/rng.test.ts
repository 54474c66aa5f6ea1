import { describe, expect, it } from 'vitest';
import { InputError } from './errors';
import { Rng } from './rng';

describe('Rng', () => {
  it('is xoshiro128**: state {1, 2, 3, 4} gives the reference outputs 11520, 0, 5927040, 70819200', () => {
    const rng = Rng.fromState([1, 2, 3, 4]);
    expect([rng.nextUint32(), rng.nextUint32(), rng.nextUint32(), rng.nextUint32()]).toEqual([
      11520, 0, 5927040, 70819200,
    ]);
  });

  it('same seed, same stream; different seeds differ', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const xs = Array.from({ length: 5 }, () => a.uniform());
    expect(Array.from({ length: 5 }, () => b.uniform())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c.uniform())).not.toEqual(xs);
  });

  it('uniform lies in [0, 1) and normal has mean 0 and variance 1', () => {
    const rng = new Rng(1);
    const n = 100_000;
    let sum = 0;
    let sumSq = 0;
    let min = 1;
    let max = 0;
    for (let i = 0; i < n; i++) {
      const u = rng.uniform();
      min = Math.min(min, u);
      max = Math.max(max, u);
      const z = rng.normal();
      sum += z;
      sumSq += z * z;
    }
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThan(1);
    expect(Math.abs(sum / n)).toBeLessThan(0.02); // 5 standard errors
    expect(Math.abs(sumSq / n - 1)).toBeLessThan(0.03);
  });

  it('fork depends on the seed and label only, not on draws made before', () => {
    const a = new Rng(7);
    const b = new Rng(7);
    for (let i = 0; i < 10; i++) b.uniform();
    expect(a.fork('x').uniform()).toBe(b.fork('x').uniform());
    expect(a.fork('x').uniform()).not.toBe(a.fork('y').uniform());
    expect(a.fork('x').uniform()).not.toBe(new Rng(8).fork('x').uniform());
  });

  it('rejects seeds that are not safe integers', () => {
    expect(() => new Rng(1.5)).toThrow(InputError);
  });
});
