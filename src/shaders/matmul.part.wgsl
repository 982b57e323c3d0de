// Shared by matmul.wgsl and matmul_quad.wgsl (pasted in by scripts/embed-shaders.mjs at their
// `// #include matmul.part.wgsl` line; WGSL has no imports): the parameters, bindings, operand blocks,
// their loads (the main product's and the low-rank term's) and the stores.

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
