// Causal grouped-query attention, forward and backward; CPU twin packages/model/src/cpu/attention.ts.
// Dimension letters: B batch, T tokens, NH query heads, NKV kv heads (query head h reads kv head
// h / (NH / NKV)), HS head size. Scores are q . k * scale with scale = 1 / sqrt(HS).
// Forward: one invocation per query row (b, t, h) walks keys 0..t with an online softmax, keeping its
// q row and output accumulator in registers, and writes out and the row's log-sum-exp (the only thing
// the backward keeps; it recomputes probabilities p = exp(score - lse)).
// Backward, with dp = dout . v and the score gradient ds = p * (dp - D) * scale, D = sum(dout * out)
// (equal to sum(p * dp), the flash-attention identity): attention_backward_dq does one query row,
// dq += sum_s ds k_s, and stores D; attention_backward_dkv then does one KEY row (b, s, kvh), looping
// over the query rows t >= s of every head of its group: dk += sum ds q_t, dv += sum p dout_t. Every
// output element has one writer, so no atomics. Rows are read as vec4, hence 4 | HS <= 4 MAX_HS4.

const MAX_HS4 = 32u; // head sizes up to 128
const LOWEST = -3.0e38; // below any score, so exp(LOWEST - score) is 0 (WGSL has no infinities)

override WG: u32 = 64;

struct Uniforms {
  B: u32,
  T: u32,
  NH: u32,
  NKV: u32,
  HS: u32,
  scale: f32,
}

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> q: array<vec4f>; // (B, T, NH, HS)
@group(0) @binding(2) var<storage, read> k: array<vec4f>; // (B, T, NKV, HS)
@group(0) @binding(3) var<storage, read> v: array<vec4f>; // (B, T, NKV, HS)
// attention_forward
@group(0) @binding(4) var<storage, read_write> out: array<vec4f>; // (B, T, NH, HS)
@group(0) @binding(5) var<storage, read_write> lse: array<f32>; // (B, NH, T)
// attention_backward_dq and attention_backward_dkv
@group(0) @binding(4) var<storage, read> dout: array<vec4f>; // (B, T, NH, HS)
@group(0) @binding(5) var<storage, read> lse_saved: array<f32>; // (B, NH, T)
@group(0) @binding(6) var<storage, read> out_saved: array<vec4f>; // (B, T, NH, HS), dq only
@group(0) @binding(6) var<storage, read> rowdot_saved: array<f32>; // (B, NH, T), dkv only
@group(0) @binding(7) var<storage, read_write> dq: array<vec4f>; // (B, T, NH, HS)
@group(0) @binding(8) var<storage, read_write> rowdot: array<f32>; // (B, NH, T): D, written by dq
@group(0) @binding(7) var<storage, read_write> dk: array<vec4f>; // (B, T, NKV, HS)
@group(0) @binding(8) var<storage, read_write> dv: array<vec4f>; // (B, T, NKV, HS)

// vec4 offset of query row (b, t, h) in (B, T, NH, HS).
fn q_row(b: u32, t: u32, h: u32) -> u32 {
  return ((b * u.T + t) * u.NH + h) * (u.HS / 4u);
}

// vec4 offset of key/value row (b, s, kvh) in (B, T, NKV, HS).
fn kv_row(b: u32, s: u32, kvh: u32) -> u32 {
  return ((b * u.T + s) * u.NKV + kvh) * (u.HS / 4u);
}

// Index of row (b, h, t) in (B, NH, T).
fn stat_index(b: u32, h: u32, t: u32) -> u32 {
  return (b * u.NH + h) * u.T + t;
}

// Invocation (t, h, b) owns query row (b, t, h).
@compute @workgroup_size(WG)
fn attention_forward(@builtin(global_invocation_id) gid: vec3u) {
  let t = gid.x;
  let h = gid.y;
  let b = gid.z;
  if (t >= u.T) {
    return;
  }
  let hs4 = u.HS / 4u;
  let kvh = h / (u.NH / u.NKV);
  let row = q_row(b, t, h);
  var q_reg: array<vec4f, MAX_HS4>;
  var acc: array<vec4f, MAX_HS4>; // sum over keys of exp(score - m) v
  for (var j = 0u; j < hs4; j++) {
    q_reg[j] = q[row + j];
    acc[j] = vec4f(0.0);
  }
  var m = LOWEST; // running max of the scores
  var l = 0.0; // running sum of exp(score - m)
  for (var s = 0u; s <= t; s++) {
    let kv = kv_row(b, s, kvh);
    var qk = 0.0;
    for (var j = 0u; j < hs4; j++) {
      qk += dot(q_reg[j], k[kv + j]);
    }
    let score = qk * u.scale;
    let m_new = max(m, score);
    let correction = exp(m - m_new);
    let p = exp(score - m_new);
    l = l * correction + p;
    for (var j = 0u; j < hs4; j++) {
      acc[j] = acc[j] * correction + p * v[kv + j];
    }
    m = m_new;
  }
  for (var j = 0u; j < hs4; j++) {
    out[row + j] = acc[j] / l;
  }
  lse[stat_index(b, h, t)] = m + log(l);
}

