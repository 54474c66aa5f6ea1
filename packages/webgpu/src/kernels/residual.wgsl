// Elementwise sums over n floats, one invocation per element: residual_add writes out = a + b (the
// residual stream, x + attn(x)), residual_accumulate adds in place, acc += b (gradients meeting at
// a residual branch, or summed over several paths). WebGPU forbids binding one buffer both as out
// and as an input, hence the separate in-place entry point.

override WG: u32 = 64;

struct Uniforms {
  n: u32,
}

@group(0) @binding(0) var<uniform> u: Uniforms;
// residual_add
@group(0) @binding(1) var<storage, read> a: array<f32>; // (n)
@group(0) @binding(2) var<storage, read> b: array<f32>; // (n)
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // (n)
// residual_accumulate: b as above
@group(0) @binding(1) var<storage, read_write> acc: array<f32>; // (n)

@compute @workgroup_size(WG)
fn residual_add(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i < u.n) {
    out[i] = a[i] + b[i];
  }
}

@compute @workgroup_size(WG)
fn residual_accumulate(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i < u.n) {
    acc[i] += b[i];
  }
}
