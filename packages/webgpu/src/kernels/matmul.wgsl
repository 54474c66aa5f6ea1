// Matrix multiplication C (M, N) = A (M, K) B (K, N), row-major f32, in the layouts the backward
// passes need: TRANS_A reads A stored as (K, M) (C = A^T B, weight gradients), TRANS_B reads B
// stored as (N, K) (C = A B^T, linear layers with PyTorch's (OUT, IN) weights). ACCUMULATE adds
// into C, as every backward does; alpha (a uniform) scales the product. M, N, K are arbitrary (uniforms); each invocation computes a
// 4x4 block of C, so a workgroup covers a (4 WG_Y, 4 WG_X) tile.
// Entry points with the same bindings: matmul_blocked keeps everything in registers (best on
// software adapters such as SwiftShader), matmul_blocked_vec4 is the same with vec4 loads and
// stores for shapes that allow them, matmul_blocked8 computes 8x8 blocks, matmul_tiled stages
// K-slices of A and B in workgroup memory (best on real GPUs). autotune.ts picks one per adapter;
// matmul.ts fits the register-blocked kernels' workgroup to a skinny C (LoRA's rank-R products).

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override ACCUMULATE: bool = false;
override WG_X: u32 = 8;
override WG_Y: u32 = 8;

struct Uniforms {
  M: u32,
  N: u32,
  K: u32,
  alpha: f32,
}

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> a: array<f32>; // (M, K), or (K, M) with TRANS_A
@group(0) @binding(2) var<storage, read> b: array<f32>; // (K, N), or (N, K) with TRANS_B
@group(0) @binding(3) var<storage, read_write> c: array<f32>; // (M, N)
// The same buffers seen as vec4 rows, for matmul_blocked_vec4 and matmul_blocked8 only.
@group(0) @binding(1) var<storage, read> a4: array<vec4f>;
@group(0) @binding(2) var<storage, read> b4: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> c4: array<vec4f>;

fn load_a(m: u32, k: u32) -> f32 {
  if (TRANS_A) {
    return a[k * u.M + m];
  }
  return a[m * u.K + k];
}

fn load_b(k: u32, n: u32) -> f32 {
  if (TRANS_B) {
    return b[n * u.K + k];
  }
  return b[k * u.N + n];
}

// Writes the 4x4 block at (row0, col0), skipping the parts outside C.
fn store_block(row0: u32, col0: u32, acc: array<vec4f, 4>) {
  for (var i = 0u; i < 4u; i++) {
    let m = row0 + i;
    for (var j = 0u; j < 4u; j++) {
      let n = col0 + j;
      if (m < u.M && n < u.N) {
        let index = m * u.N + n;
        if (ACCUMULATE) {
          c[index] += u.alpha * acc[i][j];
        } else {
          c[index] = u.alpha * acc[i][j];
        }
      }
    }
  }
}

@compute @workgroup_size(WG_X, WG_Y)
fn matmul_blocked(@builtin(global_invocation_id) gid: vec3u) {
  let row0 = gid.y * 4u;
  let col0 = gid.x * 4u;
  if (row0 >= u.M || col0 >= u.N) {
    return;
  }
  // Rows and columns past the edge are clamped so every load stays in bounds; store_block drops them.
  let rows = min(vec4u(row0) + vec4u(0u, 1u, 2u, 3u), vec4u(u.M - 1u));
  let cols = min(vec4u(col0) + vec4u(0u, 1u, 2u, 3u), vec4u(u.N - 1u));
  var acc: array<vec4f, 4>;
  for (var k = 0u; k < u.K; k++) {
    let bk = vec4f(load_b(k, cols.x), load_b(k, cols.y), load_b(k, cols.z), load_b(k, cols.w));
    acc[0] += load_a(rows.x, k) * bk;
    acc[1] += load_a(rows.y, k) * bk;
    acc[2] += load_a(rows.z, k) * bk;
    acc[3] += load_a(rows.w, k) * bk;
  }
  store_block(row0, col0, acc);
}

