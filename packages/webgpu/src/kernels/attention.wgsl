// Causal grouped-query attention, forward and backward; CPU twin packages/model/src/cpu/attention.ts.
// Dimension letters: B batch, T tokens, NH query heads, NKV kv heads (query head h reads kv head
// h / (NH / NKV)), HS head size. Scores are q . k * scale with scale = 1 / sqrt(HS).
// Forward: one invocation per query row (b, t, h) walks keys 0..t with an online softmax, keeping its
// q row and output accumulator in registers, and writes out and the row's log-sum-exp (the only thing
// the backward keeps; it recomputes probabilities p = exp(score - lse)).
// Every loop takes 4 rows (keys, or query rows in dkv) per step, their scores as one vec4, masked
// past the causal edge: software adapters keep the dynamically indexed row arrays in memory, and
// blocks of 4 read and write them a quarter as often and use each loaded row chunk 4 times.
// Backward, with dp = dout . v and the score gradient ds = p * (dp - D) * scale, D = sum(dout * out)
// (equal to sum(p * dp), the flash-attention identity): attention_backward_dq does one query row,
// dq += sum_s ds k_s, and stores D; attention_backward_dkv then does one KEY row (b, s, kvh), looping
// over the query rows t >= s of every head of its group: dk += sum ds q_t, dv += sum p dout_t. Every
// output element has one writer, so no atomics; with ACCUMULATE false the backward writes dq, dk and dv
// (= instead of +=), which spares zeroing them first. Rows are read as vec4, hence 4 | HS <= 4 MAX_HS4.

const MAX_HS4 = 32u; // head sizes up to 128
const LOWEST = -3.0e38; // below any score, so exp(LOWEST - score) is 0 (WGSL has no infinities)

override WG: u32 = 64;
override ACCUMULATE: bool = true;

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

const LANES = vec4u(0u, 1u, 2u, 3u); // the rows of a block of 4

// vec4 offset of query row (b, t, h) in (B, T, NH, HS).
fn q_row(b: u32, t: u32, h: u32) -> u32 {
  return ((b * u.T + t) * u.NH + h) * (u.HS / 4u);
}

// vec4 offset of key/value row (b, s, kvh) in (B, T, NKV, HS).
fn kv_row(b: u32, s: u32, kvh: u32) -> u32 {
  return ((b * u.T + s) * u.NKV + kvh) * (u.HS / 4u);
}

// kv_row of the 4 key rows s.
fn kv_rows(b: u32, s: vec4u, kvh: u32) -> vec4u {
  return vec4u(kv_row(b, s.x, kvh), kv_row(b, s.y, kvh), kv_row(b, s.z, kvh), kv_row(b, s.w, kvh));
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
  for (var s0 = 0u; s0 <= t; s0 += 4u) {
    // Keys s0 .. s0 + 3; those past t read key t and get probability 0.
    let keys = vec4u(s0) + LANES;
    let kv = kv_rows(b, min(keys, vec4u(t)), kvh);
    var qk = vec4f(0.0);
    for (var j = 0u; j < hs4; j++) {
      let qj = q_reg[j];
      qk += vec4f(dot(qj, k[kv.x + j]), dot(qj, k[kv.y + j]), dot(qj, k[kv.z + j]), dot(qj, k[kv.w + j]));
    }
    let score = select(vec4f(LOWEST), qk * u.scale, keys <= vec4u(t));
    let m_new = max(m, max(max(score.x, score.y), max(score.z, score.w)));
    let correction = exp(m - m_new);
    let p = exp(score - m_new);
    l = l * correction + p.x + p.y + p.z + p.w;
    for (var j = 0u; j < hs4; j++) {
      acc[j] = acc[j] * correction + p.x * v[kv.x + j] + p.y * v[kv.y + j] + p.z * v[kv.z + j] + p.w * v[kv.w + j];
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
  for (var s0 = 0u; s0 <= t; s0 += 4u) {
    // Keys s0 .. s0 + 3; those past t read key t and get ds = 0.
    let keys = vec4u(s0) + LANES;
    let kv = kv_rows(b, min(keys, vec4u(t)), kvh);
    var qk = vec4f(0.0);
    var dp = vec4f(0.0);
    for (var j = 0u; j < hs4; j++) {
      let qj = q_reg[j];
      let dj = dout_reg[j];
      qk += vec4f(dot(qj, k[kv.x + j]), dot(qj, k[kv.y + j]), dot(qj, k[kv.z + j]), dot(qj, k[kv.w + j]));
      dp += vec4f(dot(dj, v[kv.x + j]), dot(dj, v[kv.y + j]), dot(dj, v[kv.z + j]), dot(dj, v[kv.w + j]));
    }
    let p = select(vec4f(0.0), exp(qk * u.scale - row_lse), keys <= vec4u(t));
    let ds = p * (dp - d) * u.scale;
    for (var j = 0u; j < hs4; j++) {
      dq_acc[j] += ds.x * k[kv.x + j] + ds.y * k[kv.y + j] + ds.z * k[kv.z + j] + ds.w * k[kv.w + j];
    }
  }
  for (var j = 0u; j < hs4; j++) {
    if (ACCUMULATE) {
      dq[row + j] += dq_acc[j];
    } else {
      dq[row + j] = dq_acc[j];
    }
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
    for (var t0 = s; t0 < u.T; t0 += 4u) {
      // Query rows t0 .. t0 + 3; those past T - 1 read row T - 1 and get p = ds = 0.
      let rows_t = vec4u(t0) + LANES;
      let ts = min(rows_t, vec4u(u.T - 1u));
      let row = vec4u(q_row(b, ts.x, h), q_row(b, ts.y, h), q_row(b, ts.z, h), q_row(b, ts.w, h));
      let stat = vec4u(stat_index(b, h, ts.x), stat_index(b, h, ts.y), stat_index(b, h, ts.z), stat_index(b, h, ts.w));
      var qk = vec4f(0.0);
      var dp = vec4f(0.0);
      for (var j = 0u; j < hs4; j++) {
        let kj = k_reg[j];
        let vj = v_reg[j];
        qk += vec4f(dot(q[row.x + j], kj), dot(q[row.y + j], kj), dot(q[row.z + j], kj), dot(q[row.w + j], kj));
        dp += vec4f(dot(dout[row.x + j], vj), dot(dout[row.y + j], vj), dot(dout[row.z + j], vj), dot(dout[row.w + j], vj));
      }
      let row_lse = vec4f(lse_saved[stat.x], lse_saved[stat.y], lse_saved[stat.z], lse_saved[stat.w]);
      let d = vec4f(rowdot_saved[stat.x], rowdot_saved[stat.y], rowdot_saved[stat.z], rowdot_saved[stat.w]);
      let p = select(vec4f(0.0), exp(qk * u.scale - row_lse), rows_t < vec4u(u.T));
      let ds = p * (dp - d) * u.scale;
      for (var j = 0u; j < hs4; j++) {
        dv_acc[j] += p.x * dout[row.x + j] + p.y * dout[row.y + j] + p.z * dout[row.z + j] + p.w * dout[row.w + j];
        dk_acc[j] += ds.x * q[row.x + j] + ds.y * q[row.y + j] + ds.z * q[row.z + j] + ds.w * q[row.w + j];
      }
    }
  }
  for (var j = 0u; j < hs4; j++) {
    if (ACCUMULATE) {
      dk[kv + j] += dk_acc[j];
      dv[kv + j] += dv_acc[j];
    } else {
      dk[kv + j] = dk_acc[j];
      dv[kv + j] = dv_acc[j];
    }
  }
}
