// Matrix multiplication on the GPU, C (M, N) = op(A) op(B) with op = identity or transpose, and
// its CPU twin. Layouts used by training: C = A B, C = A B^T (x W^T with W (OUT, IN)), C = A^T B
// (weight gradients dW = dout^T x). Kernels in kernels/matmul.wgsl.
import { assertCapacity, type Program } from './program';
import type { GpuBinding, GpuRuntime } from './runtime';

/**
 * blocked: 4x4 per invocation in registers; blocked8: 8x8 per invocation in registers (vec4 shapes;
 * others run blocked); tiled: K-slices staged in workgroup memory.
 */
export type MatmulVariant = 'blocked' | 'blocked8' | 'tiled';
export const matmulVariants: readonly MatmulVariant[] = ['blocked', 'blocked8', 'tiled'];

export interface MatmulLayout {
  /** A is stored as (K, M) and read transposed. */
  transA?: boolean;
  /** B is stored as (N, K) and read transposed. */
  transB?: boolean;
  /** C += op(A) op(B) instead of C = op(A) op(B). */
  accumulate?: boolean;
  /** Scales the product: C (+)= alpha op(A) op(B). A uniform, not part of the pipeline. Default 1. */
  alpha?: number;
}

const source = new URL('./kernels/matmul.wgsl', import.meta.url);
/** Invocations per workgroup side and the side of the block of C each invocation computes. */
const workgroupSide: Record<MatmulVariant, number> = { blocked: 8, blocked8: 8, tiled: 16 };
const blockSide: Record<MatmulVariant, number> = { blocked: 4, blocked8: 8, tiled: 4 };
/** Invocations of a register-blocked workgroup fitted to a skinny C (see registerWorkgroup). */
const skinnyInvocations = 16;

function powerOfTwoAtLeast(n: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, n)));
}

/**
 * Workgroup (x, y) of a register-blocked kernel for C (M, N): 8 x 8 invocations, except where C is
 * too narrow (LoRA's x A^T has N = R columns) or too short (dA has M = R rows) to fill 8 blocks
 * along a side. Then that side shrinks to the blocks it has and the other side makes up 16
 * invocations: a square workgroup would leave most invocations idle and give the adapter's
 * threads few workgroups to share (2-4x slower on SwiftShader for R = 8).
 */
function registerWorkgroup(block: number, M: number, N: number): [number, number] {
  const side = workgroupSide.blocked;
  const x = powerOfTwoAtLeast(Math.ceil(N / block));
  const y = powerOfTwoAtLeast(Math.ceil(M / block));
  if (x >= side && y >= side) return [side, side];
  if (x >= side) return [Math.max(skinnyInvocations / y, 1), y];
  if (y >= side) return [x, Math.max(skinnyInvocations / x, 1)];
  return [x, y];
}

/** Whether every vec4 the blocked kernels would load or store is an aligned piece of one row (see the WGSL). */
export function allowsVec4(M: number, N: number, K: number, layout: MatmulLayout): boolean {
  return (layout.transA ? M : K) % 4 === 0 && (layout.transB ? K : N) % 4 === 0 && N % 4 === 0;
}

/**
 * vec4: the shapes pass allowsVec4, so blocked runs matmul_blocked_vec4; blocked8 needs it (without
 * it the program is blocked's). shape (M, N) of C fits the register-blocked kernels' workgroup to a
 * skinny C; without it they run 8 x 8 invocations.
 */
export function matmulProgram(
  requested: MatmulVariant,
  layout: MatmulLayout = {},
  vec4 = false,
  shape?: { M: number; N: number },
): Program {
  const variant = requested === 'blocked8' && !vec4 ? 'blocked' : requested;
  const block = blockSide[variant];
  const side = workgroupSide[variant];
  const [wgX, wgY] =
    variant === 'tiled' || shape === undefined ? [side, side] : registerWorkgroup(block, shape.M, shape.N);
  const entryPoint = variant === 'blocked' && vec4 ? 'matmul_blocked_vec4' : `matmul_${variant}`;
  return {
    name: entryPoint,
    source,
    entryPoint,
    bindings: [
      { name: 'a', kind: 'read-only-storage' },
      { name: 'b', kind: 'read-only-storage' },
      { name: 'c', kind: 'storage' },
    ],
    uniforms: [
      { name: 'M', type: 'u32' },
      { name: 'N', type: 'u32' },
      { name: 'K', type: 'u32' },
      { name: 'alpha', type: 'f32' },
    ],
    constants: {
      TRANS_A: layout.transA ?? false,
      TRANS_B: layout.transB ?? false,
      ACCUMULATE: layout.accumulate ?? false,
      WG_X: wgX,
      WG_Y: wgY,
    },
    dispatch: ({ M, N }) => [Math.ceil(N / (block * wgX)), Math.ceil(M / (block * wgY)), 1],
  };
}

function checkShapes(M: number, N: number, K: number, floats: { a: number; b: number; c: number }): void {
  assertCapacity(`matmul (M=${M}, N=${N}, K=${K})`, {
    a: { have: floats.a, need: M * K },
    b: { have: floats.b, need: K * N },
    c: { have: floats.c, need: M * N },
  });
}

/**
 * Records c (M, N) (+)= op(a) op(b) into the runtime's current command encoder, with the given
 * variant or the one autotuning chose for this adapter.
 */
export async function matmul(
  rt: GpuRuntime,
  c: GpuBinding, // (M, N)
  a: GpuBinding, // (M, K), or (K, M) with transA
  b: GpuBinding, // (K, N), or (N, K) with transB
  M: number,
  N: number,
  K: number,
  layout: MatmulLayout = {},
  variant: MatmulVariant = rt.matmulVariant,
): Promise<void> {
  checkShapes(M, N, K, { a: a.size / 4, b: b.size / 4, c: c.size / 4 });
  const program = matmulProgram(variant, layout, allowsVec4(M, N, K, layout), { M, N });
  await rt.dispatch(program, [a, b, c], { M, N, K, alpha: layout.alpha ?? 1 });
}

/** The CPU twin: a plain triple loop accumulating in float64. */
export function matmulReference(
  c: Float32Array, // (M, N)
  a: Float32Array, // (M, K), or (K, M) with transA
  b: Float32Array, // (K, N), or (N, K) with transB
  M: number,
  N: number,
  K: number,
  layout: MatmulLayout = {},
): void {
  checkShapes(M, N, K, { a: a.length, b: b.length, c: c.length });
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let sum = 0;
      for (let k = 0; k < K; k++) {
        const av = layout.transA ? a[k * M + m] : a[m * K + k];
        const bv = layout.transB ? b[n * K + k] : b[k * N + n];
        sum += av * bv;
      }
      sum *= layout.alpha ?? 1;
      c[m * N + n] = layout.accumulate ? c[m * N + n] + sum : sum;
    }
  }
}
