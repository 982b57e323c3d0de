// Elementwise ops over flat f32 arrays. Forward and backward side by side.
// Each invocation handles 4 consecutive elements (vec4-friendly on software GPUs);
// the dispatch is 2D so that very large tensors stay under the per-dimension group limit.

struct Params {
  n: u32,          // number of elements
  row_groups: u32, // workgroups per row of the 2D dispatch grid
  alpha: f32,      // scale for `scale` / `axpy` / `add`
  cols: u32,       // row length for `add_bias`
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

override WG: u32 = 256;

fn base_index(gid: vec3<u32>) -> u32 {
  return (gid.y * p.row_groups * WG + gid.x) * 4u;
}

// out = alpha * a  (also the backward of scale: d_a = alpha * d_out)
@compute @workgroup_size(WG)
fn scale(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = base_index(gid);
  for (var k = 0u; k < 4u; k++) {
    if (i + k < p.n) { out[i + k] = p.alpha * a[i + k]; }
  }
}

// out += alpha * a  (residual add, gradient accumulation; add is alpha = 1)
@compute @workgroup_size(WG)
fn axpy(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = base_index(gid);
  for (var k = 0u; k < 4u; k++) {
    if (i + k < p.n) { out[i + k] = out[i + k] + p.alpha * a[i + k]; }
  }
}

@group(0) @binding(3) var<storage, read> b: array<f32>;

// out = a + alpha * b  (add, residual; backward of add is the identity for both inputs)
@compute @workgroup_size(WG)
fn add(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = base_index(gid);
  for (var k = 0u; k < 4u; k++) {
    if (i + k < p.n) { out[i + k] = a[i + k] + p.alpha * b[i + k]; }
  }
}

// out[r, c] += alpha * a[c]: a bias vector broadcast over rows (a holds `cols` values).
@compute @workgroup_size(WG)
fn add_bias(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = base_index(gid);
  for (var k = 0u; k < 4u; k++) {
    if (i + k < p.n) { out[i + k] = out[i + k] + p.alpha * a[(i + k) % p.cols]; }
  }
}

// out = a * b elementwise (e.g. squared embedding rows for their norms).
@compute @workgroup_size(WG)
fn mul(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = base_index(gid);
  for (var k = 0u; k < 4u; k++) {
    if (i + k < p.n) { out[i + k] = a[i + k] * b[i + k]; }
  }
}

// PCG hash (Jarzynski & Olano 2020): a counter-based random number per element, so the same
// (seed, index) gives the same dropout mask in forward and backward without storing it.
fn pcg_hash(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

// Inverted dropout: out = a / keep where kept, 0 elsewhere. alpha = 1 / keep, cols = seed.
@compute @workgroup_size(WG)
fn dropout(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = base_index(gid);
  let keep = 1.0 / p.alpha;
  for (var k = 0u; k < 4u; k++) {
    let idx = i + k;
    if (idx < p.n) {
      let u = f32(pcg_hash(idx ^ pcg_hash(p.cols)) >> 8u) / 16777216.0;
      out[idx] = select(0.0, a[idx] * p.alpha, u < keep);
    }
  }
}
