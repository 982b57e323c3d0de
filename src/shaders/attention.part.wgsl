// Causal multi-head attention with grouped-query heads, flash style: the softmax is fused, the
// forward saves only the per-row log-sum-exp, and the backward recomputes probabilities from it, so
// no T x T buffer exists on the training path. Forward and backward side by side.
//
// Two shaders paste this file in (scripts/embed-shaders.mjs, at `// #include attention.part.wgsl`):
// attention.wgsl and attention_quad.wgsl. They differ only in how an invocation gets the rows it walks
// (below): the functions walked_k, walked_v, walked_q, walked_d_out, walked_lse, walked_delta and
// walked_weights, which each of them defines.
//
// Layout (row-major, what the linear projections produce): q, out, d_out, d_q [B, Tq, H, D];
// k, v, d_k, d_v [B, Tk, Hkv, D]; lse, delta [B, H, Tq]. Query head h reads kv head h / (H / Hkv).
// Query row i sits at absolute position tk - tq + i (the last Tq positions, as KV-cached generation
// needs) and sees keys j <= that position. Rows are D/4 vec4s: D is a multiple of 4, at most 128.
// k and v may be the first tk rows of a longer per-batch buffer (a KV cache): kv_rows is the batch
// stride. Batched generation left-pads prompts: with use_key_start, `forward` hides keys before
// key_start[b] from the rows at or after it (pad rows see only pad rows, so nothing is 0 · inf).
//
// Work split: an invocation owns 4 consecutive rows (query rows in `forward` / `backward_query`,
// key rows in `backward_key_value` / `attention_received`) and walks the other side 4 rows at a
// time, so scores are 4 x 4 blocks of vec4s and every loaded vec4 serves 4 rows. All invocations of
// a workgroup walk the same rows (uniform control flow, no barriers); the causal mask is a select.
// Rows past the end are clamped on load and never stored. In attention.wgsl every invocation loads
// the 4 walked rows itself; in attention_quad.wgsl each invocation of a quad loads one of them and
// gets the other three from its partners (quadBroadcast): a quarter of the loads.
//
// Why the code is shaped as it is: on SwiftShader (the software GPU) a private array stays in
// registers only when every index is a constant; a dynamic index turns each access into a per-lane
// gather and made these kernels 2-3x slower. So the loop over D/4 is unrolled by hand: each step
// (`forward_scores(d)`, ...) is guarded by `d < D4` and called with d = 0..31 from a `*_all()`
// function; once the override D4 is known the guards fold away and every index is a constant. The
// 4 owned rows are spelled out, and the per-invocation state lives in module-scope private arrays.
// Steps are per entry point so that each entry point statically uses only its own bindings.
//
// The price is pipeline compile time on SwiftShader, once per device and head dim (CPU seconds of
// createComputePipelineAsync, bench/attention-compile.ts, 2-core machine, Dawn + SwiftShader):
//   entry point              D = 4        D = 64   D = 96   D = 128
//   forward (WG 8 / WG 1)    0.4 / 0.4    5 / 5    9 / 10   16 / 18
//   backward_query           0.7          10-12    20       42
//   backward_key_value       0.8          12-15    23       46
//   attention_received       0.1          1-2      3.5      5
//   all five                 2.4          34-38    65       127
// (d = 16..31 cost D = 64 little: 34 s with the loop unrolled to 15, 37-38 s to 31, within noise.)
// Wall clock was 2-3x these on the busy machine they were measured on. D = 128 doubles the unrolled
// code and more than triples the compile. Two owned rows per invocation at D > 64 (tried, with an
// override constant guarding rows 2 and 3) halved it (56 s) but made the blocked kernels 1.4-2.7x
// slower (T = 256: forward 42 vs 58 ms, backward_key_value 82 vs 224 ms; T = 512 alike) and gained
// nothing in decode: the visited rows' loads then serve 2 rows, not 4, and the 4-row state
// (backward_key_value: 6 arrays of 4 x 32 vec4s) did not fall off a cliff. So 4 rows at every D.
// D = 256 would need d = 0..63: another doubling of code and several minutes of compile; not done.
//
// Bindings (entry points alias binding numbers so that each uses exactly 1..n):
//   binding  forward   backward_query  backward_key_value  attention_received  attention_probs
//   1        q         q               q                   q                   q
//   2        k         k               k                   k                   k
//   3        v         v               v                   query_weights       probs
//   4        lse_out   lse             lse                 lse                 lse
//   5        out       d_out           d_out               received
//   6        key_start delta_out       delta                key_start
//   7                  d_q             d_k
//   8                  out_saved       d_v

