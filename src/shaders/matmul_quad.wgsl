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
// The optional low-rank term (a second, short k loop through the same step function) is matmul.wgsl's.
// Assumes a 1-D workgroup fills subgroup lanes in invocation order (true of every backend we
// know; test/ops/matmul.test.ts checks it on the device at hand).
enable subgroups;

// #include matmul.part.wgsl

fn swap_x(m: mat4x4<f32>) -> mat4x4<f32> {
  return mat4x4<f32>(quadSwapX(m[0]), quadSwapX(m[1]), quadSwapX(m[2]), quadSwapX(m[3]));
}

fn swap_y(m: mat4x4<f32>) -> mat4x4<f32> {
  return mat4x4<f32>(quadSwapY(m[0]), quadSwapY(m[1]), quadSwapY(m[2]), quadSwapY(m[3]));
}

// A lane's accumulators: `main`'s 8x16 block (rows m_own, m_other by columns n_own, n_own + 4, n_other,
// n_other + 4) and `narrow`'s 8x8 one. One k4 step of each, from this lane's A block and B block(s) and
// the partners' through swaps: the main product's loop and the low-rank term's both call it.
struct Acc8 { c00: mat4x4<f32>, c01: mat4x4<f32>, c02: mat4x4<f32>, c03: mat4x4<f32>, c10: mat4x4<f32>, c11: mat4x4<f32>, c12: mat4x4<f32>, c13: mat4x4<f32> }
struct Acc4 { c00: mat4x4<f32>, c01: mat4x4<f32>, c10: mat4x4<f32>, c11: mat4x4<f32> }

// The 8 products of two A blocks by four B blocks (the steps of `main`, `octet` and, twice, `octet_wide`).
fn outer8(acc: ptr<function, Acc8>, a0: mat4x4<f32>, a1: mat4x4<f32>, b0: mat4x4<f32>, b1: mat4x4<f32>, b2: mat4x4<f32>, b3: mat4x4<f32>) {
  (*acc).c00 += b0 * a0;
  (*acc).c01 += b1 * a0;
  (*acc).c02 += b2 * a0;
  (*acc).c03 += b3 * a0;
  (*acc).c10 += b0 * a1;
  (*acc).c11 += b1 * a1;
  (*acc).c12 += b2 * a1;
  (*acc).c13 += b3 * a1;
}

fn step8(acc: ptr<function, Acc8>, a0: mat4x4<f32>, b0: mat4x4<f32>, b1: mat4x4<f32>) {
  outer8(acc, a0, swap_x(a0), b0, b1, swap_y(b0), swap_y(b1));
}

fn step4(acc: ptr<function, Acc4>, a0: mat4x4<f32>, b0: mat4x4<f32>) {
  let a1 = swap_x(a0);
  let b1 = swap_y(b0);
  (*acc).c00 += b0 * a0;
  (*acc).c01 += b1 * a0;
  (*acc).c10 += b0 * a1;
  (*acc).c11 += b1 * a1;
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
  var acc = Acc8();
  for (var r = 0u; r < p.reduce; r++) {
    let batch = wid.z * p.reduce + r;
    let ab = a_main(batch, l.m_own);
    let bb0 = b_main(batch, l.n_own);
    let bb1 = b_main(batch, l.n_own + 4u);
    for (var k4 = 0u; k4 < p.K4; k4++) {
      step8(&acc, load_a(ab, k4), load_b(bb0, k4), load_b(bb1, k4));
    }
    // The low-rank term into the same accumulators.
    let la = a_low(batch, l.m_own);
    let lb0 = b_low(batch, l.n_own);
    let lb1 = b_low(batch, l.n_own + 4u);
    for (var k4 = 0u; k4 < p.lr_k4; k4++) {
      step8(&acc, load_lr_a(la, k4), load_lr_b(lb0, k4), load_lr_b(lb1, k4));
    }
  }
  if (l.tile >= p.tiles) { return; }
  let c_off = wid.z * p.c_bs;
  store_block(c_off, l.m_own, l.n_own, acc.c00);
  store_block(c_off, l.m_own, l.n_own + 4u, acc.c01);
  store_block(c_off, l.m_own, l.n_other, acc.c02);
  store_block(c_off, l.m_own, l.n_other + 4u, acc.c03);
  store_block(c_off, l.m_other, l.n_own, acc.c10);
  store_block(c_off, l.m_other, l.n_own + 4u, acc.c11);
  store_block(c_off, l.m_other, l.n_other, acc.c12);
  store_block(c_off, l.m_other, l.n_other + 4u, acc.c13);
}

