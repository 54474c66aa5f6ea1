// AdamW and global gradient-norm clipping on the GPU (kernels/adamw.wgsl), the twins of
// adamwUpdate / sumOfSquares / clipCoefficient in @prufed/model. A training step records
// globalGradNorm over every trainable gradient buffer, then adamwUpdate on each (params, grads)
// pair: the clip coefficient travels in the 2-float norm buffer, with no read-back in between.
import { type AdamWConfig, assertAdamWConfig, InputError } from '@prufed/model';
import { elementwiseGrid } from './elementwise';
import { assertCapacity, type Program } from './program';
import type { GpuRuntime } from './runtime';

const source = new URL('./kernels/adamw.wgsl', import.meta.url);
const workgroupSize = 256;
/** At most this many partial sums (invocations of the norm's first pass) per gradient buffer. */
const maxPartialsPerBuffer = 16_384;

function adamwProgram(
  entryPoint: 'grad_sum_of_squares' | 'grad_norm' | 'adamw_update',
  bindings: Program['bindings'],
  uniforms: Program['uniforms'],
  dispatch: Program['dispatch'],
): Program {
  return {
    name: entryPoint,
    source,
    entryPoint,
    bindings,
    uniforms,
    constants: { WG: workgroupSize },
    dispatch,
  };
}

const sumOfSquaresProgram = adamwProgram(
  'grad_sum_of_squares',
  [
    { name: 'grads', kind: 'read-only-storage' },
    { name: 'partials', kind: 'storage' },
  ],
  [
    { name: 'n', type: 'u32' },
    { name: 'offset', type: 'u32' },
    { name: 'count', type: 'u32' },
  ],
  ({ count }) => [Math.ceil(count / workgroupSize), 1, 1],
);
const normProgram = adamwProgram(
  'grad_norm',
  [
    { name: 'partials', kind: 'read-only-storage' },
    { name: 'norm', kind: 'storage' },
  ],
  [
    { name: 'count', type: 'u32' },
    { name: 'max_grad_norm', type: 'f32' },
  ],
  () => [1, 1, 1],
);
const updateProgram = adamwProgram(
  'adamw_update',
  [
    { name: 'grads', kind: 'read-only-storage' },
    { name: 'norm', kind: 'read-only-storage' },
    { name: 'params', kind: 'storage' },
    { name: 'm', kind: 'storage' },
    { name: 'v', kind: 'storage' },
  ],
  [
    { name: 'n', type: 'u32' },
    ...['beta1', 'beta2', 'eps', 'decay', 'step_size', 'bias2_sqrt'].map((name) => ({
      name,
      type: 'f32' as const,
    })),
  ],
  ({ n }) => elementwiseGrid(n, workgroupSize),
);

/** Partial sums a gradient buffer of n floats contributes to the norm's first pass. */
export function gradNormPartials(n: number): number {
  return Math.min(Math.max(1, n), maxPartialsPerBuffer);
}

/**
 * Records norm (2) = (global L2 norm of all grads, clip coefficient for maxGradNorm, 1 when it is 0).
 * partials needs sum over the buffers of gradNormPartials(n) floats.
 */
export async function globalGradNorm(
  rt: GpuRuntime,
  norm: GPUBuffer, // (2)
  partials: GPUBuffer, // (sum of gradNormPartials(n))
  grads: readonly { buffer: GPUBuffer; n: number }[],
  maxGradNorm: number,
): Promise<void> {
  if (grads.length === 0) throw new InputError('globalGradNorm: pass at least one gradient buffer');
  if (!(maxGradNorm >= 0 && Number.isFinite(maxGradNorm))) {
    throw new InputError(
      `globalGradNorm: maxGradNorm must be a finite number >= 0 (0 disables clipping), got ${maxGradNorm}`,
    );
  }
  const count = grads.reduce((sum, { n }) => sum + gradNormPartials(n), 0);
  assertCapacity('globalGradNorm', {
    norm: { have: norm.size / 4, need: 2 },
    partials: { have: partials.size / 4, need: count },
    ...Object.fromEntries(
      grads.map(({ buffer, n }, i) => [`grads[${i}]`, { have: buffer.size / 4, need: n }]),
    ),
  });
  let offset = 0;
  for (const { buffer, n } of grads) {
    const partialCount = gradNormPartials(n);
    await rt.dispatch(sumOfSquaresProgram, [buffer, partials], { n, offset, count: partialCount });
    offset += partialCount;
  }
  await rt.dispatch(normProgram, [partials, norm], { count, max_grad_norm: maxGradNorm });
}

/** The global gradient norm before clipping, read back from globalGradNorm's norm buffer. */
export async function readGradNorm(rt: GpuRuntime, norm: GPUBuffer): Promise<number> {
  return (await rt.read(norm, 1))[0];
}

/**
 * One AdamW step (step counts from 1) on params (n) with gradients clip * grads, clip = norm[1]
 * from globalGradNorm; m and v are the moment buffers. config.maxGradNorm is globalGradNorm's.
 */
export async function adamwUpdate(
  rt: GpuRuntime,
  params: GPUBuffer, // (n)
  grads: GPUBuffer, // (n)
  m: GPUBuffer, // (n)
  v: GPUBuffer, // (n)
  norm: GPUBuffer, // (2)
  n: number,
  step: number,
  config: AdamWConfig,
): Promise<void> {
  assertAdamWConfig(config);
  if (!Number.isSafeInteger(step) || step < 1) {
    throw new InputError(`adamwUpdate: step counts from 1, got ${step}; increment it before each update`);
  }
  assertCapacity(`adamwUpdate (n=${n})`, {
    params: { have: params.size / 4, need: n },
    grads: { have: grads.size / 4, need: n },
    m: { have: m.size / 4, need: n },
    v: { have: v.size / 4, need: n },
    norm: { have: norm.size / 4, need: 2 },
  });
  const { lr, beta1, beta2, eps, weightDecay } = config;
  await rt.dispatch(updateProgram, [grads, norm, params, m, v], {
    n,
    beta1,
    beta2,
    eps,
    decay: 1 - lr * weightDecay,
    step_size: lr / (1 - beta1 ** step),
    bias2_sqrt: Math.sqrt(1 - beta2 ** step),
  });
}
