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

// #include matmul.part.wgsl

// An invocation's 8x8 block as four 4x4 accumulators, and one k4 step into them (the main product's
// loop and the low-rank term's both call it).
struct Acc4 { c00: mat4x4<f32>, c01: mat4x4<f32>, c10: mat4x4<f32>, c11: mat4x4<f32> }

fn step4(acc: ptr<function, Acc4>, a0: mat4x4<f32>, a1: mat4x4<f32>, b0: mat4x4<f32>, b1: mat4x4<f32>) {
  (*acc).c00 += b0 * a0;
  (*acc).c01 += b1 * a0;
  (*acc).c10 += b0 * a1;
  (*acc).c11 += b1 * a1;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let tile = (wid.y * p.groups_x + wid.x) * QUADS + li / 4u;
  if (tile >= p.tiles) { return; }
  let qx = li & 1u;
  let qy = (li >> 1u) & 1u;
  let m0 = (tile / p.tiles_n) * 16u + qy * 8u; // this invocation's 8 rows ...
  let n0 = (tile % p.tiles_n) * 16u + qx * 8u; // ... and 8 columns

  var acc = Acc4();
  for (var r = 0u; r < p.reduce; r++) {
    let batch = wid.z * p.reduce + r;
    let ab0 = a_main(batch, m0);
    let ab1 = a_main(batch, m0 + 4u);
    let bb0 = b_main(batch, n0);
    let bb1 = b_main(batch, n0 + 4u);
    for (var k4 = 0u; k4 < p.K4; k4++) {
      step4(&acc, load_a(ab0, k4), load_a(ab1, k4), load_b(bb0, k4), load_b(bb1, k4));
    }
    // The low-rank term into the same accumulators.
    let la0 = a_low(batch, m0);
    let la1 = a_low(batch, m0 + 4u);
    let lb0 = b_low(batch, n0);
    let lb1 = b_low(batch, n0 + 4u);
    for (var k4 = 0u; k4 < p.lr_k4; k4++) {
      step4(&acc, load_lr_a(la0, k4), load_lr_a(la1, k4), load_lr_b(lb0, k4), load_lr_b(lb1, k4));
    }
  }
  let c_off = wid.z * p.c_bs;
  store_block(c_off, m0, n0, acc.c00);
  store_block(c_off, m0, n0 + 4u, acc.c01);
  store_block(c_off, m0 + 4u, n0, acc.c10);
  store_block(c_off, m0 + 4u, n0 + 4u, acc.c11);
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