struct Params {
  batch: u32,
  tq: u32,          // query rows
  tk: u32,          // key rows
  heads: u32,       // query heads H
  kv_heads: u32,    // key/value heads Hkv, H % Hkv == 0
  scale: f32,       // multiplies q·k (1/sqrt(D) by default)
  use_weights: u32, // attention_received: 0 = every query row weighs 1 (query_weights unread)
  kv_rows: u32,     // rows per batch item in k and v (>= tk; more when they are a cache's prefix)
  use_key_start: u32, // forward: 1 = key_start [B] holds each batch row's first real key;
                      // attention_received: each batch row's first key that is asked for
  pad0: u32,
  pad1: u32,
  pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> k: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> lse_out: array<f32>;
@group(0) @binding(4) var<storage, read> lse: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> d_out: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> delta_out: array<f32>;
@group(0) @binding(6) var<storage, read> delta: array<f32>;
@group(0) @binding(6) var<storage, read> key_start: array<u32>;
@group(0) @binding(7) var<storage, read_write> d_q: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> d_k: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read> out_saved: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> d_v: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> query_weights: array<f32>;
@group(0) @binding(5) var<storage, read_write> received: array<f32>;
@group(0) @binding(3) var<storage, read_write> probs: array<f32>;

override D4: u32 = 1u;  // head dim / 4, at most MAX_D4
override WG: u32 = 8u;  // invocations per workgroup; a workgroup owns 4·WG rows

const MAX_D4 = 32u;
// Masked scores: finite, so that max/exp arithmetic never meets inf - inf.
const NEG = -1e30;
const STEP4 = vec4<u32>(0u, 1u, 2u, 3u);

// Per-invocation state, indexed with constants only (see above).
var<private> own_a: array<array<vec4<f32>, MAX_D4>, 4>;  // q·scale (query side), k·scale (key side)
var<private> own_b: array<array<vec4<f32>, MAX_D4>, 4>;  // d_out (backward_query), v (backward_key_value)
var<private> acc_a: array<array<vec4<f32>, MAX_D4>, 4>;  // out, d_q or d_k
var<private> acc_b: array<array<vec4<f32>, MAX_D4>, 4>;  // d_v
var<private> seen_a: array<array<vec4<f32>, MAX_D4>, 4>; // visited rows kept for UPDATE: k or q
var<private> seen_b: array<array<vec4<f32>, MAX_D4>, 4>; // d_out (backward_key_value)
var<private> own_base: vec4<u32>;
var<private> quad_lane: u32;                // this invocation's lane in its quad (attention_quad.wgsl)
var<private> own_valid: vec4<bool>;
var<private> seen_base: vec4<u32>;
var<private> score: array<vec4<f32>, 4>;    // score[r][c]: owned row r against visited row c
var<private> score_b: array<vec4<f32>, 4>;  // dP = d_out·v, same arrangement
var<private> weight: array<vec4<f32>, 4>;   // P (unnormalised in forward)
var<private> weight_b: array<vec4<f32>, 4>; // dS = P·(dP - delta)
var<private> rescale: vec4<f32>;            // per owned row: online-softmax correction, then 1/l
var<private> row_delta: vec4<f32>;          // per owned row: d_out·out

fn q_base(b: u32, i: u32, h: u32) -> u32 {
  return ((b * p.tq + i) * p.heads + h) * D4;
}

fn kv_base(b: u32, j: u32, g: u32) -> u32 {
  return ((b * p.kv_rows + j) * p.kv_heads + g) * D4;
}

fn row_stat(b: u32, h: u32, i: u32) -> u32 {
  return (b * p.heads + h) * p.tq + i;
}

fn kv_head(h: u32) -> u32 {
  return h / (p.heads / p.kv_heads);
}

// Base indices of key rows j0..j0+3 of kv head g (clamped to the last key; callers mask the rest).
fn key_bases(b: u32, j0: u32, g: u32) -> vec4<u32> {
  let j = min(vec4<u32>(j0) + STEP4, vec4<u32>(p.tk - 1u));
  return vec4<u32>(kv_base(b, j.x, g), kv_base(b, j.y, g), kv_base(b, j.z, g), kv_base(b, j.w, g));
}

// Base indices of query rows i0..i0+3 of head h (clamped to the last row).
fn query_bases(b: u32, i0: u32, h: u32) -> vec4<u32> {
  let i = min(vec4<u32>(i0) + STEP4, vec4<u32>(p.tq - 1u));
  return vec4<u32>(q_base(b, i.x, h), q_base(b, i.y, h), q_base(b, i.z, h), q_base(b, i.w, h));
}

// lse / delta indices of query rows i0..i0+3 of head h (clamped like query_bases).
fn query_stats(b: u32, h: u32, i0: u32) -> vec4<u32> {
  return vec4<u32>(row_stat(b, h, 0u)) + min(vec4<u32>(i0) + STEP4, vec4<u32>(p.tq - 1u));
}

// The 4 walked rows of a step, at seen_base + d: what walked_k, walked_v, walked_q and walked_d_out return.
struct Rows4 {
  r0: vec4<f32>,
  r1: vec4<f32>,
  r2: vec4<f32>,
  r3: vec4<f32>,
}

// (a·b0, a·b1, a·b2, a·b3): one owned row against 4 visited rows.
fn dot4(a: vec4<f32>, b0: vec4<f32>, b1: vec4<f32>, b2: vec4<f32>, b3: vec4<f32>) -> vec4<f32> {
  return vec4<f32>(dot(a, b0), dot(a, b1), dot(a, b2), dot(a, b3));
}

// Σ_c w[c]·b_c: 4 visited rows weighted into one owned row.
fn mix4(w: vec4<f32>, b0: vec4<f32>, b1: vec4<f32>, b2: vec4<f32>, b3: vec4<f32>) -> vec4<f32> {
  return w.x * b0 + w.y * b1 + w.z * b2 + w.w * b3;
}

fn row_max(s: vec4<f32>) -> f32 {
  return max(max(s.x, s.y), max(s.z, s.w));
}

fn row_sum(s: vec4<f32>) -> f32 {
  return dot(s, vec4<f32>(1.0));
}

// Explicit zeroing of module-scope state. (A function-scope `var s: array<...>;` declared inside the
// key loop was seen NOT re-zeroed per iteration on Dawn/SwiftShader, against the WGSL rules.)
fn zero_scores() {
  score = array<vec4<f32>, 4>();
  score_b = array<vec4<f32>, 4>();
}

// ---------------------------------------------------------------------------------------------
// forward: out = softmax(scale·q·kᵀ, causal)·v and lse = log Σ_j exp(scale·q·k_j) per query row.
// Grid: (query blocks of 4·WG rows, H, B).

fn forward_load(d: u32) {
  if (d < D4) {
    own_a[0][d] = q[own_base.x + d] * p.scale;
    own_a[1][d] = q[own_base.y + d] * p.scale;
    own_a[2][d] = q[own_base.z + d] * p.scale;
    own_a[3][d] = q[own_base.w + d] * p.scale;
    acc_a[0][d] = vec4<f32>(0.0);
    acc_a[1][d] = vec4<f32>(0.0);
    acc_a[2][d] = vec4<f32>(0.0);
    acc_a[3][d] = vec4<f32>(0.0);
  }
}

fn forward_scores(d: u32) {
  if (d < D4) {
    let r = walked_k(d);
    score[0] += dot4(own_a[0][d], r.r0, r.r1, r.r2, r.r3);
    score[1] += dot4(own_a[1][d], r.r0, r.r1, r.r2, r.r3);
    score[2] += dot4(own_a[2][d], r.r0, r.r1, r.r2, r.r3);
    score[3] += dot4(own_a[3][d], r.r0, r.r1, r.r2, r.r3);
  }
}

fn forward_update(d: u32) {
  if (d < D4) {
    let r = walked_v(d);
    acc_a[0][d] = acc_a[0][d] * rescale.x + mix4(weight[0], r.r0, r.r1, r.r2, r.r3);
    acc_a[1][d] = acc_a[1][d] * rescale.y + mix4(weight[1], r.r0, r.r1, r.r2, r.r3);
    acc_a[2][d] = acc_a[2][d] * rescale.z + mix4(weight[2], r.r0, r.r1, r.r2, r.r3);
    acc_a[3][d] = acc_a[3][d] * rescale.w + mix4(weight[3], r.r0, r.r1, r.r2, r.r3);
  }
}

fn forward_store(d: u32) {
  if (d < D4) {
    if (own_valid.x) { out[own_base.x + d] = acc_a[0][d] * rescale.x; }
    if (own_valid.y) { out[own_base.y + d] = acc_a[1][d] * rescale.y; }
    if (own_valid.z) { out[own_base.z + d] = acc_a[2][d] * rescale.z; }
    if (own_valid.w) { out[own_base.w + d] = acc_a[3][d] * rescale.w; }
  }
}

fn forward_load_all() {
  forward_load(0u); forward_load(1u); forward_load(2u); forward_load(3u); forward_load(4u); forward_load(5u); forward_load(6u); forward_load(7u);
  forward_load(8u); forward_load(9u); forward_load(10u); forward_load(11u); forward_load(12u); forward_load(13u); forward_load(14u); forward_load(15u);
  forward_load(16u); forward_load(17u); forward_load(18u); forward_load(19u); forward_load(20u); forward_load(21u); forward_load(22u); forward_load(23u);
  forward_load(24u); forward_load(25u); forward_load(26u); forward_load(27u); forward_load(28u); forward_load(29u); forward_load(30u); forward_load(31u);
}

fn forward_scores_all() {
  forward_scores(0u); forward_scores(1u); forward_scores(2u); forward_scores(3u); forward_scores(4u); forward_scores(5u); forward_scores(6u); forward_scores(7u);
  forward_scores(8u); forward_scores(9u); forward_scores(10u); forward_scores(11u); forward_scores(12u); forward_scores(13u); forward_scores(14u); forward_scores(15u);
  forward_scores(16u); forward_scores(17u); forward_scores(18u); forward_scores(19u); forward_scores(20u); forward_scores(21u); forward_scores(22u); forward_scores(23u);
  forward_scores(24u); forward_scores(25u); forward_scores(26u); forward_scores(27u); forward_scores(28u); forward_scores(29u); forward_scores(30u); forward_scores(31u);
}

fn forward_update_all() {
  forward_update(0u); forward_update(1u); forward_update(2u); forward_update(3u); forward_update(4u); forward_update(5u); forward_update(6u); forward_update(7u);
  forward_update(8u); forward_update(9u); forward_update(10u); forward_update(11u); forward_update(12u); forward_update(13u); forward_update(14u); forward_update(15u);
  forward_update(16u); forward_update(17u); forward_update(18u); forward_update(19u); forward_update(20u); forward_update(21u); forward_update(22u); forward_update(23u);
  forward_update(24u); forward_update(25u); forward_update(26u); forward_update(27u); forward_update(28u); forward_update(29u); forward_update(30u); forward_update(31u);
}

fn forward_store_all() {
  forward_store(0u); forward_store(1u); forward_store(2u); forward_store(3u); forward_store(4u); forward_store(5u); forward_store(6u); forward_store(7u);
  forward_store(8u); forward_store(9u); forward_store(10u); forward_store(11u); forward_store(12u); forward_store(13u); forward_store(14u); forward_store(15u);
  forward_store(16u); forward_store(17u); forward_store(18u); forward_store(19u); forward_store(20u); forward_store(21u); forward_store(22u); forward_store(23u);
  forward_store(24u); forward_store(25u); forward_store(26u); forward_store(27u); forward_store(28u); forward_store(29u); forward_store(30u); forward_store(31u);
}

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  quad_lane = lid & 3u;
  let h = wid.y;
  let b = wid.z;
  let g = kv_head(h);
  let offset = p.tk - p.tq;
  let block = wid.x * WG * 4u;
  let rows = vec4<u32>(block + lid * 4u) + STEP4;
  own_valid = rows < vec4<u32>(p.tq);
  own_base = query_bases(b, rows.x, h);
  forward_load_all();
  let positions = vec4<u32>(offset) + rows;
  // The workgroup walks every key its last row sees, from the first key its first row sees.
  let key_end = offset + min(block + WG * 4u, p.tq);
  var first = 0u;
  if (p.use_key_start != 0u) { first = key_start[b]; }
  // Per row: the first visible key (0 for a pad row, which sees the pad rows before it).
  let lo = select(vec4<u32>(first), vec4<u32>(0u), positions < vec4<u32>(first));
  var key_begin = 0u;
  if (offset + block >= first) { key_begin = first & ~3u; }