// Invocation (t, h, b) owns query row (b, t, h): D = dout . out, then dq += sum_s ds k_s.
@compute @workgroup_size(WG)
fn attention_backward_dq(@builtin(global_invocation_id) gid: vec3u) {
  let t = gid.x;
  let h = gid.y;
  let b = gid.z;
  if (t >= u.T) {
    return;
  }
  let hs4 = u.HS / 4u;
  let kvh = h / (u.NH / u.NKV);
  let row = q_row(b, t, h);
  let stat = stat_index(b, h, t);
  var q_reg: array<vec4f, MAX_HS4>;
  var dout_reg: array<vec4f, MAX_HS4>;
  var dq_acc: array<vec4f, MAX_HS4>;
  var d = 0.0;
  for (var j = 0u; j < hs4; j++) {
    q_reg[j] = q[row + j];
    dout_reg[j] = dout[row + j];
    dq_acc[j] = vec4f(0.0);
    d += dot(dout_reg[j], out_saved[row + j]);
  }
  rowdot[stat] = d;
  let row_lse = lse_saved[stat];
  for (var s = 0u; s <= t; s++) {
    let kv = kv_row(b, s, kvh);
    var qk = 0.0;
    var dp = 0.0;
    for (var j = 0u; j < hs4; j++) {
      qk += dot(q_reg[j], k[kv + j]);
      dp += dot(dout_reg[j], v[kv + j]);
    }
    let p = exp(qk * u.scale - row_lse);
    let ds = p * (dp - d) * u.scale;
    for (var j = 0u; j < hs4; j++) {
      dq_acc[j] += ds * k[kv + j];
    }
  }
  for (var j = 0u; j < hs4; j++) {
    dq[row + j] += dq_acc[j];
  }
}

// Invocation (s, kvh, b) owns key/value row (b, s, kvh): dk += sum ds q_t, dv += sum p dout_t over
// the query rows t >= s of the heads that read kv head kvh. Runs after attention_backward_dq (D).
@compute @workgroup_size(WG)
fn attention_backward_dkv(@builtin(global_invocation_id) gid: vec3u) {
  let s = gid.x;
  let kvh = gid.y;
  let b = gid.z;
  if (s >= u.T) {
    return;
  }
  let hs4 = u.HS / 4u;
  let group = u.NH / u.NKV;
  let kv = kv_row(b, s, kvh);
  var k_reg: array<vec4f, MAX_HS4>;
  var v_reg: array<vec4f, MAX_HS4>;
  var dk_acc: array<vec4f, MAX_HS4>;
  var dv_acc: array<vec4f, MAX_HS4>;
  for (var j = 0u; j < hs4; j++) {
    k_reg[j] = k[kv + j];
    v_reg[j] = v[kv + j];
    dk_acc[j] = vec4f(0.0);
    dv_acc[j] = vec4f(0.0);
  }
  for (var h = kvh * group; h < (kvh + 1u) * group; h++) {
    for (var t = s; t < u.T; t++) {
      let row = q_row(b, t, h);
      let stat = stat_index(b, h, t);
      var qk = 0.0;
      var dp = 0.0;
      for (var j = 0u; j < hs4; j++) {
        qk += dot(q[row + j], k_reg[j]);
        dp += dot(dout[row + j], v_reg[j]);
      }
      let p = exp(qk * u.scale - lse_saved[stat]);
      let ds = p * (dp - rowdot_saved[stat]) * u.scale;
      for (var j = 0u; j < hs4; j++) {
        dv_acc[j] += p * dout[row + j];
        dk_acc[j] += ds * q[row + j];
      }
    }
  }
  for (var j = 0u; j < hs4; j++) {
    dk[kv + j] += dk_acc[j];
    dv[kv + j] += dv_acc[j];
  }
}
