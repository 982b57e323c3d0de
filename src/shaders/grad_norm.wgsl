// Global L2 norm of many gradient tensors and the clip factor min(1, max_norm / (norm + 1e-6)).
// `sum_squares` runs once per tensor: each of its workgroups writes one partial Σ g² into its own
// slot of `partials`; `finalize` (one workgroup) adds every slot. The chunking depends only on the
// sizes and every sum has a fixed order, so the result is bitwise reproducible.

struct Params {
  n: u32,          // sum_squares: elements of this tensor; finalize: number of partial slots
  groups: u32,     // sum_squares: workgroups of this dispatch
  slot: u32,       // sum_squares: first partial slot of this tensor
  max_norm: f32,   // finalize
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> partials: array<f32>;
// Binding 2 is the gradient for sum_squares and the norm output for finalize.
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> norm: array<f32>;
@group(0) @binding(3) var<storage, read_write> clip: array<f32>;

override WG: u32 = 64u;
const FAN = 8u;
var<workgroup> part: array<f32, WG>;

// Two levels of FAN-way sums instead of a binary tree: barriers are what software GPUs pay for most.
fn tree_sum(lid: u32, s: f32) -> f32 {
  part[lid] = s;
  workgroupBarrier();
  let chunk = WG / FAN;
  if (lid < FAN) {
    var t = 0.0;
    for (var k = lid * chunk; k < (lid + 1u) * chunk; k++) { t += part[k]; }
    part[lid * chunk] = t;
  }
  workgroupBarrier();
  var total = 0.0;
  for (var k = 0u; k < FAN; k++) { total += part[k * chunk]; }
  return total;
}

@compute @workgroup_size(WG)
fn sum_squares(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  var acc = vec4<f32>(0.0);
  let last = vec4<u32>(p.n - 1u);
  let lane = vec4<u32>(0u, 1u, 2u, 3u);
  // Grid-stride over groups of 4 consecutive elements; lanes past n are clamped and masked.
  for (var i = (wg.x * WG + lid) * 4u; i < p.n; i += p.groups * WG * 4u) {
    let idx = vec4<u32>(i) + lane;
    let j = min(idx, last);
    let g = vec4<f32>(grad[j.x], grad[j.y], grad[j.z], grad[j.w]);
    acc += select(vec4<f32>(0.0), g * g, idx < vec4<u32>(p.n));
  }
  let total = tree_sum(lid, (acc.x + acc.y) + (acc.z + acc.w));
  if (lid == 0u) { partials[p.slot + wg.x] = total; }
}

@compute @workgroup_size(WG)
fn finalize(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = lid; i < p.n; i += WG) { s += partials[i]; }
  let total = tree_sum(lid, s);
  if (lid == 0u) {
    let n = sqrt(total);
    norm[0] = n;
    clip[0] = min(1.0, p.max_norm / (n + 1e-6));
  }
}
