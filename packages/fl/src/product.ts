// HeteAgg over products (beyond the paper): averaging A and B separately does not average the
// clients' changes to the model, because mean(B) mean(A) != mean(B A). This strategy averages the
// products per original layer l and module m over the clients holding l, then factors the mean back
// to rank R with a truncated SVD, aligned with the mean A so that the result is exactly HeteAgg's
// when every client sends the same A:
//   dW = sum_k n_k B_k A_k / sum_k n_k                      (out, in)
//   dW ~ U S V^T                                           top R singular triplets (subspace iteration)
//   G = Amean V                                            (R, R) the mean A in dW's row space
//   A' = G V^T,  B' = U S G^+                              so B' A' = U S V^T
// With a common A and a full-rank mean B, V spans A's rows, so A' = A and B' = mean B. G^+ is a
// Tikhonov-damped inverse, so a G that is nearly singular (the mean A almost orthogonal to dW's
// row space) gives a finite B'. Layers nobody trained keep their previous value, as in HeteAgg.
// Memory: one dense (out, in) float64 sum per adapted matrix, independent of the number of clients.
// Dimension letters: R LoRA rank, K = R + oversampling columns of the subspace iteration.
import { type LoraAdapter, loraKey, Rng } from '@prufed/model';
import { heteAgg, type RoundAggregation, type StrategyOptions, type StreamingStrategy } from './strategy';
import type { AggregateOutput, FitResult } from './types';

/** Extra columns and power iterations of the randomized subspace iteration. */
const oversampling = 8;
const powerIterations = 6;
/** G's singular values below this fraction of its largest are damped rather than inverted. */
const damping = 1e-6;

/** A dense row-major matrix. */
interface Matrix {
  rows: number;
  cols: number;
  data: Float64Array; // (rows, cols)
}

export interface TruncatedSvd {
  /** Left singular vectors, one Float64Array (rows) per column, by decreasing singular value. */
  u: Float64Array[];
  s: number[];
  /** Right singular vectors, one Float64Array (cols) per column. */
  v: Float64Array[];
}

export function heteAggProduct(options: StrategyOptions): StreamingStrategy {
  const inner = heteAgg(options);
  const strategy: StreamingStrategy = {
    ...inner,
    name: 'heteagg-product',
    openRound(round: number, previousGlobal: LoraAdapter): RoundAggregation {
      const aggregation = inner.openRound(round, previousGlobal);
      const sums = new Map<string, Matrix>(); // sum_k n_k B_k A_k per (layer, module)
      return {
        addResult(result: FitResult): void {
          aggregation.addResult(result); // validates first: a bad update throws before we add it
          for (const [key, { A, B }] of result.adapter.weights) {
            const [out, R] = B.shape;
            const inFeatures = A.shape[1];
            let sum = sums.get(key);
            if (!sum) {
              sum = { rows: out, cols: inFeatures, data: new Float64Array(out * inFeatures) };
              sums.set(key, sum);
            }
            addProduct(sum, B.data, A.data, R, result.numSamples);
          }
        },
        addFailure: (failure) => aggregation.addFailure(failure),
        finish(): AggregateOutput | null {
          const output = aggregation.finish();
          if (!output) return null;
          const { global, metrics } = output;
          for (const { layer, clients, weight } of metrics.coverage) {
            if (clients === 0) continue;
            for (const module of global.config.targetModules) {
              const key = loraKey(layer, module);
              const pair = global.weights.get(key)!; // A, B: HeteAgg's means
              const sum = sums.get(key)!;
              const meanProduct = { ...sum, data: sum.data.map((x) => x / weight) };
              const factors = refactor(meanProduct, pair.A.data, global.config.r, new Rng(round).fork(key));
              pair.A.data.set(factors.A);
              pair.B.data.set(factors.B);
            }
          }
          return output;
        },
      };
    },
    aggregate(round, results, failures, previousGlobal) {
      const aggregation = strategy.openRound(round, previousGlobal);
      for (const result of results) aggregation.addResult(result);
      for (const failure of failures) aggregation.addFailure(failure);
      return aggregation.finish();
    },
  };
  return strategy;
}

/** sum += n B A, with B (out, R) and A (R, in) row-major. */
function addProduct(sum: Matrix, B: Float32Array, A: Float32Array, R: number, n: number): void {
  const { rows: out, cols: inFeatures, data } = sum;
  for (let o = 0; o < out; o++) {
    const row = o * inFeatures;
    for (let r = 0; r < R; r++) {
      const b = n * B[o * R + r];
      if (b === 0) continue;
      const a = r * inFeatures;
      for (let i = 0; i < inFeatures; i++) data[row + i] += b * A[a + i];
    }
  }
}

