// Batched f32 matmul: C = alpha·op(A)·op(B), or C += ... when accumulating; op = identity or
// transpose (override constants TRANS_A / TRANS_B). Row-major storage:
//   A [M, K] or, transposed, [K, M];  B [K, N] or, transposed, [N, K];  C [M, N]
// each optionally batched (a batch stride of 0 shares an operand across the batch), and
// `reduce` > 1 sums several input batches into one output (the gradient of a shared operand).
//
// Tiling: every invocation computes an 8x8 block of C as four 4x4 blocks held in mat4x4
// accumulators, loading operands as vec4s straight from storage (no workgroup memory: on CPU
// implementations like SwiftShader a workgroup barrier costs more than the loads it saves, and
// workgroup memory reads are per-lane gathers too). Per 4-step of k, a 4x4 block of op(A) and one
// of op(B) are multiplied as matrices: 64 multiply-adds per eight vec4 loads. Groups of four
// invocations (a "quad") cover a 16x16 tile; matmul_quad.wgsl is the same scheme where the quad
// shares its loads through subgroup quad swaps (and, for wide outputs, covers 16x32). Larger
// blocks per invocation were slower on SwiftShader (more loop code than the instruction cache).
//
// Low-rank term (LoRA fused into its projection): C = alpha·(op(A)·op(B) + lr_scale·op(A2)·op(B2)),
// A2 [M, r], B2 [r, N] under the same transposes, summed by a second, short k loop into the same
// accumulators, so y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ is one dispatch and one pass over y instead of two.
//
// Alignment: rows of the operands must be whole vec4s and K a multiple of 4; src/ops/matmul.ts
// zero-pads operands that are not (entry point `pad` below). M and N are free: loads past the
// last row or column are clamped and their results are not stored.

