// The LLaMA MLP's gated activation, as the CPU twin packages/model/src/cpu/swiglu.ts:
// out = silu(gate) * up with silu(g) = g * sigmoid(g), and its backward, which accumulates (or writes).
// Elementwise over n = N * F values, one invocation per element.

override WG: u32 = 64;
override ACCUMULATE: bool = true;

struct Uniforms {
  n: u32,
}

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> gate: array<f32>; // (N, F)
@group(0) @binding(2) var<storage, read> up: array<f32>; // (N, F)
// swiglu_forward
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // (N, F)
// swiglu_backward
@group(0) @binding(3) var<storage, read> dout: array<f32>; // (N, F)
@group(0) @binding(4) var<storage, read_write> dgate: array<f32>; // (N, F)
@group(0) @binding(5) var<storage, read_write> dup: array<f32>; // (N, F)

fn sigmoid(x: f32) -> f32 {
  return 1.0 / (1.0 + exp(-x));
}

@compute @workgroup_size(WG)
fn swiglu_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= u.n) {
    return;
  }
  let g = gate[i];
  out[i] = g * sigmoid(g) * up[i];
}

// dgate += dout * up * silu'(gate) with silu'(g) = sigmoid(g) (1 + g (1 - sigmoid(g))); dup += dout * silu(gate).
// With ACCUMULATE false it writes them (= instead of +=), which spares zeroing them first.
@compute @workgroup_size(WG)
fn swiglu_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= u.n) {
    return;
  }
  let g = gate[i];
  let sig = sigmoid(g);
  let dg = dout[i] * up[i] * sig * (1.0 + g * (1.0 - sig));
  let du = dout[i] * g * sig;
  if (ACCUMULATE) {
    dgate[i] += dg;
    dup[i] += du;
  } else {
    dgate[i] = dg;
    dup[i] = du;
  }
}