  var m = vec4<f32>(NEG);
  var l = vec4<f32>(0.0);
  for (var j0 = key_begin; j0 < key_end; j0 += 4u) {
    seen_base = key_bases(b, j0, g);
    zero_scores();
    forward_scores_all();
    // Online softmax: one rescale of the accumulators per 4 keys.
    let keys = vec4<u32>(j0) + STEP4;
    let seen0 = (keys <= vec4<u32>(positions.x)) & (keys >= vec4<u32>(lo.x));
    let seen1 = (keys <= vec4<u32>(positions.y)) & (keys >= vec4<u32>(lo.y));
    let seen2 = (keys <= vec4<u32>(positions.z)) & (keys >= vec4<u32>(lo.z));
    let seen3 = (keys <= vec4<u32>(positions.w)) & (keys >= vec4<u32>(lo.w));
    let s0 = select(vec4<f32>(NEG), score[0], seen0);
    let s1 = select(vec4<f32>(NEG), score[1], seen1);
    let s2 = select(vec4<f32>(NEG), score[2], seen2);
    let s3 = select(vec4<f32>(NEG), score[3], seen3);
    let m_new = max(m, vec4<f32>(row_max(s0), row_max(s1), row_max(s2), row_max(s3)));
    rescale = exp(m - m_new);
    weight[0] = select(vec4<f32>(0.0), exp(s0 - m_new.x), seen0);
    weight[1] = select(vec4<f32>(0.0), exp(s1 - m_new.y), seen1);
    weight[2] = select(vec4<f32>(0.0), exp(s2 - m_new.z), seen2);
    weight[3] = select(vec4<f32>(0.0), exp(s3 - m_new.w), seen3);
    l = l * rescale + vec4<f32>(row_sum(weight[0]), row_sum(weight[1]), row_sum(weight[2]), row_sum(weight[3]));
    m = m_new;
    forward_update_all();
  }