// Needs 4 | K where A is read along k (A as stored) or B is (TRANS_B), 4 | M with TRANS_A and
// 4 | N, so that every vec4 loaded or stored is one aligned row piece. K itself may have a tail.
@compute @workgroup_size(WG_X, WG_Y)
fn matmul_blocked_vec4(@builtin(global_invocation_id) gid: vec3u) {
  let row0 = gid.y * 4u;
  let col0 = gid.x * 4u;
  if (row0 >= u.M || col0 >= u.N) {
    return;
  }
  let rows = min(vec4u(row0) + vec4u(0u, 1u, 2u, 3u), vec4u(u.M - 1u));
  let cols = min(vec4u(col0) + vec4u(0u, 1u, 2u, 3u), vec4u(u.N - 1u));
  var acc: array<vec4f, 4>;
  let k4 = u.K & ~3u;
  for (var k = 0u; k < k4; k += 4u) {
    // Columns j of bk: B[k + j, col0 .. col0 + 3]. Columns i of ak: A[row0 + i, k .. k + 3].
    var bk: mat4x4f;
    if (TRANS_B) {
      let K4 = u.K / 4u;
      let kq = k / 4u;
      bk = transpose(mat4x4f(b4[cols.x * K4 + kq], b4[cols.y * K4 + kq], b4[cols.z * K4 + kq], b4[cols.w * K4 + kq]));
    } else {
      let N4 = u.N / 4u;
      let nq = col0 / 4u;
      bk = mat4x4f(b4[k * N4 + nq], b4[(k + 1u) * N4 + nq], b4[(k + 2u) * N4 + nq], b4[(k + 3u) * N4 + nq]);
    }
    var ak: mat4x4f;
    if (TRANS_A) {
      let M4 = u.M / 4u;
      let mq = row0 / 4u;
      ak = transpose(mat4x4f(a4[k * M4 + mq], a4[(k + 1u) * M4 + mq], a4[(k + 2u) * M4 + mq], a4[(k + 3u) * M4 + mq]));
    } else {
      let K4 = u.K / 4u;
      let kq = k / 4u;
      ak = mat4x4f(a4[rows.x * K4 + kq], a4[rows.y * K4 + kq], a4[rows.z * K4 + kq], a4[rows.w * K4 + kq]);
    }
    acc[0] += bk * ak[0];
    acc[1] += bk * ak[1];
    acc[2] += bk * ak[2];
    acc[3] += bk * ak[3];
  }
  for (var k = k4; k < u.K; k++) {
    let bk = vec4f(load_b4(k, cols.x), load_b4(k, cols.y), load_b4(k, cols.z), load_b4(k, cols.w));
    acc[0] += load_a4(rows.x, k) * bk;
    acc[1] += load_a4(rows.y, k) * bk;
    acc[2] += load_a4(rows.z, k) * bk;
    acc[3] += load_a4(rows.w, k) * bk;
  }
  store_row4(row0, col0, acc[0]);
  store_row4(row0 + 1u, col0, acc[1]);
  store_row4(row0 + 2u, col0, acc[2]);
  store_row4(row0 + 3u, col0, acc[3]);
}

// load_a and load_b through the vec4 view (an entry point may use only one view of a binding).
fn load_a4(m: u32, k: u32) -> f32 {
  var i = m * u.K + k;
  if (TRANS_A) {
    i = k * u.M + m;
  }
  return a4[i / 4u][i % 4u];
}

fn load_b4(k: u32, n: u32) -> f32 {
  var i = k * u.N + n;
  if (TRANS_B) {
    i = n * u.K + k;
  }
  return b4[i / 4u][i % 4u];
}