// 16x16 tiles for narrow outputs (N <= 16, e.g. LoRA rank): each lane an 8x8 block.
@compute @workgroup_size(64)
fn narrow(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let l = lane_of(wid, li, 16u);
  var acc = Acc4();
  for (var r = 0u; r < p.reduce; r++) {
    let batch = wid.z * p.reduce + r;
    let ab = a_main(batch, l.m_own);
    let bb = b_main(batch, l.n_own);
    for (var k4 = 0u; k4 < p.K4; k4++) {
      step4(&acc, load_a(ab, k4), load_b(bb, k4));
    }
    let la = a_low(batch, l.m_own);
    let lb = b_low(batch, l.n_own);
    for (var k4 = 0u; k4 < p.lr_k4; k4++) {
      step4(&acc, load_lr_a(la, k4), load_lr_b(lb, k4));
    }
  }
  if (l.tile >= p.tiles) { return; }
  let c_off = wid.z * p.c_bs;
  store_block(c_off, l.m_own, l.n_own, acc.c00);
  store_block(c_off, l.m_own, l.n_other, acc.c01);
  store_block(c_off, l.m_other, l.n_own, acc.c10);
  store_block(c_off, l.m_other, l.n_other, acc.c11);
}

// ---------------------------------------------------------------------------------------------
// The octet kernels: the same sharing over a whole subgroup of exactly 8 lanes (lavapipe on AVX2; chosen
// in kernel-choice.ts by the adapter's subgroup width), with subgroupShuffleXor by constants for the swaps.
// Same parameters; the grid counts one tile per subgroup, 8 per workgroup.
//
// `octet`: 32x32 tiles (outputs of 17 to 32 columns). Lane L owns
// rows r·8..r·8+7 (r = L >> 1) by columns x·16..x·16+15 (x = L & 1), 8x16 like `main`. Per 4-step of k a
// lane loads ONE A block (rows r·8 + x·4) and ONE B block (columns x·16 + r·4) and gets its other A
// block from lane L^1 and its three other B blocks from lanes L^2, L^4, L^6: two loads per step for the
// same 8 accumulators, where `main` makes three. Loads are what costs on lavapipe (each one a loop over
// the 8 lanes); shuffles by a constant are permutes.

fn xor_m(m: mat4x4<f32>, mask: u32) -> mat4x4<f32> {
  return mat4x4<f32>(subgroupShuffleXor(m[0], mask), subgroupShuffleXor(m[1], mask), subgroupShuffleXor(m[2], mask), subgroupShuffleXor(m[3], mask));
}

fn step_octet(acc: ptr<function, Acc8>, a0: mat4x4<f32>, b0: mat4x4<f32>) {
  outer8(acc, a0, xor_m(a0, 1u), b0, xor_m(b0, 2u), xor_m(b0, 4u), xor_m(b0, 6u));
}

const OCTETS = 8u; // subgroups of 8 lanes per workgroup (64 invocations)

// This subgroup's tile as numbered (x) and as computed (y): subgroups past the last tile recompute the
// last tile (every lane must take part in the shuffles) and store nothing.
fn octet_tile(wid: vec3<u32>, li: u32) -> vec2<u32> {
  let tile_raw = (wid.y * p.groups_x + wid.x) * OCTETS + li / 8u;
  return vec2<u32>(tile_raw, min(tile_raw, p.tiles - 1u));
}