  rescale = 1.0 / l;
  forward_store_all();
  let row_lse = m + log(l);
  let st = row_stat(b, h, 0u);
  if (own_valid.x) { lse_out[st + rows.x] = row_lse.x; }
  if (own_valid.y) { lse_out[st + rows.y] = row_lse.y; }
  if (own_valid.z) { lse_out[st + rows.z] = row_lse.z; }
  if (own_valid.w) { lse_out[st + rows.w] = row_lse.w; }
}

// ---------------------------------------------------------------------------------------------
// backward_query: d_q = scale · Σ_j dS_ij k_j with dS_ij = P_ij (d_out_i·v_j - delta_i) and
// delta_i = d_out_i·out_i (= Σ_j P_ij d_out_i·v_j). Also stores delta for backward_key_value,
// which runs next. Grid: (query blocks of 4·WG rows, H, B).

fn query_grad_load(d: u32) {
  if (d < D4) {
    own_a[0][d] = q[own_base.x + d] * p.scale;
    own_a[1][d] = q[own_base.y + d] * p.scale;
    own_a[2][d] = q[own_base.z + d] * p.scale;
    own_a[3][d] = q[own_base.w + d] * p.scale;
    own_b[0][d] = d_out[own_base.x + d];
    own_b[1][d] = d_out[own_base.y + d];
    own_b[2][d] = d_out[own_base.z + d];
    own_b[3][d] = d_out[own_base.w + d];
    row_delta += vec4<f32>(
      dot(own_b[0][d], out_saved[own_base.x + d]),
      dot(own_b[1][d], out_saved[own_base.y + d]),
      dot(own_b[2][d], out_saved[own_base.z + d]),
      dot(own_b[3][d], out_saved[own_base.w + d]),
    );
    acc_a[0][d] = vec4<f32>(0.0);
    acc_a[1][d] = vec4<f32>(0.0);
    acc_a[2][d] = vec4<f32>(0.0);
    acc_a[3][d] = vec4<f32>(0.0);
  }
}

fn query_grad_scores(d: u32) {
  if (d < D4) {
    let kr = walked_k(d);
    seen_a[0][d] = kr.r0;
    seen_a[1][d] = kr.r1;
    seen_a[2][d] = kr.r2;
    seen_a[3][d] = kr.r3;
    let vr = walked_v(d);
    score[0] += dot4(own_a[0][d], seen_a[0][d], seen_a[1][d], seen_a[2][d], seen_a[3][d]);
    score[1] += dot4(own_a[1][d], seen_a[0][d], seen_a[1][d], seen_a[2][d], seen_a[3][d]);
    score[2] += dot4(own_a[2][d], seen_a[0][d], seen_a[1][d], seen_a[2][d], seen_a[3][d]);
    score[3] += dot4(own_a[3][d], seen_a[0][d], seen_a[1][d], seen_a[2][d], seen_a[3][d]);
    score_b[0] += dot4(own_b[0][d], vr.r0, vr.r1, vr.r2, vr.r3);
    score_b[1] += dot4(own_b[1][d], vr.r0, vr.r1, vr.r2, vr.r3);
    score_b[2] += dot4(own_b[2][d], vr.r0, vr.r1, vr.r2, vr.r3);
    score_b[3] += dot4(own_b[3][d], vr.r0, vr.r1, vr.r2, vr.r3);
  }
}

fn query_grad_update(d: u32) {
  if (d < D4) {
    acc_a[0][d] += mix4(weight_b[0], seen_a[0][d], seen_a[1][d], seen_a[2][d], seen_a[3][d]);
    acc_a[1][d] += mix4(weight_b[1], seen_a[0][d], seen_a[1][d], seen_a[2][d], seen_a[3][d]);
    acc_a[2][d] += mix4(weight_b[2], seen_a[0][d], seen_a[1][d], seen_a[2][d], seen_a[3][d]);
    acc_a[3][d] += mix4(weight_b[3], seen_a[0][d], seen_a[1][d], seen_a[2][d], seen_a[3][d]);
  }
}

