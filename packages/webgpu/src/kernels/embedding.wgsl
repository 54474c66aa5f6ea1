// Token embedding, as the CPU twin packages/model/src/cpu/embedding.ts: the forward gathers rows
// of the table wte (V, C) by token id, the backward adds the rows of dout back into dwte. Several
// tokens may share an id, so the backward gives each invocation one channel c and walks the N tokens
// in order: no two invocations write the same float, so it needs no atomics (WGSL has no float
// atomics) and sums in the CPU twin's order. N * C work over C invocations is little for N <= 512.
// Token ids must lie in [0, V) (checked on upload by the engine, as for the CPU twin).

override WG: u32 = 64;

struct Uniforms {
  N: u32,
  C: u32,
}

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> tokens: array<i32>; // (N)
// embedding_forward
@group(0) @binding(2) var<storage, read> wte: array<f32>; // (V, C)
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // (N, C)
// embedding_backward
@group(0) @binding(2) var<storage, read> dout: array<f32>; // (N, C)
@group(0) @binding(3) var<storage, read_write> dwte: array<f32>; // (V, C)

// out[n, c] = wte[tokens[n], c], one invocation per element.
@compute @workgroup_size(WG)
fn embedding_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= u.N * u.C) {
    return;
  }
  let n = i / u.C;
  let c = i % u.C;
  out[i] = wte[u32(tokens[n]) * u.C + c];
}

// dwte[tokens[n], c] += dout[n, c], one invocation per channel c.
@compute @workgroup_size(WG)
fn embedding_backward(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  if (c >= u.C) {
    return;
  }
  for (var n = 0u; n < u.N; n++) {
    let row = u32(tokens[n]) * u.C;
    dwte[row + c] += dout[n * u.C + c];
  }
}
