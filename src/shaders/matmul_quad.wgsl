// Batched f32 matmul, C = alpha·op(A)·op(B) (+ C), the fast path for devices with subgroups.
// Same tiling and parameters as matmul.wgsl (read that file first); the difference is that the
// four invocations of a quad share operands through quad swaps instead of loading them again.
//
// A quad (4 consecutive invocations, lanes qx + 2·qy) computes a 16x32 output tile (`main`; 16x16
// in `narrow`); each lane the block of its row half qy and column half qx. Per 4-step of k a lane
// loads ONE 4x4 block of A and its B blocks, and gets a second A block from its x-partner (same
// rows, other columns) and as many B blocks again from its y-partner: half the loads of
// matmul.wgsl. On SwiftShader every storage load with a per-invocation address is a branchy
// per-lane gather while a quad swap is one shuffle, so this is worth ~1.5x there. Larger blocks
// than 8x16 per lane were slower there: the unrolled loop body outgrows the instruction cache.
// The optional low-rank term (a second, short k loop) is matmul.wgsl's.
// Assumes a 1-D workgroup fills subgroup lanes in invocation order (true of every backend we
// know; test/ops/matmul.test.ts checks it on the device at hand).
enable subgroups;

struct Params {
  M: u32,          // output rows (op(A) rows)
  N: u32,          // output columns (op(B) columns)
  K4: u32,         // inner dimension in steps of 4 (operands are zero-padded to a multiple of 4)
  tiles_n: u32,    // tiles per row of the output
  tiles: u32,      // tiles per output matrix
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

const QUADS = 16u; // quads per workgroup (64 invocations)

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

fn swap_x(m: mat4x4<f32>) -> mat4x4<f32> {
  return mat4x4<f32>(quadSwapX(m[0]), quadSwapX(m[1]), quadSwapX(m[2]), quadSwapX(m[3]));
}

fn swap_y(m: mat4x4<f32>) -> mat4x4<f32> {
  return mat4x4<f32>(quadSwapY(m[0]), quadSwapY(m[1]), quadSwapY(m[2]), quadSwapY(m[3]));
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

// The quad of `tile` and this lane's rows and columns: the lane loads rows m_own (4) and columns
// n_own (4·width), its x-partner m_other, its y-partner n_other.
struct Lane {
  tile: u32,
  m_own: u32,
  m_other: u32,
  n_own: u32,
  n_other: u32,
}

fn lane_of(wid: vec3<u32>, li: u32, tile_n: u32) -> Lane {
  // Quads past the last tile recompute the last tile (every lane must take part in the swaps)
  // and store nothing.
  let tile_raw = (wid.y * p.groups_x + wid.x) * QUADS + li / 4u;
  let tile = min(tile_raw, p.tiles - 1u);
  let qx = li & 1u;
  let qy = (li >> 1u) & 1u;
  let m0 = (tile / p.tiles_n) * 16u + qy * 8u;
  let n0 = (tile % p.tiles_n) * tile_n + qx * (tile_n / 2u);
  return Lane(tile_raw, m0 + qx * 4u, m0 + (1u - qx) * 4u, n0 + qy * (tile_n / 4u), n0 + (1u - qy) * (tile_n / 4u));
}

// 16x32 tiles: each lane an 8x16 block (8 accumulators), one A and two B blocks loaded per k4.
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let l = lane_of(wid, li, 32u);
  var c00 = mat4x4<f32>(); // rows m_own, columns n_own
  var c01 = mat4x4<f32>(); // rows m_own, columns n_own + 4
  var c02 = mat4x4<f32>(); // rows m_own, columns n_other
  var c03 = mat4x4<f32>(); // rows m_own, columns n_other + 4
  var c10 = mat4x4<f32>(); // rows m_other ...
  var c11 = mat4x4<f32>();
  var c12 = mat4x4<f32>();
  var c13 = mat4x4<f32>();
  for (var r = 0u; r < p.reduce; r++) {
    let batch = wid.z * p.reduce + r;
    let ab = a_main(batch, l.m_own);
    let bb0 = b_main(batch, l.n_own);
    let bb1 = b_main(batch, l.n_own + 4u);
    for (var k4 = 0u; k4 < p.K4; k4++) {
      let a0 = load_a(ab, k4);
      let b0 = load_b(bb0, k4);
      let b1 = load_b(bb1, k4);
      let a1 = swap_x(a0);
      let b2 = swap_y(b0);
      let b3 = swap_y(b1);
      c00 += b0 * a0;
      c01 += b1 * a0;
      c02 += b2 * a0;
      c03 += b3 * a0;
      c10 += b0 * a1;
      c11 += b1 * a1;
      c12 += b2 * a1;
      c13 += b3 * a1;
    }
    // The low-rank term into the same accumulators (the loop body again, from its operands).
    let la = a_low(batch, l.m_own);
    let lb0 = b_low(batch, l.n_own);
    let lb1 = b_low(batch, l.n_own + 4u);
    for (var k4 = 0u; k4 < p.lr_k4; k4++) {
      let a0 = load_lr_a(la, k4);
      let b0 = load_lr_b(lb0, k4);
      let b1 = load_lr_b(lb1, k4);
      let a1 = swap_x(a0);
      let b2 = swap_y(b0);
      let b3 = swap_y(b1);
      c00 += b0 * a0;
      c01 += b1 * a0;
      c02 += b2 * a0;
      c03 += b3 * a0;
      c10 += b0 * a1;
      c11 += b1 * a1;
      c12 += b2 * a1;
      c13 += b3 * a1;
    }
  }
  if (l.tile >= p.tiles) { return; }
  let c_off = wid.z * p.c_bs;
  store_block(c_off, l.m_own, l.n_own, c00);
  store_block(c_off, l.m_own, l.n_own + 4u, c01);
  store_block(c_off, l.m_own, l.n_other, c02);
  store_block(c_off, l.m_own, l.n_other + 4u, c03);
  store_block(c_off, l.m_other, l.n_own, c10);
  store_block(c_off, l.m_other, l.n_own + 4u, c11);
  store_block(c_off, l.m_other, l.n_other, c12);
  store_block(c_off, l.m_other, l.n_other + 4u, c13);
}

// 16x16 tiles for narrow outputs (N <= 16, e.g. LoRA rank): each lane an 8x8 block.
@compute @workgroup_size(64)
fn narrow(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let l = lane_of(wid, li, 16u);
  var c00 = mat4x4<f32>();
  var c01 = mat4x4<f32>();
  var c10 = mat4x4<f32>();
  var c11 = mat4x4<f32>();
  for (var r = 0u; r < p.reduce; r++) {
    let batch = wid.z * p.reduce + r;
    let ab = a_main(batch, l.m_own);
    let bb = b_main(batch, l.n_own);
    for (var k4 = 0u; k4 < p.K4; k4++) {
      let a0 = load_a(ab, k4);
      let b0 = load_b(bb, k4);
      let a1 = swap_x(a0);
      let b1 = swap_y(b0);
      c00 += b0 * a0;
      c01 += b1 * a0;
      c10 += b0 * a1;
      c11 += b1 * a1;
    }
    let la = a_low(batch, l.m_own);
    let lb = b_low(batch, l.n_own);
    for (var k4 = 0u; k4 < p.lr_k4; k4++) {
      let a0 = load_lr_a(la, k4);
      let b0 = load_lr_b(lb, k4);
      let a1 = swap_x(a0);
      let b1 = swap_y(b0);
      c00 += b0 * a0;
      c01 += b1 * a0;
      c10 += b0 * a1;
      c11 += b1 * a1;
    }
  }
  if (l.tile >= p.tiles) { return; }
  let c_off = wid.z * p.c_bs;
  store_block(c_off, l.m_own, l.n_own, c00);
  store_block(c_off, l.m_own, l.n_other, c01);
  store_block(c_off, l.m_other, l.n_own, c10);
  store_block(c_off, l.m_other, l.n_other, c11);
}