struct Params {
  M: u32,          // output rows (op(A) rows)
  N: u32,          // output columns (op(B) columns)
  K4: u32,         // inner dimension in steps of 4
  tiles_n: u32,    // 16x16 tiles per row of the output
  tiles: u32,      // 16x16 tiles per output matrix
  reduce: u32,     // input batches summed into each output matrix (1 unless reducing over batch)
  accumulate: u32, // 1: C += alpha·op(A)·op(B); 0: C = alpha·op(A)·op(B)
  alpha: f32,
  a_rs: u32,       // A row stride in vec4s (A stored [M, K] or, transposed, [K, M])
  a_lim: u32,      // last valid M-side index of A: a row (stored [M, K]) or a vec4 column ([K, M])
  a_bs: u32,       // A batch stride in vec4s, 0 when A is shared across the batch
  b_rs: u32,       // B row stride in vec4s (B stored [K, N] or, transposed, [N, K])
  b_lim: u32,      // last valid N-side index of B: a vec4 column (stored [K, N]) or a row ([N, K])
  b_bs: u32,       // B batch stride in vec4s, 0 when shared
  c_bs: u32,       // C batch stride in floats
  groups_x: u32,   // workgroups along x (the grid spills into y for very large outputs)
  // The optional low-rank term (LoRA): + lr_scale·alpha·op(lr_a)·op(lr_b), same transposes, inner
  // dimension lr_k4 (0: none; the bindings are then the main operands again and never read).
  lr_k4: u32,
  lr_scale: f32,
  lr_a_rs: u32,
  lr_a_lim: u32,
  lr_a_bs: u32,
  lr_b_rs: u32,
  lr_b_lim: u32,
  lr_b_bs: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<storage, read> lr_a: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> lr_b: array<vec4<f32>>;

override TRANS_A: bool = false;
override TRANS_B: bool = false;

const QUADS = 16u; // groups of four invocations per workgroup (64 invocations)

// Where the four vec4s of one 4x4 operand block live: block k4 is at base + k4·step.
struct Block {
  base: vec4<u32>,
  step: u32,
}

// The 4x4 block of op(A) with rows m0..m0+3 (m0 % 4 == 0); rows beyond M are clamped (their
// results are never stored).
// rs, lim: the operand's row stride and last valid index (p.a_rs, p.a_lim or the low-rank term's).
fn a_block(off: u32, m0: u32, rs: u32, lim: u32) -> Block {
  if (TRANS_A) { // stored [K, M]: four consecutive k rows, one vec4 column
    let col = off + min(m0 / 4u, lim);
    return Block(col + vec4<u32>(0u, 1u, 2u, 3u) * rs, 4u * rs);
  }
  let rows = min(vec4<u32>(m0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(lim));
  return Block(vec4<u32>(off) + rows * rs, 1u);
}

// The 4x4 block of op(B) with columns n0..n0+3.
fn b_block(off: u32, n0: u32, rs: u32, lim: u32) -> Block {
  if (TRANS_B) { // stored [N, K]: four n rows
    let rows = min(vec4<u32>(n0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(lim));
    return Block(vec4<u32>(off) + rows * rs, 1u);
  }
  let col = off + min(n0 / 4u, lim);
  return Block(col + vec4<u32>(0u, 1u, 2u, 3u) * rs, 4u * rs);
}

// The main operands' blocks, and the low-rank term's.
fn a_main(batch: u32, m0: u32) -> Block { return a_block(batch * p.a_bs, m0, p.a_rs, p.a_lim); }
fn b_main(batch: u32, n0: u32) -> Block { return b_block(batch * p.b_bs, n0, p.b_rs, p.b_lim); }
fn a_low(batch: u32, m0: u32) -> Block { return a_block(batch * p.lr_a_bs, m0, p.lr_a_rs, p.lr_a_lim); }
fn b_low(batch: u32, n0: u32) -> Block { return b_block(batch * p.lr_b_bs, n0, p.lr_b_rs, p.lr_b_lim); }

// Columns are rows of op(A) over 4 consecutive k (so that B·A below is the 4x4 outer-product step).
fn load_a(blk: Block, k4: u32) -> mat4x4<f32> {
  let o = k4 * blk.step;
  let m = mat4x4<f32>(a[blk.base.x + o], a[blk.base.y + o], a[blk.base.z + o], a[blk.base.w + o]);
  if (TRANS_A) { return transpose(m); }
  return m;
}

// Columns are rows of op(B) (4 consecutive k) over 4 columns n.
fn load_b(blk: Block, k4: u32) -> mat4x4<f32> {
  let o = k4 * blk.step;
  let m = mat4x4<f32>(b[blk.base.x + o], b[blk.base.y + o], b[blk.base.z + o], b[blk.base.w + o]);
  if (TRANS_B) { return transpose(m); }
  return m;
}

// The same from the low-rank term's operands; its A block carries the term's factor.
fn load_lr_a(blk: Block, k4: u32) -> mat4x4<f32> {
  let o = k4 * blk.step;
  let m = p.lr_scale * mat4x4<f32>(lr_a[blk.base.x + o], lr_a[blk.base.y + o], lr_a[blk.base.z + o], lr_a[blk.base.w + o]);
  if (TRANS_A) { return transpose(m); }
  return m;
}

fn load_lr_b(blk: Block, k4: u32) -> mat4x4<f32> {
  let o = k4 * blk.step;
  let m = mat4x4<f32>(lr_b[blk.base.x + o], lr_b[blk.base.y + o], lr_b[blk.base.z + o], lr_b[blk.base.w + o]);
  if (TRANS_B) { return transpose(m); }
  return m;
}

fn store(c_off: u32, m: u32, n0: u32, v: vec4<f32>) {
  if (m >= p.M) { return; }
  let row = c_off + m * p.N;
  for (var j = 0u; j < 4u; j++) {
    if (n0 + j < p.N) {
      var x = p.alpha * v[j];
      if (p.accumulate != 0u) { x += c[row + n0 + j]; }
      c[row + n0 + j] = x;
    }
  }
}

// acc column i holds output row m0 + i over columns n0..n0+3.
fn store_block(c_off: u32, m0: u32, n0: u32, acc: mat4x4<f32>) {
  store(c_off, m0, n0, acc[0]);
  store(c_off, m0 + 1u, n0, acc[1]);
  store(c_off, m0 + 2u, n0, acc[2]);
  store(c_off, m0 + 3u, n0, acc[3]);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let tile = (wid.y * p.groups_x + wid.x) * QUADS + li / 4u;
  if (tile >= p.tiles) { return; }
  let qx = li & 1u;
  let qy = (li >> 1u) & 1u;
  let m0 = (tile / p.tiles_n) * 16u + qy * 8u; // this invocation's 8 rows ...
  let n0 = (tile % p.tiles_n) * 16u + qx * 8u; // ... and 8 columns

  var c00 = mat4x4<f32>();
  var c01 = mat4x4<f32>();
  var c10 = mat4x4<f32>();
  var c11 = mat4x4<f32>();
  for (var r = 0u; r < p.reduce; r++) {
    let batch = wid.z * p.reduce + r;
    let ab0 = a_main(batch, m0);
    let ab1 = a_main(batch, m0 + 4u);
    let bb0 = b_main(batch, n0);
    let bb1 = b_main(batch, n0 + 4u);
    for (var k4 = 0u; k4 < p.K4; k4++) {
      let a0 = load_a(ab0, k4);
      let a1 = load_a(ab1, k4);
      let b0 = load_b(bb0, k4);
      let b1 = load_b(bb1, k4);
      c00 += b0 * a0;
      c01 += b1 * a0;
      c10 += b0 * a1;
      c11 += b1 * a1;
    }
    // The low-rank term into the same accumulators (the loop body again, from its operands).
    let la0 = a_low(batch, m0);
    let la1 = a_low(batch, m0 + 4u);
    let lb0 = b_low(batch, n0);
    let lb1 = b_low(batch, n0 + 4u);
    for (var k4 = 0u; k4 < p.lr_k4; k4++) {
      let a0 = load_lr_a(la0, k4);
      let a1 = load_lr_a(la1, k4);
      let b0 = load_lr_b(lb0, k4);
      let b1 = load_lr_b(lb1, k4);
      c00 += b0 * a0;
      c01 += b1 * a0;
      c10 += b0 * a1;
      c11 += b1 * a1;
    }
  }
  let c_off = wid.z * p.c_bs;
  store_block(c_off, m0, n0, c00);
  store_block(c_off, m0, n0 + 4u, c01);
  store_block(c_off, m0 + 4u, n0, c10);
  store_block(c_off, m0 + 4u, n0 + 4u, c11);
}

// ---- skinny: few output rows (KV-cached decoding: one token per sequence) ------------------------
// The tiles above cover 16 rows, so one row would leave 15/16 of their work idle. Here an invocation
// computes one 4x4 block: per 4-step of k, one block of op(A) (the same for every invocation in a
// row of blocks: a broadcast load) and one of op(B). Grid: tiles = 4x4 blocks, tiles_n per row.

@compute @workgroup_size(64)
fn skinny(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let blk = (wid.y * p.groups_x + wid.x) * 64u + li;
  if (blk >= p.tiles) { return; }
  let m0 = (blk / p.tiles_n) * 4u;
  let n0 = (blk % p.tiles_n) * 4u;
  var acc = mat4x4<f32>();
  for (var r = 0u; r < p.reduce; r++) {
    let batch = wid.z * p.reduce + r;
    let ab = a_main(batch, m0);
    let bb = b_main(batch, n0);
    for (var k4 = 0u; k4 < p.K4; k4++) {
      acc += load_b(bb, k4) * load_a(ab, k4);
    }
    let la = a_low(batch, m0);
    let lb = b_low(batch, n0);
    for (var k4 = 0u; k4 < p.lr_k4; k4++) {
      acc += load_lr_b(lb, k4) * load_lr_a(la, k4);
    }
  }
  store_block(wid.z * p.c_bs, m0, n0, acc);
}

// ---- pad: copy an operand into zero-padded storage whose rows are whole vec4s ----------------
// in [batch, rows, cols] (any cols) -> out [batch, rows_out, cols4_out·4], zeros outside the input.
// One output vec4 per invocation. Aliases bindings 1 and 2 with other types (a different entry
// point, so the pipelines do not conflict).

struct PadParams {
  rows: u32,
  cols: u32,
  rows_out: u32,
  cols4_out: u32,
  total4: u32,     // output vec4s over the whole batch
  row_groups: u32, // workgroups per row of the 2D dispatch grid
}

@group(0) @binding(0) var<uniform> pp: PadParams;
@group(0) @binding(1) var<storage, read> pad_in: array<f32>;
@group(0) @binding(2) var<storage, read_write> pad_out: array<vec4<f32>>;

@compute @workgroup_size(256)
fn pad(@builtin(global_invocation_id) gid: vec3<u32>) {
  let o = gid.y * pp.row_groups * 256u + gid.x;
  if (o >= pp.total4) { return; }
  let per_matrix = pp.rows_out * pp.cols4_out;
  let batch = o / per_matrix;
  let row = (o % per_matrix) / pp.cols4_out;
  let col = (o % pp.cols4_out) * 4u;
  var v = vec4<f32>(0.0);
  if (row < pp.rows) {
    let src = (batch * pp.rows + row) * pp.cols;
    for (var j = 0u; j < 4u; j++) {
      if (col + j < pp.cols) { v[j] = pad_in[src + col + j]; }
    }
  }
  pad_out[o] = v;
}
