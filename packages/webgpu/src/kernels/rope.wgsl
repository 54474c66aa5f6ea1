// Rotary position embedding, Hugging Face rotate-half convention, in place on x (B, T, H, HS): in
// each head, pair (i, i + HS/2) at position t turns by angle t * theta^(-2i/HS), whose cos and sin
// come from tables (T, HS/2) computed on the CPU (ropeTables in @prufed/model). The backward turns
// the gradient back by the opposite angle. CPU twin: packages/model/src/cpu/rope.ts.
// Workgroup row y is the token n = b * T + t; x spans the H * HS/2 pairs of that token.

override WG: u32 = 64;

struct Uniforms {
  T: u32,
  H: u32,
  HS: u32,
  N: u32, // B * T, the workgroup rows dispatched
}

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read_write> x: array<f32>; // (B, T, H, HS)
@group(0) @binding(2) var<storage, read> cos_table: array<f32>; // (T, HS/2)
@group(0) @binding(3) var<storage, read> sin_table: array<f32>; // (T, HS/2)

// Turns pair `pair` of token n by sign times its angle.
fn rotate(n: u32, pair: u32, sign: f32) {
  let half = u.HS / 2u;
  if (pair >= u.H * half) {
    return;
  }
  let h = pair / half;
  let i = pair % half;
  let table = (n % u.T) * half + i;
  let c = cos_table[table];
  let s = sign * sin_table[table];
  let head = (n * u.H + h) * u.HS;
  let x1 = x[head + i];
  let x2 = x[head + i + half];
  x[head + i] = x1 * c - x2 * s;
  x[head + i + half] = x2 * c + x1 * s;
}

@compute @workgroup_size(WG)
fn rope_forward(@builtin(global_invocation_id) gid: vec3u) {
  rotate(gid.y, gid.x, 1.0);
}

@compute @workgroup_size(WG)
fn rope_backward(@builtin(global_invocation_id) gid: vec3u) {
  rotate(gid.y, gid.x, -1.0);
}
