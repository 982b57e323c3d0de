// Token-weighted cross-entropy over logits [rows, vocab], fused with its backward.
// One workgroup per row: an online max/sum pass (one read of the row) reduced in workgroup
// memory, then, for training, d_logits = (softmax - onehot(target)) * w_row / Σw written over
// the logits in place, so no second vocabulary-sized buffer exists.
// The *_vec4 entry points read the row as vec4 (vocab % 4 == 0); *_scalar ones take any vocab.

struct Params {
  rows: u32,
  vocab: u32,
  row_groups: u32,       // workgroups per row of the 2D dispatch grid
  inv_weight_sum: f32,   // 1 / Σw over the optimiser step, 0 when Σw = 0 (then every gradient is 0)
  invalid: f32,          // NaN, reported as loss and probability of a row whose target is >= vocab
}

@group(0) @binding(0) var<uniform> p: Params;
// The same buffer seen two ways; each entry point uses exactly one of them.
@group(0) @binding(1) var<storage, read_write> logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> logits4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> prob: array<f32>;
@group(0) @binding(5) var<storage, read> loss_mask: array<f32>;

override WG: u32 = 64u;
const FAN = 8u;
// A finite start for the running max: with -inf, combining two empty partials gives exp(-inf + inf) = NaN.
const LOWEST = -3.0e38;

var<workgroup> part_max: array<f32, WG>;
var<workgroup> part_sum: array<f32, WG>;

struct RowStats {
  row_max: f32,
  inv_sum: f32,   // 1 / Σ exp(x - max)
  log_sum: f32,   // log Σ exp(x - max)
}

fn row_index(wg: vec3<u32>) -> u32 {
  return wg.y * p.row_groups + wg.x;
}

// Merges the per-thread (max, Σ exp(x - max)) pairs; every thread gets the row's pair.
// Two levels of FAN-way merges instead of a binary tree: barriers are what software GPUs
// pay for most.
fn merge(a: vec2<f32>, m2: f32, s2: f32) -> vec2<f32> {
  let mm = max(a.x, m2);
  return vec2<f32>(mm, a.y * exp(a.x - mm) + s2 * exp(m2 - mm));
}

fn reduce_row(lid: u32, m: f32, s: f32) -> RowStats {
  part_max[lid] = m;
  part_sum[lid] = s;
  workgroupBarrier();
  let chunk = WG / FAN;
  if (lid < FAN) {
    var acc = vec2<f32>(LOWEST, 0.0);
    for (var k = lid * chunk; k < (lid + 1u) * chunk; k++) { acc = merge(acc, part_max[k], part_sum[k]); }
    part_max[lid * chunk] = acc.x;
    part_sum[lid * chunk] = acc.y;
  }
  workgroupBarrier();
  var acc = vec2<f32>(LOWEST, 0.0);
  for (var k = 0u; k < FAN; k++) { acc = merge(acc, part_max[k * chunk], part_sum[k * chunk]); }
  return RowStats(acc.x, 1.0 / acc.y, log(acc.y));
}

// Thread 0 reports -log p(target) and p(target). `x_target` was read before any write-back.
fn write_loss(row: u32, lid: u32, target_id: u32, x_target: f32, st: RowStats) {
  if (lid != 0u) { return; }
  if (target_id >= p.vocab) {
    loss[row] = p.invalid;
    prob[row] = p.invalid;
    return;
  }
  let shifted = x_target - st.row_max;
  loss[row] = st.log_sum - shifted;
  prob[row] = exp(shifted) * st.inv_sum;
}

fn read_target_logit(row: u32, target_id: u32) -> f32 {
  return logits[row * p.vocab + min(target_id, p.vocab - 1u)];
}

fn read_target_logit4(row: u32, target_id: u32) -> f32 {
  let i = row * p.vocab + min(target_id, p.vocab - 1u);
  return logits4[i / 4u][i % 4u];
}

