// AdamW as torch.optim.AdamW with global gradient-norm clipping as clip_grad_norm_, the twins of
// adamwUpdate / sumOfSquares / clipCoefficient in packages/model/src/cpu/adamw.ts, on flat buffers.
// grad_sum_of_squares: pass 1 of the norm, count invocations each sum the squares of every
//   count-th gradient (neighbours read neighbours) into partials[offset + invocation], in registers:
//   no workgroup memory, which software adapters pay dearly for. Several gradient buffers fill
//   consecutive ranges of partials.
// grad_norm: pass 2, one workgroup sums count partials into norm = (L2 norm, clip coefficient).
// adamw_update: one invocation per parameter, gradients scaled by the clip coefficient read from
//   norm, so norm and update run back to back on the GPU.

override WG: u32 = 256; // a power of two

struct SumOfSquaresUniforms {
  n: u32,
  offset: u32,
  count: u32, // partial sums, one per invocation
}

struct NormUniforms {
  count: u32,
  max_grad_norm: f32, // 0 disables clipping
}

// The step number and lr enter through step_size = lr / (1 - beta1^step),
// bias2_sqrt = sqrt(1 - beta2^step) and decay = 1 - lr * weight_decay, computed in float64 as
// the CPU twin does (f32 pow loses digits of 1 - beta2^step).
struct AdamWUniforms {
  n: u32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  decay: f32,
  step_size: f32,
  bias2_sqrt: f32,
}

// grad_sum_of_squares
@group(0) @binding(0) var<uniform> su: SumOfSquaresUniforms;
@group(0) @binding(1) var<storage, read> grads: array<f32>; // (n)
@group(0) @binding(2) var<storage, read_write> partials: array<f32>; // (offset + count)
// grad_norm
@group(0) @binding(0) var<uniform> nu: NormUniforms;
@group(0) @binding(1) var<storage, read> partials_in: array<f32>; // (count)
@group(0) @binding(2) var<storage, read_write> norm: array<f32>; // (2): norm, clip coefficient
// adamw_update: grads as above
@group(0) @binding(0) var<uniform> au: AdamWUniforms;
@group(0) @binding(2) var<storage, read> norm_in: array<f32>; // (2)
@group(0) @binding(3) var<storage, read_write> params: array<f32>; // (n)
@group(0) @binding(4) var<storage, read_write> m: array<f32>; // (n)
@group(0) @binding(5) var<storage, read_write> v: array<f32>; // (n)

var<workgroup> partial: array<f32, WG>;

// Sum of value over the workgroup, valid in invocation 0.
fn workgroup_sum(lid: u32, value: f32) -> f32 {
  partial[lid] = value;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) {
      partial[lid] += partial[lid + stride];
    }
    workgroupBarrier();
  }
  return partial[0];
}

@compute @workgroup_size(WG)
fn grad_sum_of_squares(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x >= su.count) {
    return;
  }
  var sum = 0.0;
  for (var i = gid.x; i < su.n; i += su.count) {
    sum += grads[i] * grads[i];
  }
  partials[su.offset + gid.x] = sum;
}

@compute @workgroup_size(WG)
fn grad_norm(@builtin(local_invocation_index) lid: u32) {
  var sum = 0.0;
  for (var i = lid; i < nu.count; i += WG) {
    sum += partials_in[i];
  }
  sum = workgroup_sum(lid, sum);
  if (lid == 0u) {
    let total = sqrt(sum);
    norm[0] = total;
    norm[1] = select(min(1.0, nu.max_grad_norm / (total + 1e-6)), 1.0, nu.max_grad_norm == 0.0);
  }
}

@compute @workgroup_size(WG)
fn adamw_update(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= au.n) {
    return;
  }
  let g = norm_in[1] * grads[i];
  let mi = au.beta1 * m[i] + (1.0 - au.beta1) * g;
  let vi = au.beta2 * v[i] + (1.0 - au.beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  params[i] = params[i] * au.decay - au.step_size * mi / (sqrt(vi) / au.bias2_sqrt + au.eps);
}