// An 8x8 block of C per invocation, vec4 loads and stores only (the shapes must pass allowsVec4):
// per 4-step of k it loads 16 vec4s for 256 multiply-adds, twice matmul_blocked_vec4's ratio,
// which is what counts on software adapters, where every load is a per-invocation gather. A's and
// B's blocks are held as 4x4 matrices so that each row of C is two matrix-vector products per
// 4-step. Everything is indexed with constants: software adapters keep a dynamically indexed
// local array in memory.
@compute @workgroup_size(WG_X, WG_Y)
fn matmul_blocked8(@builtin(global_invocation_id) gid: vec3u) {
  let row0 = gid.y * 8u;
  let col0 = gid.x * 8u;
  if (row0 >= u.M || col0 >= u.N) {
    return;
  }
  // Rows, columns and quads past the edge are clamped so every load stays in bounds; stores drop them.
  let r_lo = min(vec4u(row0) + vec4u(0u, 1u, 2u, 3u), vec4u(u.M - 1u));
  let r_hi = min(vec4u(row0) + vec4u(4u, 5u, 6u, 7u), vec4u(u.M - 1u));
  let c_lo = min(vec4u(col0) + vec4u(0u, 1u, 2u, 3u), vec4u(u.N - 1u));
  let c_hi = min(vec4u(col0) + vec4u(4u, 5u, 6u, 7u), vec4u(u.N - 1u));
  let M4 = u.M / 4u;
  let N4 = u.N / 4u;
  let K4 = u.K / 4u;
  let rq = vec2u(row0 / 4u, min(row0 / 4u + 1u, max(M4, 1u) - 1u)); // row quads, TRANS_A only
  let cq = vec2u(col0 / 4u, min(col0 / 4u + 1u, max(N4, 1u) - 1u)); // column quads, without TRANS_B
  // acc_i_lo: C[row0 + i, col0 .. col0 + 3]; acc_i_hi: C[row0 + i, col0 + 4 .. col0 + 7].
  var acc_0_lo = vec4f(0.0);
  var acc_0_hi = vec4f(0.0);
  var acc_1_lo = vec4f(0.0);
  var acc_1_hi = vec4f(0.0);
  var acc_2_lo = vec4f(0.0);
  var acc_2_hi = vec4f(0.0);
  var acc_3_lo = vec4f(0.0);
  var acc_3_hi = vec4f(0.0);
  var acc_4_lo = vec4f(0.0);
  var acc_4_hi = vec4f(0.0);
  var acc_5_lo = vec4f(0.0);
  var acc_5_hi = vec4f(0.0);
  var acc_6_lo = vec4f(0.0);
  var acc_6_hi = vec4f(0.0);
  var acc_7_lo = vec4f(0.0);
  var acc_7_hi = vec4f(0.0);
  let k4 = u.K & ~3u;
  for (var k = 0u; k < k4; k += 4u) {
    // b_lo column kk: B[k + kk, col0 .. col0 + 3]; b_hi the same for col0 + 4 .. col0 + 7.
    var b_lo: mat4x4f;
    var b_hi: mat4x4f;
    if (TRANS_B) {
      let kq = k / 4u;
      b_lo = transpose(mat4x4f(b4[c_lo.x * K4 + kq], b4[c_lo.y * K4 + kq], b4[c_lo.z * K4 + kq], b4[c_lo.w * K4 + kq]));
      b_hi = transpose(mat4x4f(b4[c_hi.x * K4 + kq], b4[c_hi.y * K4 + kq], b4[c_hi.z * K4 + kq], b4[c_hi.w * K4 + kq]));
    } else {
      b_lo = mat4x4f(b4[k * N4 + cq.x], b4[(k + 1u) * N4 + cq.x], b4[(k + 2u) * N4 + cq.x], b4[(k + 3u) * N4 + cq.x]);
      b_hi = mat4x4f(b4[k * N4 + cq.y], b4[(k + 1u) * N4 + cq.y], b4[(k + 2u) * N4 + cq.y], b4[(k + 3u) * N4 + cq.y]);
    }
    // a_lo column i: A[row0 + i, k .. k + 3]; a_hi the same for row0 + 4 + i.
    var a_lo: mat4x4f;
    var a_hi: mat4x4f;
    if (TRANS_A) {
      a_lo = transpose(mat4x4f(a4[k * M4 + rq.x], a4[(k + 1u) * M4 + rq.x], a4[(k + 2u) * M4 + rq.x], a4[(k + 3u) * M4 + rq.x]));
      a_hi = transpose(mat4x4f(a4[k * M4 + rq.y], a4[(k + 1u) * M4 + rq.y], a4[(k + 2u) * M4 + rq.y], a4[(k + 3u) * M4 + rq.y]));
    } else {
      let kq = k / 4u;
      a_lo = mat4x4f(a4[r_lo.x * K4 + kq], a4[r_lo.y * K4 + kq], a4[r_lo.z * K4 + kq], a4[r_lo.w * K4 + kq]);
      a_hi = mat4x4f(a4[r_hi.x * K4 + kq], a4[r_hi.y * K4 + kq], a4[r_hi.z * K4 + kq], a4[r_hi.w * K4 + kq]);
    }
    acc_0_lo += b_lo * a_lo[0];
    acc_0_hi += b_hi * a_lo[0];
    acc_1_lo += b_lo * a_lo[1];
    acc_1_hi += b_hi * a_lo[1];
    acc_2_lo += b_lo * a_lo[2];
    acc_2_hi += b_hi * a_lo[2];
    acc_3_lo += b_lo * a_lo[3];
    acc_3_hi += b_hi * a_lo[3];
    acc_4_lo += b_lo * a_hi[0];
    acc_4_hi += b_hi * a_hi[0];
    acc_5_lo += b_lo * a_hi[1];
    acc_5_hi += b_hi * a_hi[1];
    acc_6_lo += b_lo * a_hi[2];
    acc_6_hi += b_hi * a_hi[2];
    acc_7_lo += b_lo * a_hi[3];
    acc_7_hi += b_hi * a_hi[3];
  }
  for (var k = k4; k < u.K; k++) {
    let b_lo = vec4f(load_b4(k, c_lo.x), load_b4(k, c_lo.y), load_b4(k, c_lo.z), load_b4(k, c_lo.w));
    let b_hi = vec4f(load_b4(k, c_hi.x), load_b4(k, c_hi.y), load_b4(k, c_hi.z), load_b4(k, c_hi.w));
    let a_lo = vec4f(load_a4(r_lo.x, k), load_a4(r_lo.y, k), load_a4(r_lo.z, k), load_a4(r_lo.w, k));
    let a_hi = vec4f(load_a4(r_hi.x, k), load_a4(r_hi.y, k), load_a4(r_hi.z, k), load_a4(r_hi.w, k));
    acc_0_lo += a_lo.x * b_lo;
    acc_0_hi += a_lo.x * b_hi;
    acc_1_lo += a_lo.y * b_lo;
    acc_1_hi += a_lo.y * b_hi;
    acc_2_lo += a_lo.z * b_lo;
    acc_2_hi += a_lo.z * b_hi;
    acc_3_lo += a_lo.w * b_lo;
    acc_3_hi += a_lo.w * b_hi;
    acc_4_lo += a_hi.x * b_lo;
    acc_4_hi += a_hi.x * b_hi;
    acc_5_lo += a_hi.y * b_lo;
    acc_5_hi += a_hi.y * b_hi;
    acc_6_lo += a_hi.z * b_lo;
    acc_6_hi += a_hi.z * b_hi;
    acc_7_lo += a_hi.w * b_lo;
    acc_7_hi += a_hi.w * b_hi;
  }
  store_row4(row0 + 0u, col0, acc_0_lo);
  store_row4(row0 + 0u, col0 + 4u, acc_0_hi);
  store_row4(row0 + 1u, col0, acc_1_lo);
  store_row4(row0 + 1u, col0 + 4u, acc_1_hi);
  store_row4(row0 + 2u, col0, acc_2_lo);
  store_row4(row0 + 2u, col0 + 4u, acc_2_hi);
  store_row4(row0 + 3u, col0, acc_3_lo);
  store_row4(row0 + 3u, col0 + 4u, acc_3_hi);
  store_row4(row0 + 4u, col0, acc_4_lo);
  store_row4(row0 + 4u, col0 + 4u, acc_4_hi);
  store_row4(row0 + 5u, col0, acc_5_lo);
  store_row4(row0 + 5u, col0 + 4u, acc_5_hi);
  store_row4(row0 + 6u, col0, acc_6_lo);
  store_row4(row0 + 6u, col0 + 4u, acc_6_hi);
  store_row4(row0 + 7u, col0, acc_7_lo);
  store_row4(row0 + 7u, col0 + 4u, acc_7_hi);
}

