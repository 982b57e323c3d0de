// Matmuls against a frozen base weight W [rows, cols] kept in a compact form (src/ops/matmul-packed.ts
// has the layouts and packs nothing itself; src/model/base-dtype.ts packs on the host):
//   FORMAT 0, f16: two halves per u32 (low half first), rows padded to a multiple of 4 values.
//   FORMAT 1, q8:  blocks of 32 values along a row, 8 words of int8 (value j in byte j), one f16 scale
//                  per block; value = q · d (GGML q8_0).
//   FORMAT 2, q4:  blocks of 32 values, 4 words of nibbles in GGML q4_0 order (byte j: value j in the low
//                  nibble, value j + 16 in the high one), one f16 scale; value = (q − 8) · d.
// Rows are padded to whole blocks with zeros; the scales of all blocks (row-major, two f16 per word) follow
// the data words in the same buffer. Reading f16 through unpack2x16float needs no `shader-f16` feature.
//
// Entry points:
//   nt     y  = x · Wᵀ   x [M, K] (K = cols), y [M, N] (N = rows)      the forward of a projection
//   nn     dX = dY · W   dY [M, K] (K = rows), dX [M, N] (N = cols)    the backward through it
//   gather out[t] = W[ids[t]]                                          a packed token embedding
//   unpack out = W as f32 [rows, cols]                                 export, merges, host reads
// x / dY rows must be whole vec4s (matmul-packed.ts zero-pads them with `pad` otherwise). The tiling is
// matmul.wgsl's `main` without its quad: an 8x8 output block per invocation as four mat4x4 accumulators,
// no workgroup memory (see the SwiftShader notes there). The 4 values of W an 8x8 block needs per row and
// 4-step of k are decoded once and used for 8 rows of x.

