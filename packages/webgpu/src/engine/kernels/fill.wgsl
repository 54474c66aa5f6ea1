// fill_zero writes 0 over n floats, one invocation per element: the engine's gradient buffers and
// backward scratch start each use at zero because every backward kernel accumulates into its outputs.
// A dispatch rather than GPUCommandEncoder.clearBuffer, so it stays inside the open compute pass.

override WG: u32 = 64;

struct Uniforms {
  n: u32,
}

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read_write> out: array<f32>; // (n)

@compute @workgroup_size(WG)
fn fill_zero(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i < u.n) {
    out[i] = 0.0;
  }
}