@compute @workgroup_size(64)
fn octet(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let t = octet_tile(wid, li);
  let tile = t.y;
  let lane = li & 7u;
  let r = lane >> 1u;
  let x = lane & 1u;
  let m0 = (tile / p.tiles_n) * 32u + r * 8u;
  let n0 = (tile % p.tiles_n) * 32u + x * 16u;
  let m_own = m0 + x * 4u;
  let m_other = m0 + (1u - x) * 4u;
  var acc = Acc8();
  for (var red = 0u; red < p.reduce; red++) {
    let batch = wid.z * p.reduce + red;
    let ab = a_main(batch, m_own);
    let bb = b_main(batch, n0 + r * 4u);
    for (var k4 = 0u; k4 < p.K4; k4++) {
      step_octet(&acc, load_a(ab, k4), load_b(bb, k4));
    }
    let la = a_low(batch, m_own);
    let lb = b_low(batch, n0 + r * 4u);
    for (var k4 = 0u; k4 < p.lr_k4; k4++) {
      step_octet(&acc, load_lr_a(la, k4), load_lr_b(lb, k4));
    }
  }
  if (t.x >= p.tiles) { return; }
  let c_off = wid.z * p.c_bs;
  // Accumulator j holds the B block of lane L ^ 2j: columns n0 + (r ^ j)·4.
  store_block(c_off, m_own, n0 + r * 4u, acc.c00);
  store_block(c_off, m_own, n0 + (r ^ 1u) * 4u, acc.c01);
  store_block(c_off, m_own, n0 + (r ^ 2u) * 4u, acc.c02);
  store_block(c_off, m_own, n0 + (r ^ 3u) * 4u, acc.c03);
  store_block(c_off, m_other, n0 + r * 4u, acc.c10);
  store_block(c_off, m_other, n0 + (r ^ 1u) * 4u, acc.c11);
  store_block(c_off, m_other, n0 + (r ^ 2u) * 4u, acc.c12);
  store_block(c_off, m_other, n0 + (r ^ 3u) * 4u, acc.c13);
}

// `octet_wide`: 32x64 tiles for outputs wider than 32 columns, 16x16 per lane (16 accumulators). Lane L owns rows h·16..h·16+15
// (h = L >> 2) by columns q·16..q·16+15 (q = L & 3). Per 4-step of k it loads one A block (rows h·16 + q·4)
// and two B blocks (columns q·16 + h·8, + 4), and gets three A blocks from lanes L^1, L^2, L^3 and two B
// blocks from L^4: three loads for 16 accumulators, where `octet` makes two for 8.
// Rows q and q^1 (`top`), q^2 and q^3 (`bottom`), each by the four B blocks.
struct Acc16 { top: Acc8, bottom: Acc8 }

fn step_octet_wide(acc: ptr<function, Acc16>, a0: mat4x4<f32>, b0: mat4x4<f32>, b1: mat4x4<f32>) {
  let b2 = xor_m(b0, 4u);
  let b3 = xor_m(b1, 4u);
  outer8(&(*acc).top, a0, xor_m(a0, 1u), b0, b1, b2, b3);
  outer8(&(*acc).bottom, xor_m(a0, 2u), xor_m(a0, 3u), b0, b1, b2, b3);
}

// One row block of a lane's output: accumulators j = 0..3 over columns n_own, n_own + 4, n_other, n_other + 4.
fn store_row4(c_off: u32, m: u32, n_own: u32, n_other: u32, c0: mat4x4<f32>, c1: mat4x4<f32>, c2: mat4x4<f32>, c3: mat4x4<f32>) {
  store_block(c_off, m, n_own, c0);
  store_block(c_off, m, n_own + 4u, c1);
  store_block(c_off, m, n_other, c2);
  store_block(c_off, m, n_other + 4u, c3);
}

@compute @workgroup_size(64)
fn octet_wide(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let t = octet_tile(wid, li);
  let tile = t.y;
  let lane = li & 7u;
  let q = lane & 3u;
  let h = lane >> 2u;
  let m0 = (tile / p.tiles_n) * 32u + h * 16u;
  let n0 = (tile % p.tiles_n) * 64u + q * 16u;
  let n_own = n0 + h * 8u;
  let n_other = n0 + (1u - h) * 8u;
  var acc = Acc16();
  for (var red = 0u; red < p.reduce; red++) {
    let batch = wid.z * p.reduce + red;
    let ab = a_main(batch, m0 + q * 4u);
    let bb0 = b_main(batch, n_own);
    let bb1 = b_main(batch, n_own + 4u);
    for (var k4 = 0u; k4 < p.K4; k4++) {
      step_octet_wide(&acc, load_a(ab, k4), load_b(bb0, k4), load_b(bb1, k4));
    }
    let la = a_low(batch, m0 + q * 4u);
    let lb0 = b_low(batch, n_own);
    let lb1 = b_low(batch, n_own + 4u);
    for (var k4 = 0u; k4 < p.lr_k4; k4++) {
      step_octet_wide(&acc, load_lr_a(la, k4), load_lr_b(lb0, k4), load_lr_b(lb1, k4));
    }
  }
  if (t.x >= p.tiles) { return; }
  let c_off = wid.z * p.c_bs;
  // Accumulator row i holds the A block of lane L ^ i: rows m0 + (q ^ i)·4.
  store_row4(c_off, m0 + q * 4u, n_own, n_other, acc.top.c00, acc.top.c01, acc.top.c02, acc.top.c03);
  store_row4(c_off, m0 + (q ^ 1u) * 4u, n_own, n_other, acc.top.c10, acc.top.c11, acc.top.c12, acc.top.c13);
  store_row4(c_off, m0 + (q ^ 2u) * 4u, n_own, n_other, acc.bottom.c00, acc.bottom.c01, acc.bottom.c02, acc.bottom.c03);
  store_row4(c_off, m0 + (q ^ 3u) * 4u, n_own, n_other, acc.bottom.c10, acc.bottom.c11, acc.bottom.c12, acc.bottom.c13);
}

