// AdamW as torch.optim.AdamW (decoupled weight decay, bias correction) and global gradient-norm
// clipping as torch.nn.utils.clip_grad_norm_, on flat parameter buffers.
import type { AdamWConfig } from '../engine';
import { ConfigError } from '../errors';
import type { FloatArray } from '../tensor';

/** Throws a ConfigError naming the first AdamW setting out of range. */
export function assertAdamWConfig(config: AdamWConfig): void {
  const checks: [keyof AdamWConfig, boolean, string][] = [
    ['lr', config.lr >= 0, '>= 0'],
    ['beta1', config.beta1 >= 0 && config.beta1 < 1, 'in [0, 1)'],
    ['beta2', config.beta2 >= 0 && config.beta2 < 1, 'in [0, 1)'],
    ['eps', config.eps > 0, '> 0'],
    ['weightDecay', config.weightDecay >= 0, '>= 0'],
    ['maxGradNorm', config.maxGradNorm >= 0, '>= 0 (0 disables clipping)'],
  ];
  for (const [key, ok, range] of checks) {
    if (!ok || !Number.isFinite(config[key])) {
      throw new ConfigError(`AdamW ${key} must be a finite number ${range}, got ${config[key]}`);
    }
  }
}

/** Sum of squares of grads, to combine buffers into one global norm. */
export function sumOfSquares(grads: FloatArray): number {
  let sum = 0;
  for (let i = 0; i < grads.length; i++) sum += grads[i] * grads[i];
  return sum;
}

/** The factor clip_grad_norm_ multiplies gradients by: min(1, maxNorm / (norm + 1e-6)); 1 when maxNorm is 0. */
export function clipCoefficient(gradNorm: number, maxGradNorm: number): number {
  if (maxGradNorm === 0) return 1;
  return Math.min(1, maxGradNorm / (gradNorm + 1e-6));
}

/**
 * One AdamW step (step counts from 1) on params with gradients gradScale * grads; m and v are the
 * first and second moment buffers, same length as params.
 */
export function adamwUpdate(
  params: FloatArray,
  grads: FloatArray,
  m: FloatArray,
  v: FloatArray,
  step: number,
  config: AdamWConfig,
  gradScale: number,
): void {
  const { lr, beta1, beta2, eps, weightDecay } = config;
  const stepSize = lr / (1 - beta1 ** step);
  const bias2Sqrt = Math.sqrt(1 - beta2 ** step);
  for (let i = 0; i < params.length; i++) {
    const g = gradScale * grads[i];
    m[i] = beta1 * m[i] + (1 - beta1) * g;
    v[i] = beta2 * v[i] + (1 - beta2) * g * g;
    const p = params[i] * (1 - lr * weightDecay);
    params[i] = p - (stepSize * m[i]) / (Math.sqrt(v[i]) / bias2Sqrt + eps);
  }
}