fn query_grad_store(d: u32) {
  if (d < D4) {
    if (own_valid.x) { d_q[own_base.x + d] = acc_a[0][d] * p.scale; }
    if (own_valid.y) { d_q[own_base.y + d] = acc_a[1][d] * p.scale; }
    if (own_valid.z) { d_q[own_base.z + d] = acc_a[2][d] * p.scale; }
    if (own_valid.w) { d_q[own_base.w + d] = acc_a[3][d] * p.scale; }
  }
}

fn query_grad_load_all() {
  query_grad_load(0u); query_grad_load(1u); query_grad_load(2u); query_grad_load(3u); query_grad_load(4u); query_grad_load(5u); query_grad_load(6u); query_grad_load(7u);
  query_grad_load(8u); query_grad_load(9u); query_grad_load(10u); query_grad_load(11u); query_grad_load(12u); query_grad_load(13u); query_grad_load(14u); query_grad_load(15u);
  query_grad_load(16u); query_grad_load(17u); query_grad_load(18u); query_grad_load(19u); query_grad_load(20u); query_grad_load(21u); query_grad_load(22u); query_grad_load(23u);
  query_grad_load(24u); query_grad_load(25u); query_grad_load(26u); query_grad_load(27u); query_grad_load(28u); query_grad_load(29u); query_grad_load(30u); query_grad_load(31u);
}

fn query_grad_scores_all() {
  query_grad_scores(0u); query_grad_scores(1u); query_grad_scores(2u); query_grad_scores(3u); query_grad_scores(4u); query_grad_scores(5u); query_grad_scores(6u); query_grad_scores(7u);
  query_grad_scores(8u); query_grad_scores(9u); query_grad_scores(10u); query_grad_scores(11u); query_grad_scores(12u); query_grad_scores(13u); query_grad_scores(14u); query_grad_scores(15u);
  query_grad_scores(16u); query_grad_scores(17u); query_grad_scores(18u); query_grad_scores(19u); query_grad_scores(20u); query_grad_scores(21u); query_grad_scores(22u); query_grad_scores(23u);
  query_grad_scores(24u); query_grad_scores(25u); query_grad_scores(26u); query_grad_scores(27u); query_grad_scores(28u); query_grad_scores(29u); query_grad_scores(30u); query_grad_scores(31u);
}

fn query_grad_update_all() {
  query_grad_update(0u); query_grad_update(1u); query_grad_update(2u); query_grad_update(3u); query_grad_update(4u); query_grad_update(5u); query_grad_update(6u); query_grad_update(7u);
  query_grad_update(8u); query_grad_update(9u); query_grad_update(10u); query_grad_update(11u); query_grad_update(12u); query_grad_update(13u); query_grad_update(14u); query_grad_update(15u);
  query_grad_update(16u); query_grad_update(17u); query_grad_update(18u); query_grad_update(19u); query_grad_update(20u); query_grad_update(21u); query_grad_update(22u); query_grad_update(23u);
  query_grad_update(24u); query_grad_update(25u); query_grad_update(26u); query_grad_update(27u); query_grad_update(28u); query_grad_update(29u); query_grad_update(30u); query_grad_update(31u);
}

fn query_grad_store_all() {
  query_grad_store(0u); query_grad_store(1u); query_grad_store(2u); query_grad_store(3u); query_grad_store(4u); query_grad_store(5u); query_grad_store(6u); query_grad_store(7u);
  query_grad_store(8u); query_grad_store(9u); query_grad_store(10u); query_grad_store(11u); query_grad_store(12u); query_grad_store(13u); query_grad_store(14u); query_grad_store(15u);
  query_grad_store(16u); query_grad_store(17u); query_grad_store(18u); query_grad_store(19u); query_grad_store(20u); query_grad_store(21u); query_grad_store(22u); query_grad_store(23u);
  query_grad_store(24u); query_grad_store(25u); query_grad_store(26u); query_grad_store(27u); query_grad_store(28u); query_grad_store(29u); query_grad_store(30u); query_grad_store(31u);
}

@compute @workgroup_size(WG)
fn backward_query(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  quad_lane = lid & 3u;
  let h = wid.y;
  let b = wid.z;
  let g = kv_head(h);
  let offset = p.tk - p.tq;
  let block = wid.x * WG * 4u;
  let rows = vec4<u32>(block + lid * 4u) + STEP4;
  own_valid = rows < vec4<u32>(p.tq);
  own_base = query_bases(b, rows.x, h);
  row_delta = vec4<f32>(0.0);
  query_grad_load_all();
  let st = query_stats(b, h, rows.x);
  let row_lse = vec4<f32>(lse[st.x], lse[st.y], lse[st.z], lse[st.w]);
  if (own_valid.x) { delta_out[st.x] = row_delta.x; }
  if (own_valid.y) { delta_out[st.y] = row_delta.y; }
  if (own_valid.z) { delta_out[st.z] = row_delta.z; }
  if (own_valid.w) { delta_out[st.w] = row_delta.w; }
  let positions = vec4<u32>(offset) + rows;
  let key_end = offset + min(block + WG * 4u, p.tq);

  for (var j0 = 0u; j0 < key_end; j0 += 4u) {
    seen_base = key_bases(b, j0, g);
    zero_scores();
    query_grad_scores_all();
    let keys = vec4<u32>(j0) + STEP4;
    // exp may overflow on masked entries; select keeps the inf/NaN out.
    weight_b[0] = select(vec4<f32>(0.0), exp(score[0] - row_lse.x) * (score_b[0] - row_delta.x), keys <= vec4<u32>(positions.x));
    weight_b[1] = select(vec4<f32>(0.0), exp(score[1] - row_lse.y) * (score_b[1] - row_delta.y), keys <= vec4<u32>(positions.y));
    weight_b[2] = select(vec4<f32>(0.0), exp(score[2] - row_lse.z) * (score_b[2] - row_delta.z), keys <= vec4<u32>(positions.z));
    weight_b[3] = select(vec4<f32>(0.0), exp(score[3] - row_lse.w) * (score_b[3] - row_delta.w), keys <= vec4<u32>(positions.w));
    query_grad_update_all();
  }
  query_grad_store_all();
}

