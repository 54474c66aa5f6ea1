// The one piece of the fused LoRA linear that matmul.wgsl cannot express: multiplying by the LoRA
// scale alpha / r. lora_scale writes out = scale * inp over n floats; lora-linear.ts applies it to
// the (N, R) rank-space activations, the smallest tensors of the layer.

override WG: u32 = 64;

struct Uniforms {
  n: u32,
  scale: f32,
}

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> inp: array<f32>; // (n)
@group(0) @binding(2) var<storage, read_write> out: array<f32>; // (n)

@compute @workgroup_size(WG)
fn lora_scale(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x < u.n) {
    out[gid.x] = u.scale * inp[gid.x];
  }
}