fn stats_scalar(row: u32, lid: u32) -> RowStats {
  let base = row * p.vocab;
  var m = LOWEST;
  var s = 0.0;
  for (var j = lid; j < p.vocab; j += WG) {
    let x = logits[base + j];
    if (x > m) {
      s = s * exp(m - x);
      m = x;
    }
    s += exp(x - m);
  }
  return reduce_row(lid, m, s);
}

fn stats_vec4(row: u32, lid: u32) -> RowStats {
  let base = row * (p.vocab / 4u);
  var m = LOWEST;
  var s = 0.0;
  for (var j = lid; j < p.vocab / 4u; j += WG) {
    let x = logits4[base + j];
    let mx = max(max(x.x, x.y), max(x.z, x.w));
    if (mx > m) {
      s = s * exp(m - mx);
      m = mx;
    }
    let e = exp(x - vec4<f32>(m));
    s += (e.x + e.y) + (e.z + e.w);
  }
  return reduce_row(lid, m, s);
}

// The gradient coefficient of a row: 0 for masked rows, for Σw = 0, and for invalid targets.
fn grad_coef(row: u32, target_id: u32) -> f32 {
  if (target_id >= p.vocab) { return 0.0; }
  return loss_mask[row] * p.inv_weight_sum;
}

// Scoring pass: loss and p(target) only; the logits are left untouched.
@compute @workgroup_size(WG)
fn score_scalar(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = row_index(wg);
  if (row >= p.rows) { return; }
  let target_id = targets[row];
  let x_target = read_target_logit(row, target_id);
  let st = stats_scalar(row, lid);
  write_loss(row, lid, target_id, x_target, st);
}

@compute @workgroup_size(WG)
fn score_vec4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = row_index(wg);
  if (row >= p.rows) { return; }
  let target_id = targets[row];
  let x_target = read_target_logit4(row, target_id);
  let st = stats_vec4(row, lid);
  write_loss(row, lid, target_id, x_target, st);
}

// Training pass: loss, p(target), and d_logits over the logits. Each thread rewrites exactly
// the elements it read in the stats pass, after the reduction's barriers.
@compute @workgroup_size(WG)
fn train_scalar(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = row_index(wg);
  if (row >= p.rows) { return; }
  let target_id = targets[row];
  let x_target = read_target_logit(row, target_id);
  let st = stats_scalar(row, lid);
  write_loss(row, lid, target_id, x_target, st);
  let coef = grad_coef(row, target_id);
  let base = row * p.vocab;
  if (coef == 0.0) {
    for (var j = lid; j < p.vocab; j += WG) { logits[base + j] = 0.0; }
    return;
  }
  let scale = st.inv_sum * coef;
  for (var j = lid; j < p.vocab; j += WG) {
    let g = exp(logits[base + j] - st.row_max) * scale;
    logits[base + j] = select(g, g - coef, j == target_id);
  }
}

@compute @workgroup_size(WG)
fn train_vec4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = row_index(wg);
  if (row >= p.rows) { return; }
  let target_id = targets[row];
  let x_target = read_target_logit4(row, target_id);
  let st = stats_vec4(row, lid);
  write_loss(row, lid, target_id, x_target, st);
  let coef = grad_coef(row, target_id);
  let n4 = p.vocab / 4u;
  let base = row * n4;
  if (coef == 0.0) {
    for (var j = lid; j < n4; j += WG) { logits4[base + j] = vec4<f32>(0.0); }
    return;
  }
  let scale = st.inv_sum * coef;
  let lane = vec4<u32>(0u, 1u, 2u, 3u);
  for (var j = lid; j < n4; j += WG) {
    let g = exp(logits4[base + j] - vec4<f32>(st.row_max)) * scale;
    let onehot = select(vec4<f32>(0.0), vec4<f32>(coef), vec4<u32>(j * 4u) + lane == vec4<u32>(target_id));
    logits4[base + j] = g - onehot;
  }
}