// ---------------------------------------------------------------------------------------------
// backward_key_value: d_v_j = Σ_h Σ_i P_ij d_out_i and d_k_j = scale · Σ_h Σ_i dS_ij q_i, summed
// over the query heads h that share kv head g (one invocation owns the key row: no atomics).
// Needs delta from backward_query. Grid: (key blocks of 4·WG rows, Hkv, B).

fn key_grad_load(d: u32) {
  if (d < D4) {
    own_a[0][d] = k[own_base.x + d] * p.scale;
    own_a[1][d] = k[own_base.y + d] * p.scale;
    own_a[2][d] = k[own_base.z + d] * p.scale;
    own_a[3][d] = k[own_base.w + d] * p.scale;
    own_b[0][d] = v[own_base.x + d];
    own_b[1][d] = v[own_base.y + d];
    own_b[2][d] = v[own_base.z + d];
    own_b[3][d] = v[own_base.w + d];
    acc_a[0][d] = vec4<f32>(0.0);
    acc_a[1][d] = vec4<f32>(0.0);
    acc_a[2][d] = vec4<f32>(0.0);
    acc_a[3][d] = vec4<f32>(0.0);
    acc_b[0][d] = vec4<f32>(0.0);
    acc_b[1][d] = vec4<f32>(0.0);
    acc_b[2][d] = vec4<f32>(0.0);
    acc_b[3][d] = vec4<f32>(0.0);
  }
}

fn key_grad_scores(d: u32) {
  if (d < D4) {
    let qr = walked_q(d);
    seen_a[0][d] = qr.r0;
    seen_a[1][d] = qr.r1;
    seen_a[2][d] = qr.r2;
    seen_a[3][d] = qr.r3;
    let gr = walked_d_out(d);
    seen_b[0][d] = gr.r0;
    seen_b[1][d] = gr.r1;
    seen_b[2][d] = gr.r2;
    seen_b[3][d] = gr.r3;
    score[0] += dot4(own_a[0][d], seen_a[0][d], seen_a[1][d], seen_a[2][d], seen_a[3][d]);
    score[1] += dot4(own_a[1][d], seen_a[0][d], seen_a[1][d], seen_a[2][d], seen_a[3][d]);
    score[2] += dot4(own_a[2][d], seen_a[0][d], seen_a[1][d], seen_a[2][d], seen_a[3][d]);
    score[3] += dot4(own_a[3][d], seen_a[0][d], seen_a[1][d], seen_a[2][d], seen_a[3][d]);
    score_b[0] += dot4(own_b[0][d], seen_b[0][d], seen_b[1][d], seen_b[2][d], seen_b[3][d]);
    score_b[1] += dot4(own_b[1][d], seen_b[0][d], seen_b[1][d], seen_b[2][d], seen_b[3][d]);
    score_b[2] += dot4(own_b[2][d], seen_b[0][d], seen_b[1][d], seen_b[2][d], seen_b[3][d]);
    score_b[3] += dot4(own_b[3][d], seen_b[0][d], seen_b[1][d], seen_b[2][d], seen_b[3][d]);
  }
}

fn key_grad_update(d: u32) {
  if (d < D4) {
    acc_b[0][d] += mix4(weight[0], seen_b[0][d], seen_b[1][d], seen_b[2][d], seen_b[3][d]);
    acc_b[1][d] += mix4(weight[1], seen_b[0][d], seen_b[1][d], seen_b[2][d], seen_b[3][d]);
    acc_b[2][d] += mix4(weight[2], seen_b[0][d], seen_b[1][d], seen_b[2][d], seen_b[3][d]);
    acc_b[3][d] += mix4(weight[3], seen_b[0][d], seen_b[1][d], seen_b[2][d], seen_b[3][d]);
    acc_a[0][d] += mix4(weight_b[0], seen_a[0][d], seen_a[1][d], seen_a[2][d], seen_a[3][d]);
    acc_a[1][d] += mix4(weight_b[1], seen_a[0][d], seen_a[1][d], seen_a[2][d], seen_a[3][d]);
    acc_a[2][d] += mix4(weight_b[2], seen_a[0][d], seen_a[1][d], seen_a[2][d], seen_a[3][d]);
    acc_a[3][d] += mix4(weight_b[3], seen_a[0][d], seen_a[1][d], seen_a[2][d], seen_a[3][d]);
  }
}

fn key_grad_store(d: u32) {
  if (d < D4) {
    if (own_valid.x) { d_k[own_base.x + d] = acc_a[0][d] * p.scale; d_v[own_base.x + d] = acc_b[0][d]; }
    if (own_valid.y) { d_k[own_base.y + d] = acc_a[1][d] * p.scale; d_v[own_base.y + d] = acc_b[1][d]; }
    if (own_valid.z) { d_k[own_base.z + d] = acc_a[2][d] * p.scale; d_v[own_base.z + d] = acc_b[2][d]; }
    if (own_valid.w) { d_k[own_base.w + d] = acc_a[3][d] * p.scale; d_v[own_base.w + d] = acc_b[3][d]; }
  }
}

fn key_grad_load_all() {
  key_grad_load(0u); key_grad_load(1u); key_grad_load(2u); key_grad_load(3u); key_grad_load(4u); key_grad_load(5u); key_grad_load(6u); key_grad_load(7u);
  key_grad_load(8u); key_grad_load(9u); key_grad_load(10u); key_grad_load(11u); key_grad_load(12u); key_grad_load(13u); key_grad_load(14u); key_grad_load(15u);
  key_grad_load(16u); key_grad_load(17u); key_grad_load(18u); key_grad_load(19u); key_grad_load(20u); key_grad_load(21u); key_grad_load(22u); key_grad_load(23u);
  key_grad_load(24u); key_grad_load(25u); key_grad_load(26u); key_grad_load(27u); key_grad_load(28u); key_grad_load(29u); key_grad_load(30u); key_grad_load(31u);
}