/**
 * Factors dW (out, in) to rank R as B' (out, R) A' (R, in) with A' the projection of `meanA`
 * (R, in) onto dW's top-R row space (see the header).
 */
export function refactor(
  dW: Matrix,
  meanA: ArrayLike<number>,
  R: number,
  rng: Rng,
): { A: Float32Array; B: Float32Array } {
  const { rows: out, cols: inFeatures } = dW;
  const { u, s, v } = truncatedSvd(dW, R, rng);
  const k = s.length; // min(R, out, in)
  // G = meanA V: (R, k)
  const G: Matrix = { rows: R, cols: k, data: new Float64Array(R * k) };
  for (let r = 0; r < R; r++) {
    for (let j = 0; j < k; j++) {
      let dot = 0;
      for (let i = 0; i < inFeatures; i++) dot += meanA[r * inFeatures + i] * v[j][i];
      G.data[r * k + j] = dot;
    }
  }
  // A' = G V^T: (R, in)
  const A = new Float32Array(R * inFeatures);
  for (let r = 0; r < R; r++) {
    for (let i = 0; i < inFeatures; i++) {
      let dot = 0;
      for (let j = 0; j < k; j++) dot += G.data[r * k + j] * v[j][i];
      A[r * inFeatures + i] = dot;
    }
  }
  // B' = U S G^+: (out, R), with G^+ (k, R)
  const Gplus = dampedPseudoInverse(G);
  const B = new Float32Array(out * R);
  for (let o = 0; o < out; o++) {
    for (let r = 0; r < R; r++) {
      let dot = 0;
      for (let j = 0; j < k; j++) dot += u[j][o] * s[j] * Gplus.data[j * R + r];
      B[o * R + r] = dot;
    }
  }
  return { A, B };
}

/**
 * The top `rank` singular triplets of M by randomized subspace iteration (Halko, Martinsson, Tropp
 * 2011, Alg. 4.4) with a seeded start, then the exact SVD of the small projected matrix. Exact
 * (to rounding) when M's rank is at most rank + oversampling.
 */
export function truncatedSvd(M: Matrix, rank: number, rng: Rng): TruncatedSvd {
  const { rows, cols } = M;
  const K = Math.min(rank + oversampling, rows, cols);
  let omega: Float64Array[] = Array.from({ length: K }, () =>
    Float64Array.from({ length: cols }, () => rng.normal()),
  );
  let Q = orthonormalize(
    omega.map((x) => multiply(M, x)),
    rng,
  );
  for (let iteration = 0; iteration < powerIterations; iteration++) {
    omega = orthonormalize(
      Q.map((q) => multiplyTransposed(M, q)),
      rng,
    );
    Q = orthonormalize(
      omega.map((x) => multiply(M, x)),
      rng,
    );
  }
  // M ~ Q T with T = Q^T M (K, cols); T^T = X (cols, K) = W S Z^T by one-sided Jacobi, so
  // M ~ (Q Z) S W^T.
  const X = Q.map((q) => multiplyTransposed(M, q)); // columns of T^T
  const { columns, singular, rotation } = oneSidedJacobi(X);
  const order = singular.map((_, j) => j).sort((x, y) => singular[y] - singular[x]);
  const keep = order.slice(0, Math.min(rank, K));
  const u = keep.map((j) => {
    const column = new Float64Array(rows);
    for (let c = 0; c < K; c++) {
      const z = rotation[j][c];
      for (let i = 0; i < rows; i++) column[i] += Q[c][i] * z;
    }
    return column;
  });
  return { u, s: keep.map((j) => singular[j]), v: keep.map((j) => columns[j]) };
}

/** M x for a column x (M.cols). */
function multiply(M: Matrix, x: Float64Array): Float64Array {
  const y = new Float64Array(M.rows);
  for (let o = 0; o < M.rows; o++) {
    let dot = 0;
    const row = o * M.cols;
    for (let i = 0; i < M.cols; i++) dot += M.data[row + i] * x[i];
    y[o] = dot;
  }
  return y;
}

