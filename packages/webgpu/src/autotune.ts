// Picks the fastest matmul kernel for this adapter by timing every variant on a representative
// shape, and remembers the winner per adapter (adapter key: vendor|architecture|device|description). Software
// adapters (SwiftShader) favour the register-blocked kernel, real GPUs the workgroup-tiled one.
import { type MatmulLayout, type MatmulVariant, matmul, matmulVariants } from './matmul';
import type { GpuRuntime } from './runtime';

/** Where winners are remembered, e.g. a Map (default, per process) or a localStorage wrapper. */
export interface AutotuneStore {
  get(key: string): string | null | undefined;
  set(key: string, value: string): void;
}

export interface AutotuneOptions {
  store?: AutotuneStore;
  /** Shape timed: rows, columns, inner size. Default a (256, 256) x (256, 256) product. */
  shape?: { M: number; N: number; K: number };
  /** Timed rounds; each times every variant once (after a warm-up run) and the best round counts. Default 5. */
  repetitions?: number;
}

export interface AutotuneResult {
  variant: MatmulVariant;
  /** Milliseconds per matmul in the variant's best round; empty when the winner came from the store. */
  timings: Partial<Record<MatmulVariant, number>>;
  fromStore: boolean;
}

const processStore = new Map<string, string>();

function isVariant(value: string | null | undefined): value is MatmulVariant {
  return matmulVariants.includes(value as MatmulVariant);
}

/** Milliseconds per call of one variant (the GPU's queue must be idle before). */
export async function timeMatmul(
  rt: GpuRuntime,
  variant: MatmulVariant,
  shape: { M: number; N: number; K: number },
  repetitions: number,
  layout: MatmulLayout = {},
): Promise<number> {
  const { M, N, K } = shape;
  // Timing does not depend on the values: any small numbers do.
  const values = (n: number) => Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  const a = rt.upload('autotune/a', values(M * K)); // (M, K) or (K, M)
  const b = rt.upload('autotune/b', values(K * N)); // (K, N) or (N, K)
  const c = rt.arena.buffer('autotune/c', M * N * 4); // (M, N)
  await matmul(rt, c, a, b, M, N, K, layout, variant);
  await rt.finish();
  const start = performance.now();
  for (let i = 0; i < repetitions; i++) await matmul(rt, c, a, b, M, N, K, layout, variant);
  await rt.finish();
  return (performance.now() - start) / repetitions;
}

/** Sets rt.matmulVariant to the faster kernel on this adapter and returns the measurements. */
export async function autotuneMatmul(rt: GpuRuntime, options: AutotuneOptions = {}): Promise<AutotuneResult> {
  const store = options.store ?? processStore;
  const key = `prufed/matmul-variant/${rt.ctx.adapterKey}`;
  const remembered = store.get(key);
  if (isVariant(remembered)) {
    rt.matmulVariant = remembered;
    return { variant: remembered, timings: {}, fromStore: true };
  }
  const shape = options.shape ?? { M: 256, N: 256, K: 256 };
  // Rounds interleave the variants and the best round counts: on a shared machine a burst of load
  // then slows one round of every variant alike, instead of making a slower variant win.
  const timings: Partial<Record<MatmulVariant, number>> = {};
  for (let round = 0; round < (options.repetitions ?? 5); round++) {
    for (const variant of matmulVariants) {
      timings[variant] = Math.min(timings[variant] ?? Infinity, await timeMatmul(rt, variant, shape, 1));
    }
  }
  const best = matmulVariants.reduce((a, b) => (timings[b]! < timings[a]! ? b : a));
  for (const name of ['a', 'b', 'c']) rt.arena.release(`autotune/${name}`);
  store.set(key, best);
  rt.matmulVariant = best;
  return { variant: best, timings, fromStore: false };
}