fn key_grad_scores_all() {
  key_grad_scores(0u); key_grad_scores(1u); key_grad_scores(2u); key_grad_scores(3u); key_grad_scores(4u); key_grad_scores(5u); key_grad_scores(6u); key_grad_scores(7u);
  key_grad_scores(8u); key_grad_scores(9u); key_grad_scores(10u); key_grad_scores(11u); key_grad_scores(12u); key_grad_scores(13u); key_grad_scores(14u); key_grad_scores(15u);
  key_grad_scores(16u); key_grad_scores(17u); key_grad_scores(18u); key_grad_scores(19u); key_grad_scores(20u); key_grad_scores(21u); key_grad_scores(22u); key_grad_scores(23u);
  key_grad_scores(24u); key_grad_scores(25u); key_grad_scores(26u); key_grad_scores(27u); key_grad_scores(28u); key_grad_scores(29u); key_grad_scores(30u); key_grad_scores(31u);
}

fn key_grad_update_all() {
  key_grad_update(0u); key_grad_update(1u); key_grad_update(2u); key_grad_update(3u); key_grad_update(4u); key_grad_update(5u); key_grad_update(6u); key_grad_update(7u);
  key_grad_update(8u); key_grad_update(9u); key_grad_update(10u); key_grad_update(11u); key_grad_update(12u); key_grad_update(13u); key_grad_update(14u); key_grad_update(15u);
  key_grad_update(16u); key_grad_update(17u); key_grad_update(18u); key_grad_update(19u); key_grad_update(20u); key_grad_update(21u); key_grad_update(22u); key_grad_update(23u);
  key_grad_update(24u); key_grad_update(25u); key_grad_update(26u); key_grad_update(27u); key_grad_update(28u); key_grad_update(29u); key_grad_update(30u); key_grad_update(31u);
}

fn key_grad_store_all() {
  key_grad_store(0u); key_grad_store(1u); key_grad_store(2u); key_grad_store(3u); key_grad_store(4u); key_grad_store(5u); key_grad_store(6u); key_grad_store(7u);
  key_grad_store(8u); key_grad_store(9u); key_grad_store(10u); key_grad_store(11u); key_grad_store(12u); key_grad_store(13u); key_grad_store(14u); key_grad_store(15u);
  key_grad_store(16u); key_grad_store(17u); key_grad_store(18u); key_grad_store(19u); key_grad_store(20u); key_grad_store(21u); key_grad_store(22u); key_grad_store(23u);
  key_grad_store(24u); key_grad_store(25u); key_grad_store(26u); key_grad_store(27u); key_grad_store(28u); key_grad_store(29u); key_grad_store(30u); key_grad_store(31u);
}

@compute @workgroup_size(WG)
fn backward_key_value(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  quad_lane = lid & 3u;
  let g = wid.y;
  let b = wid.z;
  let group = p.heads / p.kv_heads;
  let offset = p.tk - p.tq;
  let block = wid.x * WG * 4u;
  let keys = vec4<u32>(block + lid * 4u) + STEP4;
  own_valid = keys < vec4<u32>(p.tk);
  own_base = key_bases(b, keys.x, g);
  key_grad_load_all();
  // The first query row that sees the block's first key.
  let query_start = select(0u, block - offset, block > offset);

  for (var t = 0u; t < group; t++) {
    let h = g * group + t;
    for (var i0 = query_start; i0 < p.tq; i0 += 4u) {
      seen_base = query_bases(b, i0, h);
      let st = query_stats(b, h, i0);
      let row_lse = walked_lse(st);
      let row_deltas = walked_delta(st);
      zero_scores();
      key_grad_scores_all();
      let rows = vec4<u32>(i0) + STEP4;
      let positions = vec4<u32>(offset) + rows;
      let in_range = rows < vec4<u32>(p.tq);
      // exp may overflow on masked entries; select keeps the inf/NaN out.
      weight[0] = select(vec4<f32>(0.0), exp(score[0] - row_lse), (positions >= vec4<u32>(keys.x)) & in_range);
      weight[1] = select(vec4<f32>(0.0), exp(score[1] - row_lse), (positions >= vec4<u32>(keys.y)) & in_range);
      weight[2] = select(vec4<f32>(0.0), exp(score[2] - row_lse), (positions >= vec4<u32>(keys.z)) & in_range);
      weight[3] = select(vec4<f32>(0.0), exp(score[3] - row_lse), (positions >= vec4<u32>(keys.w)) & in_range);
      weight_b[0] = weight[0] * (score_b[0] - row_deltas);
      weight_b[1] = weight[1] * (score_b[1] - row_deltas);
      weight_b[2] = weight[2] * (score_b[2] - row_deltas);
      weight_b[3] = weight[3] * (score_b[3] - row_deltas);
      key_grad_update_all();
    }
  }
  key_grad_store_all();
}

// ---------------------------------------------------------------------------------------------
// attention_received: received[b, h, j] = Σ over query rows at positions > j of w_i · P_ij,
// P recomputed from lse. Grid: (key blocks of 4·WG rows, H, B). With use_key_start the blocks start at
// key_start[b] instead of key 0, and the keys before it are written as zeros (each workgroup zeroes its
// own block's share of them): XTF asks only for the answer's keys, and the prompt's keys, seen by every
// later query, are the most expensive ones (over half the work at GSM8K lengths). Blocks aligned to 0
// instead computed the whole block holding key_start: a quarter more pairs than asked for on GSM8K.

