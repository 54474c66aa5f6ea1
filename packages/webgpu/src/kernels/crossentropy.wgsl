// Causal-LM cross-entropy, as the CPU twin packages/model/src/cpu/crossentropy.ts (Hugging Face
// convention): row (b, t) of logits (B, T, V) predicts labels[b, t + 1]; label -100 and the last
// position are masked; the loss is the mean over unmasked rows. N = B * T rows.
// crossentropy_forward: one workgroup per row, the row's log-sum-exp as an online (max, sum of
//   exp(x - max)) tree reduction in workgroup memory; writes the row's loss (0 when masked) and
//   its log-sum-exp. crossentropy_forward_serial does the same with one invocation per row, which
//   is faster where workgroup memory and barriers are slow (software adapters such as SwiftShader).
// crossentropy_loss: one workgroup sums the row losses and counts the unmasked rows into
//   result = (mean loss, tokens), so the backward reads tokens without a trip to the CPU.
// crossentropy_backward: one invocation per logit, dlogits = (softmax - onehot) / tokens, 0 on
//   masked rows, written in place over the logits (as llm.c and the CPU twin do).

override WG: u32 = 256; // a power of two

const IGNORE_INDEX: i32 = -100;
const LOWEST: f32 = -0x1.fffffep+127f; // the most negative finite f32

struct Uniforms {
  B: u32,
  T: u32,
  V: u32,
}

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> labels: array<i32>; // (B, T)
// crossentropy_forward
@group(0) @binding(2) var<storage, read> logits: array<f32>; // (B, T, V)
@group(0) @binding(3) var<storage, read_write> losses: array<f32>; // (B, T)
@group(0) @binding(4) var<storage, read_write> lse: array<f32>; // (B, T)
// crossentropy_loss
@group(0) @binding(2) var<storage, read> losses_in: array<f32>; // (B, T)
@group(0) @binding(3) var<storage, read_write> result: array<f32>; // (2): mean loss, tokens
// crossentropy_backward
@group(0) @binding(2) var<storage, read_write> dlogits: array<f32>; // (B, T, V), logits on entry
@group(0) @binding(3) var<storage, read> lse_in: array<f32>; // (B, T)
@group(0) @binding(4) var<storage, read> result_in: array<f32>; // (2)

var<workgroup> partial: array<vec2f, WG>;

// The label row (b, t) predicts: labels[b, t + 1], or IGNORE_INDEX at the last position.
fn target_of(row: u32) -> i32 {
  if (row % u.T + 1u < u.T) {
    return labels[row + 1u];
  }
  return IGNORE_INDEX;
}

// Merges two partial results: (max, sum of exp(x - max)) pairs when softmax, else plain sums.
fn merge(p: vec2f, q: vec2f, softmax: bool) -> vec2f {
  if (!softmax) {
    return p + q;
  }
  let m = max(p.x, q.x);
  return vec2f(m, p.y * exp(p.x - m) + q.y * exp(q.x - m));
}

// Tree reduction of value over the workgroup; every invocation gets the result.
fn workgroup_reduce(lid: u32, value: vec2f, softmax: bool) -> vec2f {
  partial[lid] = value;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) {
      partial[lid] = merge(partial[lid], partial[lid + stride], softmax);
    }
    workgroupBarrier();
  }
  let reduced = partial[0];
  workgroupBarrier();
  return reduced;
}

// Adds one logit to a (max, sum of exp(logit - max)) pair.
fn online_add(stats: vec2f, logit: f32) -> vec2f {
  if (logit > stats.x) {
    return vec2f(logit, stats.y * exp(stats.x - logit) + 1.0);
  }
  return vec2f(stats.x, stats.y + exp(logit - stats.x));
}

// Writes the row's log-sum-exp and loss from the (max, sum of exp(logit - max)) of all its logits.
fn write_row(row: u32, stats: vec2f) {
  let row_lse = stats.x + log(stats.y);
  lse[row] = row_lse;
  let y = target_of(row);
  if (y == IGNORE_INDEX) {
    losses[row] = 0.0;
  } else {
    losses[row] = row_lse - logits[row * u.V + u32(y)];
  }
}

@compute @workgroup_size(WG)
fn crossentropy_forward(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x;
  var stats = vec2f(LOWEST, 0.0); // over this invocation's logits
  for (var v = lid; v < u.V; v += WG) {
    stats = online_add(stats, logits[row * u.V + v]);
  }
  stats = workgroup_reduce(lid, stats, true);
  if (lid == 0u) {
    write_row(row, stats);
  }
}

@compute @workgroup_size(WG)
fn crossentropy_forward_serial(@builtin(global_invocation_id) gid: vec3u) {
  let row = gid.x;
  if (row >= u.B * u.T) {
    return;
  }
  var stats = vec2f(LOWEST, 0.0);
  for (var v = 0u; v < u.V; v++) {
    stats = online_add(stats, logits[row * u.V + v]);
  }
  write_row(row, stats);
}

@compute @workgroup_size(WG)
fn crossentropy_loss(@builtin(local_invocation_index) lid: u32) {
  var sum = vec2f(0.0); // (loss, unmasked rows)
  for (var row = lid; row < u.B * u.T; row += WG) {
    if (target_of(row) != IGNORE_INDEX) {
      sum += vec2f(losses_in[row], 1.0);
    }
  }
  sum = workgroup_reduce(lid, sum, false);
  if (lid == 0u) {
    result[0] = select(0.0, sum.x / sum.y, sum.y > 0.0);
    result[1] = sum.y;
  }
}

@compute @workgroup_size(WG)
fn crossentropy_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= u.B * u.T * u.V) {
    return;
  }
  let row = i / u.V;
  let y = target_of(row);
  if (y == IGNORE_INDEX) {
    dlogits[i] = 0.0;
    return;
  }
  let tokens = result_in[1];
  var d = exp(dlogits[i] - lse_in[row]) / tokens;
  if (u32(y) == i % u.V) {
    d -= 1.0 / tokens;
  }
  dlogits[i] = d;
}
