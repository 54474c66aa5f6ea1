// RMSNorm as in LLaMA over the last dimension C of N = B * T rows:
// out = inp * rstd * weight with rstd = 1 / sqrt(mean(inp^2) + eps), and its backward, which
// accumulates like the CPU twin (packages/model/src/cpu/rmsnorm.ts). One invocation per row. The
// weight gradient sums over rows, so it is a separate entry point with one invocation per column
// (only needed when the norm weights train); with ACCUMULATE false it writes dweight instead of adding.

override WG: u32 = 64;
override ACCUMULATE: bool = true;

struct Uniforms {
  N: u32,
  C: u32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> inp: array<f32>; // (N, C)
@group(0) @binding(2) var<storage, read> weight: array<f32>; // (C)
// rmsnorm_forward
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // (N, C)
@group(0) @binding(4) var<storage, read_write> rstd: array<f32>; // (N)
// rmsnorm_backward and rmsnorm_backward_weight
@group(0) @binding(3) var<storage, read> dout: array<f32>; // (N, C)
@group(0) @binding(4) var<storage, read> rstd_saved: array<f32>; // (N)
@group(0) @binding(5) var<storage, read_write> dinp: array<f32>; // (N, C)
@group(0) @binding(5) var<storage, read_write> dweight: array<f32>; // (C)

// Invocation n owns row n: the row sums run serially in registers, as in the CPU twin (workgroup
// reductions with barriers cost software adapters far more than the 2 C loads per row).
@compute @workgroup_size(WG)
fn rmsnorm_forward(@builtin(global_invocation_id) gid: vec3u) {
  let n = gid.x;
  if (n >= u.N) {
    return;
  }
  let x = n * u.C;
  var sum_sq = 0.0;
  for (var c = 0u; c < u.C; c++) {
    sum_sq += inp[x + c] * inp[x + c];
  }
  let r = inverseSqrt(sum_sq / f32(u.C) + u.eps);
  rstd[n] = r;
  for (var c = 0u; c < u.C; c++) {
    out[x + c] = inp[x + c] * r * weight[c];
  }
}

// dinp += rstd * g - rstd^3 / C * inp * sum(g * inp), with g = dout * weight.
@compute @workgroup_size(WG)
fn rmsnorm_backward(@builtin(global_invocation_id) gid: vec3u) {
  let n = gid.x;
  if (n >= u.N) {
    return;
  }
  let x = n * u.C;
  let r = rstd_saved[n];
  var dot = 0.0;
  for (var c = 0u; c < u.C; c++) {
    dot += dout[x + c] * weight[c] * inp[x + c];
  }
  let k = r * r * r * dot / f32(u.C);
  for (var c = 0u; c < u.C; c++) {
    dinp[x + c] += r * dout[x + c] * weight[c] - k * inp[x + c];
  }
}

// dweight += sum over rows of dout * inp * rstd (= with ACCUMULATE false).
@compute @workgroup_size(WG)
fn rmsnorm_backward_weight(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  if (c >= u.C) {
    return;
  }
  var sum = 0.0;
  for (var n = 0u; n < u.N; n++) {
    sum += dout[n * u.C + c] * inp[n * u.C + c] * rstd_saved[n];
  }
  if (ACCUMULATE) {
    dweight[c] += sum;
  } else {
    dweight[c] = sum;
  }
}
