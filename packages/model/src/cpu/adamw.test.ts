import { describe, expect, it } from 'vitest';
import type { AdamWConfig } from '../engine';
import { ConfigError } from '../errors';
import { adamwUpdate, assertAdamWConfig, clipCoefficient, sumOfSquares } from './adamw';

const config: AdamWConfig = {
  lr: 0.1,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 0.01,
  maxGradNorm: 1,
};

describe('AdamW', () => {
  it('three steps match torch.optim.AdamW (values from its update rule, computed by hand in Python)', () => {
    const params = new Float64Array([1, -0.5, 2]);
    const m = new Float64Array(3);
    const v = new Float64Array(3);
    const grads = [
      [0.5, -0.25, 0],
      [-0.25, 1, 2],
      [0.1, 0.1, -3],
    ];
    const expected = [
      [0.899000002, -0.39950000399999985, 1.998],
      [0.8714672987058463, -0.4550508526323238, 1.9215883181693545],
      [0.8390714757250103, -0.50381494741647, 1.9409310031636984],
    ];
    grads.forEach((g, i) => {
      adamwUpdate(params, new Float64Array(g), m, v, i + 1, config, 1);
      expected[i].forEach((value, j) => {
        expect(params[j]).toBeCloseTo(value, 12);
      });
    });
  });

  it('clipping scales as torch.nn.utils.clip_grad_norm_: max_norm / (norm + 1e-6), at most 1', () => {
    const norm = Math.sqrt(sumOfSquares(new Float64Array([3, 4])));
    expect(norm).toBe(5);
    expect(clipCoefficient(norm, 1)).toBeCloseTo(0.199999960000008, 15);
    expect(clipCoefficient(0.5, 1)).toBe(1);
    expect(clipCoefficient(100, 0)).toBe(1); // 0 disables clipping
  });

  it('gradScale equals stepping on pre-scaled gradients', () => {
    const run = (grads: number[][], scale: number) => {
      const params = new Float64Array([1, 2]);
      const m = new Float64Array(2);
      const v = new Float64Array(2);
      grads.forEach((g, i) => {
        adamwUpdate(params, new Float64Array(g), m, v, i + 1, config, scale);
      });
      return [...params];
    };
    const scaled = run(
      [
        [0.6, 0.8],
        [0.3, -0.1],
      ],
      1,
    );
    const viaScale = run(
      [
        [3, 4],
        [1.5, -0.5],
      ],
      0.2,
    );
    viaScale.forEach((value, i) => {
      expect(value).toBeCloseTo(scaled[i], 14);
    });
  });

  it('rejects settings out of range with a ConfigError naming them', () => {
    expect(() => assertAdamWConfig({ ...config, beta1: 1 })).toThrow(/beta1/);
    expect(() => assertAdamWConfig({ ...config, eps: 0 })).toThrow(ConfigError);
    expect(() => assertAdamWConfig({ ...config, lr: Number.NaN })).toThrow(/lr/);
  });
});