struct Params {
  M: u32,          // output rows
  N: u32,          // output columns
  K4: u32,         // inner dimension in steps of 4 (x / dY padded to it)
  tiles_n: u32,    // 8x8 blocks per output row
  tiles: u32,      // 8x8 blocks in the output
  accumulate: u32, // 1: out += result
  a_rs: u32,       // x / dY row stride in vec4s
  groups_x: u32,   // workgroups along x of the 2D grid
  w_rows: u32,     // rows of W
  w_c4: u32,       // 4-value groups per padded row of W
  w_rs: u32,       // f16: words per row of W
  bpr: u32,        // q8 / q4: blocks per row of W
  scale_off: u32,  // q8 / q4: word offset of the scales
  cols: u32,       // gather / unpack: columns of W
  items: u32,      // gather / unpack: output vec4 groups
  pad_: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<u32>;

override FORMAT: u32 = 0u;

const BLOCK4 = 8u; // 4-value groups per 32-value block

fn scale_of(blk: u32) -> f32 {
  let pair = unpack2x16float(w[p.scale_off + blk / 2u]);
  return select(pair.x, pair.y, (blk & 1u) == 1u);
}

// The scale of the block holding W[row, 4·c4] (1 for f16, which has none).
fn scale_at(row: u32, c4: u32) -> f32 {
  if (FORMAT == 0u) { return 1.0; }
  return scale_of(row * p.bpr + c4 / BLOCK4);
}

// W[row, 4·c4 .. 4·c4 + 3]; row and c4 must be in range (callers clamp).
fn w4(row: u32, c4: u32) -> vec4<f32> {
  return w4_scaled(row, c4, scale_at(row, c4));
}

// The same with the block's scale d already loaded (scale_at): the matmuls load it once per block and row
// instead of once per 4 values, a gather fewer per decode on SwiftShader.
fn w4_scaled(row: u32, c4: u32, d: f32) -> vec4<f32> {
  if (FORMAT == 0u) {
    let i = row * p.w_rs + 2u * c4;
    return vec4<f32>(unpack2x16float(w[i]), unpack2x16float(w[i + 1u]));
  }
  let blk = row * p.bpr + c4 / BLOCK4;
  let within = c4 % BLOCK4;
  if (FORMAT == 1u) {
    let word = w[blk * 8u + within];
    // Sign-extend each byte: move it to the top, then an arithmetic shift back down.
    let q = bitcast<vec4<i32>>(vec4<u32>(word) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u);
    return vec4<f32>(q) * d;
  }
  // q4: groups 0..3 are the low nibbles of words 0..3, groups 4..7 their high nibbles.
  let word = w[blk * 4u + within % 4u] >> ((within / 4u) * 4u);
  let q = (vec4<u32>(word) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(15u);
  return (vec4<f32>(q) - 8.0) * d;
}

// ---- nt / nn: the matmuls -------------------------------------------------------------------------------

@group(0) @binding(2) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

// Rows m0..m0+3 of x (dY) over 4-step k4 as the columns of a matrix; rows past M are clamped (not stored).
fn load_a(m0: u32, k4: u32) -> mat4x4<f32> {
  let r = min(vec4<u32>(m0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.M - 1u)) * p.a_rs + k4;
  return mat4x4<f32>(a[r.x], a[r.y], a[r.z], a[r.w]);
}

fn store(m: u32, n0: u32, v: vec4<f32>) {
  if (m >= p.M) { return; }
  let row = m * p.N;
  for (var j = 0u; j < 4u; j++) {
    if (n0 + j < p.N) {
      var x = v[j];
      if (p.accumulate != 0u) { x += c[row + n0 + j]; }
      c[row + n0 + j] = x;
    }
  }
}

// acc column i holds output row m0 + i over columns n0..n0+3.
fn store_block(m0: u32, n0: u32, acc: mat4x4<f32>) {
  store(m0, n0, acc[0]);
  store(m0 + 1u, n0, acc[1]);
  store(m0 + 2u, n0, acc[2]);
  store(m0 + 3u, n0, acc[3]);
}

struct Tile { m0: u32, n0: u32, ok: bool }

fn tile_of(wid: vec3<u32>, li: u32) -> Tile {
  let t = (wid.y * p.groups_x + wid.x) * 64u + li;
  return Tile((t / p.tiles_n) * 8u, (t % p.tiles_n) * 8u, t < p.tiles);
}

// y = x·Wᵀ: y[m, n] = Σ_k x[m, k]·W[n, k]. Four rows n of W at k4 are the columns of wb, so
// transpose(wb)·(x rows as columns) puts output row m in column m.
@compute @workgroup_size(64)
fn nt(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let t = tile_of(wid, li);
  if (!t.ok) { return; }
  let last = p.w_rows - 1u;
  let n = min(vec4<u32>(t.n0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(last));
  let n4 = min(vec4<u32>(t.n0 + 4u) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(last));
  var c00 = mat4x4<f32>();
  var c01 = mat4x4<f32>();
  var c10 = mat4x4<f32>();
  var c11 = mat4x4<f32>();
  var s0 = vec4<f32>(1.0);
  var s1 = vec4<f32>(1.0);
  for (var k4 = 0u; k4 < p.K4; k4++) {
    if (FORMAT != 0u && k4 % BLOCK4 == 0u) { // a new block along k: the eight rows' scales
      s0 = vec4<f32>(scale_at(n.x, k4), scale_at(n.y, k4), scale_at(n.z, k4), scale_at(n.w, k4));
      s1 = vec4<f32>(scale_at(n4.x, k4), scale_at(n4.y, k4), scale_at(n4.z, k4), scale_at(n4.w, k4));
    }
    let a0 = load_a(t.m0, k4);
    let a1 = load_a(t.m0 + 4u, k4);
    let b0 = transpose(mat4x4<f32>(w4_scaled(n.x, k4, s0.x), w4_scaled(n.y, k4, s0.y), w4_scaled(n.z, k4, s0.z), w4_scaled(n.w, k4, s0.w)));
    let b1 = transpose(mat4x4<f32>(w4_scaled(n4.x, k4, s1.x), w4_scaled(n4.y, k4, s1.y), w4_scaled(n4.z, k4, s1.z), w4_scaled(n4.w, k4, s1.w)));
    c00 += b0 * a0;
    c01 += b1 * a0;
    c10 += b0 * a1;
    c11 += b1 * a1;
  }
  store_block(t.m0, t.n0, c00);
  store_block(t.m0, t.n0 + 4u, c01);
  store_block(t.m0 + 4u, t.n0, c10);
  store_block(t.m0 + 4u, t.n0 + 4u, c11);
}

// dX = dY·W: dX[m, n] = Σ_k dY[m, k]·W[k, n]. Rows k of W over columns n0..n0+3 are the columns of wb,
// so wb·(dY rows as columns) puts output row m in column m. Rows of W past the last are clamped: dY's
// padded columns are zero there.
@compute @workgroup_size(64)
fn nn(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let t = tile_of(wid, li);
  if (!t.ok) { return; }
  let last = p.w_rows - 1u;
  let g0 = min(t.n0 / 4u, p.w_c4 - 1u);
  let g1 = min(t.n0 / 4u + 1u, p.w_c4 - 1u);
  var c00 = mat4x4<f32>();
  var c01 = mat4x4<f32>();
  var c10 = mat4x4<f32>();
  var c11 = mat4x4<f32>();
  for (var k4 = 0u; k4 < p.K4; k4++) {
    let a0 = load_a(t.m0, k4);
    let a1 = load_a(t.m0 + 4u, k4);
    let k = min(vec4<u32>(4u * k4) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(last));
    // g0 is even (n0 is a multiple of 8) or clamped to the last group: g0 and g1 share a block and its scales.
    let s = vec4<f32>(scale_at(k.x, g0), scale_at(k.y, g0), scale_at(k.z, g0), scale_at(k.w, g0));
    let b0 = mat4x4<f32>(w4_scaled(k.x, g0, s.x), w4_scaled(k.y, g0, s.y), w4_scaled(k.z, g0, s.z), w4_scaled(k.w, g0, s.w));
    let b1 = mat4x4<f32>(w4_scaled(k.x, g1, s.x), w4_scaled(k.y, g1, s.y), w4_scaled(k.z, g1, s.z), w4_scaled(k.w, g1, s.w));
    c00 += b0 * a0;
    c01 += b1 * a0;
    c10 += b0 * a1;
    c11 += b1 * a1;
  }
  store_block(t.m0, t.n0, c00);
  store_block(t.m0, t.n0 + 4u, c01);
  store_block(t.m0 + 4u, t.n0, c10);
  store_block(t.m0 + 4u, t.n0 + 4u, c11);
}

// ---- gather / unpack: rows of W as f32 ------------------------------------------------------------------
// One 4-value group per invocation over a flat 2D grid (groups_x workgroups of 64 per grid row).

@group(0) @binding(2) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> rows_out: array<f32>;
@group(0) @binding(2) var<storage, read_write> unpack_out: array<f32>;

@compute @workgroup_size(64)
fn gather(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.y * p.groups_x * 64u + gid.x;
  if (i >= p.items) { return; }
  let groups = (p.cols + 3u) / 4u;
  let t = i / groups;
  let g = i % groups;
  let id = ids[t];
  // An id past the table gives a zero row (as embedding.wgsl does): never a read outside W.
  var v = vec4<f32>(0.0);
  if (id < p.w_rows) { v = w4(id, g); }
  for (var j = 0u; j < 4u; j++) {
    if (4u * g + j < p.cols) { rows_out[t * p.cols + 4u * g + j] = v[j]; }
  }
}

@compute @workgroup_size(64)
fn unpack(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.y * p.groups_x * 64u + gid.x;
  if (i >= p.items) { return; }
  let groups = (p.cols + 3u) / 4u;
  let r = i / groups;
  let g = i % groups;
  let v = w4(r, g);
  for (var j = 0u; j < 4u; j++) {
    if (4u * g + j < p.cols) { unpack_out[r * p.cols + 4u * g + j] = v[j]; }
  }
}

// ---- pad: x / dY into zero-padded rows of whole vec4s -------------------------------------------------
// in [rows, cols] -> out [rows, 4·ceil(cols/4)]; one output vec4 per invocation.

@group(0) @binding(1) var<storage, read> pad_in: array<f32>;
@group(0) @binding(2) var<storage, read_write> pad_out: array<vec4<f32>>;

@compute @workgroup_size(64)
fn pad(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.y * p.groups_x * 64u + gid.x;
  if (i >= p.items) { return; }
  let groups = (p.cols + 3u) / 4u;
  let src = (i / groups) * p.cols + (i % groups) * 4u;
  var v = vec4<f32>(0.0);
  for (var j = 0u; j < 4u; j++) {
    if ((i % groups) * 4u + j < p.cols) { v[j] = pad_in[src + j]; }
  }
  pad_out[i] = v;
}