/** M^T y for a column y (M.rows). */
function multiplyTransposed(M: Matrix, y: Float64Array): Float64Array {
  const x = new Float64Array(M.cols);
  for (let o = 0; o < M.rows; o++) {
    const value = y[o];
    if (value === 0) continue;
    const row = o * M.cols;
    for (let i = 0; i < M.cols; i++) x[i] += M.data[row + i] * value;
  }
  return x;
}

/**
 * Orthonormal columns spanning the given ones (modified Gram-Schmidt, twice for stability); a
 * column that falls in the span of the previous ones is replaced by a random direction, so the
 * basis stays complete when M's rank is low.
 */
function orthonormalize(columns: Float64Array[], rng: Rng): Float64Array[] {
  const basis: Float64Array[] = [];
  for (const column of columns) {
    const scale = Math.sqrt(dot(column, column));
    let x = column;
    for (let attempt = 0; ; attempt++) {
      for (let pass = 0; pass < 2; pass++) {
        for (const q of basis) {
          const projection = dot(q, x);
          for (let i = 0; i < x.length; i++) x[i] -= projection * q[i];
        }
      }
      const norm = Math.sqrt(dot(x, x));
      if (norm > 1e-10 * Math.max(scale, 1e-300) && norm > 0) {
        basis.push(x.map((value) => value / norm));
        break;
      }
      if (attempt > 3) throw new Error('orthonormalize: cannot complete the basis'); // only with K > length
      x = Float64Array.from({ length: column.length }, () => rng.normal());
    }
  }
  return basis;
}

function dot(x: Float64Array, y: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += x[i] * y[i];
  return sum;
}

/**
 * One-sided Jacobi (Hestenes) on X given by its K columns: rotates column pairs until they are
 * orthogonal, so X Z = W S with Z (K, K) orthogonal. Returns W's columns (unit norm, zero where
 * S is zero), S, and Z by columns (rotation[j] is column j of Z).
 */
function oneSidedJacobi(X: Float64Array[]): {
  columns: Float64Array[];
  singular: number[];
  rotation: Float64Array[];
} {
  const K = X.length;
  const columns = X.map((x) => x.slice());
  const rotation = Array.from({ length: K }, (_, j) => {
    const z = new Float64Array(K);
    z[j] = 1;
    return z;
  });
  const rotate = (x: Float64Array, y: Float64Array, c: number, s: number) => {
    for (let i = 0; i < x.length; i++) {
      const a = x[i];
      const b = y[i];
      x[i] = c * a - s * b;
      y[i] = s * a + c * b;
    }
  };
  for (let sweep = 0; sweep < 60; sweep++) {
    let rotated = false;
    for (let p = 0; p < K - 1; p++) {
      for (let q = p + 1; q < K; q++) {
        const alpha = dot(columns[p], columns[p]);
        const beta = dot(columns[q], columns[q]);
        const gamma = dot(columns[p], columns[q]);
        if (Math.abs(gamma) <= 1e-15 * Math.sqrt(alpha * beta) || gamma === 0) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        rotate(columns[p], columns[q], c, c * t);
        rotate(rotation[p], rotation[q], c, c * t);
      }
    }
    if (!rotated) break;
  }
  const singular = columns.map((x) => Math.sqrt(dot(x, x)));
  columns.forEach((x, j) => {
    if (singular[j] > 0) for (let i = 0; i < x.length; i++) x[i] /= singular[j];
  });
  return { columns, singular, rotation };
}

/** G^+ (G.cols, G.rows) with each singular value sigma inverted as sigma / (sigma^2 + lambda^2). */
function dampedPseudoInverse(G: Matrix): Matrix {
  const { rows, cols } = G;
  // G^T by columns: column r of G^T is row r of G. G^T Z = W S  =>  G = Z S W^T, G^+ = W S^+ Z^T.
  const rowsOfG = Array.from({ length: rows }, (_, r) => G.data.slice(r * cols, (r + 1) * cols));
  const { columns: W, singular, rotation: Z } = oneSidedJacobi(rowsOfG);
  const lambda = damping * Math.max(0, ...singular);
  const out: Matrix = { rows: cols, cols: rows, data: new Float64Array(cols * rows) };
  singular.forEach((sigma, j) => {
    if (sigma === 0) return;
    const inverse = sigma / (sigma * sigma + lambda * lambda);
    for (let c = 0; c < cols; c++) {
      for (let r = 0; r < rows; r++) out.data[c * rows + r] += W[j][c] * inverse * Z[j][r];
    }
  });
  return out;
}
