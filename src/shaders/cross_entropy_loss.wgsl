// The step loss Σ w·loss / Σw from cross_entropy's per-token losses, reduced on the GPU into a
// [1] tensor so a training step needs no host read. Kept apart from cross_entropy.wgsl because
// its bindings differ. One workgroup, fixed order: the result is deterministic.

struct Params {
  rows: u32,
  inv_weight_sum: f32,  // 1 / Σw over the optimiser step, 0 when Σw = 0
  accumulate: u32,      // add to loss_sum[0] (gradient-accumulation micro-batches) instead of overwriting
  pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> loss: array<f32>;
@group(0) @binding(2) var<storage, read> loss_mask: array<f32>;
@group(0) @binding(3) var<storage, read_write> loss_sum: array<f32>;

const WG = 64u;
var<workgroup> part_sum: array<f32, WG>;

// Masked rows contribute exactly 0, even when their loss is not finite (an invalid padding
// target reports NaN); a NaN from a row with weight stays visible.
@compute @workgroup_size(WG)
fn weighted_loss(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = lid; i < p.rows; i += WG) {
    let w = loss_mask[i];
    s += select(w * loss[i], 0.0, w == 0.0);
  }
  part_sum[lid] = s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { part_sum[lid] += part_sum[lid + stride]; }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let mean = part_sum[0] * p.inv_weight_sum;
    loss_sum[0] = select(mean, loss_sum[0] + mean, p.accumulate != 0u);
  }
}