fn received_load(d: u32) {
  if (d < D4) {
    own_a[0][d] = k[own_base.x + d] * p.scale;
    own_a[1][d] = k[own_base.y + d] * p.scale;
    own_a[2][d] = k[own_base.z + d] * p.scale;
    own_a[3][d] = k[own_base.w + d] * p.scale;
  }
}

fn received_scores(d: u32) {
  if (d < D4) {
    let r = walked_q(d);
    score[0] += dot4(own_a[0][d], r.r0, r.r1, r.r2, r.r3);
    score[1] += dot4(own_a[1][d], r.r0, r.r1, r.r2, r.r3);
    score[2] += dot4(own_a[2][d], r.r0, r.r1, r.r2, r.r3);
    score[3] += dot4(own_a[3][d], r.r0, r.r1, r.r2, r.r3);
  }
}

fn received_load_all() {
  received_load(0u); received_load(1u); received_load(2u); received_load(3u); received_load(4u); received_load(5u); received_load(6u); received_load(7u);
  received_load(8u); received_load(9u); received_load(10u); received_load(11u); received_load(12u); received_load(13u); received_load(14u); received_load(15u);
  received_load(16u); received_load(17u); received_load(18u); received_load(19u); received_load(20u); received_load(21u); received_load(22u); received_load(23u);
  received_load(24u); received_load(25u); received_load(26u); received_load(27u); received_load(28u); received_load(29u); received_load(30u); received_load(31u);
}

fn received_scores_all() {
  received_scores(0u); received_scores(1u); received_scores(2u); received_scores(3u); received_scores(4u); received_scores(5u); received_scores(6u); received_scores(7u);
  received_scores(8u); received_scores(9u); received_scores(10u); received_scores(11u); received_scores(12u); received_scores(13u); received_scores(14u); received_scores(15u);
  received_scores(16u); received_scores(17u); received_scores(18u); received_scores(19u); received_scores(20u); received_scores(21u); received_scores(22u); received_scores(23u);
  received_scores(24u); received_scores(25u); received_scores(26u); received_scores(27u); received_scores(28u); received_scores(29u); received_scores(30u); received_scores(31u);
}

// The owned keys' values, those that exist.
fn store_received(base: u32, keys: vec4<u32>, values: vec4<f32>) {
  if (keys.x < p.tk) { received[base + keys.x] = values.x; }
  if (keys.y < p.tk) { received[base + keys.y] = values.y; }
  if (keys.z < p.tk) { received[base + keys.z] = values.z; }
  if (keys.w < p.tk) { received[base + keys.w] = values.w; }
}

@compute @workgroup_size(WG)
fn attention_received(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  quad_lane = lid & 3u;
  let h = wid.y;
  let b = wid.z;
  let g = kv_head(h);
  let offset = p.tk - p.tq;
  let base = (b * p.heads + h) * p.tk;
  var first = 0u;
  if (p.use_key_start != 0u) {
    first = min(key_start[b], p.tk);
    let unasked = vec4<u32>(wid.x * WG * 4u + lid * 4u) + STEP4;
    store_received(base, select(vec4<u32>(p.tk), unasked, unasked < vec4<u32>(first)), vec4<f32>(0.0));
  }
  let block = first + wid.x * WG * 4u;
  if (block >= p.tk) {
    return;
  }
  let keys = vec4<u32>(block + lid * 4u) + STEP4;
  own_base = key_bases(b, keys.x, g);
  received_load_all();
  // The first query row strictly after the block's first key.
  let query_start = select(0u, block + 1u - offset, block + 1u > offset);

  var total = vec4<f32>(0.0);
  for (var i0 = query_start; i0 < p.tq; i0 += 4u) {
    seen_base = query_bases(b, i0, h);
    let row_lse = walked_lse(query_stats(b, h, i0));
    let rows = vec4<u32>(i0) + STEP4;
    var w = vec4<f32>(1.0);
    if (p.use_weights != 0u) {
      w = walked_weights(vec4<u32>(b * p.tq) + min(rows, vec4<u32>(p.tq - 1u)));
    }
    zero_scores();
    received_scores_all();
    let positions = vec4<u32>(offset) + rows;
    let in_range = rows < vec4<u32>(p.tq);
    // Σ_c over the 4 query rows, for each owned key; strictly later rows only.
    total += vec4<f32>(
      row_sum(select(vec4<f32>(0.0), exp(score[0] - row_lse) * w, (positions > vec4<u32>(keys.x)) & in_range)),
      row_sum(select(vec4<f32>(0.0), exp(score[1] - row_lse) * w, (positions > vec4<u32>(keys.y)) & in_range)),
      row_sum(select(vec4<f32>(0.0), exp(score[2] - row_lse) * w, (positions > vec4<u32>(keys.z)) & in_range)),
      row_sum(select(vec4<f32>(0.0), exp(score[3] - row_lse) * w, (positions > vec4<u32>(keys.w)) & in_range)),
    );
  }

  store_received(base, keys, total);
}

// ---------------------------------------------------------------------------------------------
// attention_probs: probs[b, h, i, j] = P_ij, zero above the diagonal; a small-input / inspection
// view, so one invocation per probability is fine. Grid: (key blocks of WG keys, Tq, B·H).

@compute @workgroup_size(WG)
fn attention_probs(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let j = gid.x;
  let i = wid.y;
  let b = wid.z / p.heads;
  let h = wid.z % p.heads;
  if (j >= p.tk) {
    return;
  }
  var pij = 0.0;
  if (j <= p.tk - p.tq + i) {
    let qb = q_base(b, i, h);
    let kb = kv_base(b, j, kv_head(h));
    var s = 0.0;
    for (var d = 0u; d < D4; d++) {
      s += dot(q[qb + d], k[kb + d]);
    }
    pij = exp(s * p.scale - lse[row_stat(b, h, i)]);
  }
  probs[(wid.z * p.tq + i) * p.tk + j] = pij;
}