// Writes row piece C[m, col0 .. col0 + 3] as one vec4 (4 | N, 4 | col0), skipping it outside C.
fn store_row4(m: u32, col0: u32, value: vec4f) {
  if (m >= u.M || col0 >= u.N) {
    return;
  }
  let index = (m * u.N + col0) / 4u;
  if (ACCUMULATE) {
    c4[index] += u.alpha * value;
  } else {
    c4[index] = u.alpha * value;
  }
}

const TILE_K = 16u;
override TILE_M: u32 = 4u * WG_Y;
override TILE_N: u32 = 4u * WG_X;
var<workgroup> tile_a: array<f32, TILE_K * TILE_M>; // (TILE_K, TILE_M): A's K-slice, transposed
var<workgroup> tile_b: array<f32, TILE_K * TILE_N>; // (TILE_K, TILE_N): B's K-slice

@compute @workgroup_size(WG_X, WG_Y)
fn matmul_tiled(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(local_invocation_index) li: u32,
) {
  let tile_row = wid.y * TILE_M;
  let tile_col = wid.x * TILE_N;
  let threads = WG_X * WG_Y;
  var acc: array<vec4f, 4>;
  for (var k0 = 0u; k0 < u.K; k0 += TILE_K) {
    // Consecutive invocations read consecutive addresses of A and B, whatever the layout.
    for (var i = li; i < TILE_K * TILE_M; i += threads) {
      var kk = i % TILE_K;
      var mm = i / TILE_K;
      if (TRANS_A) {
        kk = i / TILE_M;
        mm = i % TILE_M;
      }
      let m = tile_row + mm;
      let k = k0 + kk;
      var value = 0.0;
      if (m < u.M && k < u.K) {
        value = load_a(m, k);
      }
      tile_a[kk * TILE_M + mm] = value;
    }
    for (var i = li; i < TILE_K * TILE_N; i += threads) {
      var kk = i / TILE_N;
      var nn = i % TILE_N;
      if (TRANS_B) {
        kk = i % TILE_K;
        nn = i / TILE_K;
      }
      let n = tile_col + nn;
      let k = k0 + kk;
      var value = 0.0;
      if (n < u.N && k < u.K) {
        value = load_b(k, n);
      }
      tile_b[kk * TILE_N + nn] = value;
    }
    workgroupBarrier();
    let a0 = lid.y * 4u;
    let b0 = lid.x * 4u;
    for (var kk = 0u; kk < TILE_K; kk++) {
      let ak = kk * TILE_M + a0;
      let bk = kk * TILE_N + b0;
      let bv = vec4f(tile_b[bk], tile_b[bk + 1u], tile_b[bk + 2u], tile_b[bk + 3u]);
      acc[0] += tile_a[ak] * bv;
      acc[1] += tile_a[ak + 1u] * bv;
      acc[2] += tile_a[ak + 2u] * bv;
      acc[3] += tile_a[ak + 3u] * bv;
    }
    workgroupBarrier();
  }
  store_block(tile_row + lid.y * 4u, tile_col + lid.x * 4u, acc);
}