// `octet_narrow`: 128x8 tiles for outputs of at most 8 columns and at least 1,024 rows (LoRA rank 8: x·Aᵀ
// and dY·B over all B·T rows), which the quad kernel's 16-column `narrow` tiles would half waste. Lane L owns rows L·16..L·16+15 by
// all 8 columns. Per 4-step of k it loads its four A blocks and B block L & 1, and gets the other B block
// from lane L^1: five loads for 8 accumulators, all of them used where `narrow` makes two for 4, half
// of them padding at 8 columns.
fn step_octet_narrow(acc: ptr<function, Acc8>, a0: mat4x4<f32>, a1: mat4x4<f32>, a2: mat4x4<f32>, a3: mat4x4<f32>, b0: mat4x4<f32>) {
  let b1 = xor_m(b0, 1u);
  (*acc).c00 += b0 * a0;
  (*acc).c01 += b1 * a0;
  (*acc).c02 += b0 * a1;
  (*acc).c03 += b1 * a1;
  (*acc).c10 += b0 * a2;
  (*acc).c11 += b1 * a2;
  (*acc).c12 += b0 * a3;
  (*acc).c13 += b1 * a3;
}

@compute @workgroup_size(64)
fn octet_narrow(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let t = octet_tile(wid, li);
  let tile = t.y;
  let lane = li & 7u;
  let m0 = (tile / p.tiles_n) * 128u + lane * 16u;
  let n0 = (tile % p.tiles_n) * 8u;
  let n_own = n0 + (lane & 1u) * 4u;
  let n_other = n0 + (1u - (lane & 1u)) * 4u;
  var acc = Acc8();
  for (var red = 0u; red < p.reduce; red++) {
    let batch = wid.z * p.reduce + red;
    let ab0 = a_main(batch, m0);
    let ab1 = a_main(batch, m0 + 4u);
    let ab2 = a_main(batch, m0 + 8u);
    let ab3 = a_main(batch, m0 + 12u);
    let bb = b_main(batch, n_own);
    for (var k4 = 0u; k4 < p.K4; k4++) {
      step_octet_narrow(&acc, load_a(ab0, k4), load_a(ab1, k4), load_a(ab2, k4), load_a(ab3, k4), load_b(bb, k4));
    }
    let la0 = a_low(batch, m0);
    let la1 = a_low(batch, m0 + 4u);
    let la2 = a_low(batch, m0 + 8u);
    let la3 = a_low(batch, m0 + 12u);
    let lb = b_low(batch, n_own);
    for (var k4 = 0u; k4 < p.lr_k4; k4++) {
      step_octet_narrow(&acc, load_lr_a(la0, k4), load_lr_a(la1, k4), load_lr_a(la2, k4), load_lr_a(la3, k4), load_lr_b(lb, k4));
    }
  }
  if (t.x >= p.tiles) { return; }
  let c_off = wid.z * p.c_bs;
  store_block(c_off, m0, n_own, acc.c00);
  store_block(c_off, m0, n_other, acc.c01);
  store_block(c_off, m0 + 4u, n_own, acc.c02);
  store_block(c_off, m0 + 4u, n_other, acc.c03);
  store_block(c_off, m0 + 8u, n_own, acc.c10);
  store_block(c_off, m0 + 8u, n_other, acc.c11);
  store_block(c_off, m0 + 12u, n_own, acc.c12);
  store_block(c_off, m0 + 12u, n_other, acc.c13);
}
