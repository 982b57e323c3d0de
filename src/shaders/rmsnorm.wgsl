// RMSNorm over the last axis: y = x · rstd · weight, rstd = 1 / sqrt(mean(x²) + eps).
//
// One invocation per row, no workgroup reduction: on software GPUs (SwiftShader) a workgroup
// barrier costs far more than the arithmetic (a 64-wide workgroup per row with a tree reduction
// measured 20-80x slower than this). `*4` entry points read rows as vec4 (cols % 4 == 0);
// the scalar ones serve any width.
//
// Backward (r = rstd, g = dy · weight, C columns):
//   dx = r·g − x · r³/C · Σ_c g·x            (`backward_input`, one invocation per row)
//   dweight = Σ_rows dy · x · r              (`weight_grad`: one invocation per (column, chunk of
//   rows) writes a partial row, `sum_partials` adds the partial rows in a fixed order. No float
//   atomics in WGSL, and a fixed order keeps the result deterministic.)
//
// `add_forward` fuses the residual add before a norm: sum = a + b, written out (the residual stream
// goes on), then y = RMSNorm(sum), in one pass over the row instead of an add kernel and a norm kernel
// that reads the sum back. sum is rounded to f32 before it is squared, so the results are those of
// the two kernels, bit for bit.
//
// The runtime binds tensors at @binding(1), (2), ... in call order, so entry points with other
// inputs alias those binding numbers under their own names (grouped per entry point below).

struct Params {
  rows: u32,
  cols: u32,
  eps: f32,
  row_groups: u32,     // workgroups per row of the 2D dispatch grid
  rows_per_chunk: u32, // weight_grad: rows one invocation sums
  chunks: u32,         // sum_partials: number of partial rows
  accumulate: u32,     // weight_grad, sum_partials: 1 = add into the output, 0 = overwrite it
  pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

override WG: u32 = 64;

fn row_index(gid: vec3<u32>) -> u32 {
  return gid.y * p.row_groups * WG + gid.x;
}

// forward [x, weight, rstd, y] and backward_input [x, weight, rstd, dx, dy]
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read> weight4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> rstd: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> y4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read> dy4: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = row_index(gid);
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  var squares = 0.0;
  for (var c = 0u; c < p.cols; c++) { squares += x[base + c] * x[base + c]; }
  let r = inverseSqrt(squares / f32(p.cols) + p.eps);
  for (var c = 0u; c < p.cols; c++) { y[base + c] = x[base + c] * r * weight[c]; }
  rstd[row] = r;
}

@compute @workgroup_size(WG)
fn forward4(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = row_index(gid);
  if (row >= p.rows) { return; }
  let quads = p.cols / 4u;
  let base = row * quads;
  var squares = vec4(0.0);
  for (var q = 0u; q < quads; q++) { squares += x4[base + q] * x4[base + q]; }
  let r = inverseSqrt(dot(squares, vec4(1.0)) / f32(p.cols) + p.eps);
  for (var q = 0u; q < quads; q++) { y4[base + q] = x4[base + q] * r * weight4[q]; }
  rstd[row] = r;
}

// add_forward [a, weight, rstd, y, b, sum]: a at x's binding, b at dy's.
@group(0) @binding(6) var<storage, read_write> sum_out: array<f32>;
@group(0) @binding(6) var<storage, read_write> sum_out4: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn add_forward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = row_index(gid);
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  var squares = 0.0;
  for (var c = 0u; c < p.cols; c++) {
    let s = x[base + c] + dy[base + c];
    sum_out[base + c] = s;
    squares += s * s;
  }
  let r = inverseSqrt(squares / f32(p.cols) + p.eps);
  for (var c = 0u; c < p.cols; c++) { y[base + c] = sum_out[base + c] * r * weight[c]; }
  rstd[row] = r;
}

@compute @workgroup_size(WG)
fn add_forward4(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = row_index(gid);
  if (row >= p.rows) { return; }
  let quads = p.cols / 4u;
  let base = row * quads;
  var squares = vec4(0.0);
  for (var q = 0u; q < quads; q++) {
    let s = x4[base + q] + dy4[base + q];
    sum_out4[base + q] = s;
    squares += s * s;
  }
  let r = inverseSqrt(dot(squares, vec4(1.0)) / f32(p.cols) + p.eps);
  for (var q = 0u; q < quads; q++) { y4[base + q] = sum_out4[base + q] * r * weight4[q]; }
  rstd[row] = r;
}

@compute @workgroup_size(WG)
fn backward_input(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = row_index(gid);
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  var gx = 0.0;
  for (var c = 0u; c < p.cols; c++) { gx += dy[base + c] * weight[c] * x[base + c]; }
  let r = rstd[row];
  let k = gx * r * r * r / f32(p.cols);
  for (var c = 0u; c < p.cols; c++) { dx[base + c] = r * dy[base + c] * weight[c] - k * x[base + c]; }
}

@compute @workgroup_size(WG)
fn backward_input4(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = row_index(gid);
  if (row >= p.rows) { return; }
  let quads = p.cols / 4u;
  let base = row * quads;
  var gx = vec4(0.0);
  for (var q = 0u; q < quads; q++) { gx += dy4[base + q] * weight4[q] * x4[base + q]; }
  let r = rstd[row];
  let k = dot(gx, vec4(1.0)) * r * r * r / f32(p.cols);
  for (var q = 0u; q < quads; q++) { dx4[base + q] = r * dy4[base + q] * weight4[q] - k * x4[base + q]; }
}

// weight_grad [x, dy, rstd, partial]: invocation (column c or quad, chunk) sums its chunk's rows
// into partial[chunk, c]. With one chunk, `partial` is the weight gradient itself.
@group(0) @binding(2) var<storage, read> dy_by_column: array<f32>;
@group(0) @binding(2) var<storage, read> dy_by_column4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> partial: array<f32>;
@group(0) @binding(4) var<storage, read_write> partial4: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn weight_grad(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= p.cols) { return; }
  let first = gid.y * p.rows_per_chunk;
  let last = min(first + p.rows_per_chunk, p.rows);
  var sum = 0.0;
  for (var row = first; row < last; row++) { sum += dy_by_column[row * p.cols + c] * x[row * p.cols + c] * rstd[row]; }
  let out = gid.y * p.cols + c;
  if (p.accumulate == 1u) { sum += partial[out]; }
  partial[out] = sum;
}

@compute @workgroup_size(WG)
fn weight_grad4(@builtin(global_invocation_id) gid: vec3<u32>) {
  let quads = p.cols / 4u;
  let q = gid.x;
  if (q >= quads) { return; }
  let first = gid.y * p.rows_per_chunk;
  let last = min(first + p.rows_per_chunk, p.rows);
  var sum = vec4(0.0);
  for (var row = first; row < last; row++) { sum += dy_by_column4[row * quads + q] * x4[row * quads + q] * rstd[row]; }
  let out = gid.y * quads + q;
  if (p.accumulate == 1u) { sum += partial4[out]; }
  partial4[out] = sum;
}

// sum_partials [partial, weight_grad]: weight_grad[c] (+)= Σ_chunk partial[chunk, c], in chunk order.
@group(0) @binding(1) var<storage, read> partial_in: array<f32>;
@group(0) @binding(2) var<storage, read_write> weight_grad_out: array<f32>;

@compute @workgroup_size(WG)
fn sum_partials(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= p.cols) { return; }
  var sum = 0.0;
  for (var k = 0u; k < p.chunks; k++) { sum += partial_in[k * p.cols + c]; }
  if (p.accumulate == 1u) { sum += weight_grad_out[c]; }
  weight_grad_out[c] = sum;
}
