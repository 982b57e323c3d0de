// Token embedding: out[n, :] = table[ids[n], :], table [V, C], ids u32 [N].
// An id >= V (a corrupt or padded token) reads nothing: its output row is zeros, and the backward
// pass gives it no gradient.
//
// Backward: dTable[v, :] += Σ_{n : ids[n] = v} dOut[n, :], without float atomics and in a fixed
// order, so the result is deterministic. The gradient rows of one id are chained in position order:
//   mark_occurrences: u32 atomicMax per id gives its first and last position (max commutes, so
//                     this is deterministic); `bounds` [2, V] starts zeroed.
//   link_tokens:      for each position, whether it is the first of its id and the next position
//                     with the same id, scanning forward only up to that id's last position: work is
//                     the sum of the gaps between repeats, not N² (a token seen once costs O(1)).
//   scatter_rows:     each first occurrence walks its chain, sums the dOut rows and adds the sum to
//                     its table row: O(N·C) work, only occurring rows touched, one writer per element.
// The obvious alternatives cost more here: one invocation per table row scanning all ids is V·N
// (65M comparisons per column group at V = 32000, N = 2048), and a GPU sort takes many dispatches.

struct Params {
  tokens: u32,     // N
  vocab: u32,      // V
  cols: u32,       // C
  row_groups: u32, // workgroups per row of the 2D dispatch grid
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
// forward [ids, table, out]
@group(0) @binding(2) var<storage, read> table: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
// mark_occurrences [ids, bounds]; link_tokens [ids, bounds, links]; scatter_rows [ids, d_out, links, d_table]
// bounds [2, V]: N − (first position), last position + 1; zero for ids that do not occur.
@group(0) @binding(2) var<storage, read_write> bounds_atomic: array<atomic<u32>>;
@group(0) @binding(2) var<storage, read> bounds: array<u32>;
@group(0) @binding(2) var<storage, read> d_out: array<f32>;
@group(0) @binding(3) var<storage, read_write> links: array<u32>; // [2, N]: next position, is-first flag
@group(0) @binding(4) var<storage, read_write> d_table: array<f32>;

override WG: u32 = 256;

const NONE: u32 = 0xffffffffu;

fn flat_index(gid: vec3<u32>) -> u32 {
  return gid.y * p.row_groups * WG + gid.x;
}

// One invocation per (token, 4 columns).
@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let quads = (p.cols + 3u) / 4u;
  let index = flat_index(gid);
  if (index >= p.tokens * quads) { return; }
  let n = index / quads;
  let c0 = (index % quads) * 4u;
  let width = min(4u, p.cols - c0);
  let id = ids[n];
  let row = n * p.cols + c0;
  if (id >= p.vocab) {
    for (var k = 0u; k < width; k++) { out[row + k] = 0.0; }
    return;
  }
  let src = id * p.cols + c0;
  for (var k = 0u; k < width; k++) { out[row + k] = table[src + k]; }
}

@compute @workgroup_size(WG)
fn mark_occurrences(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n = flat_index(gid);
  if (n >= p.tokens) { return; }
  let id = ids[n];
  if (id >= p.vocab) { return; }
  atomicMax(&bounds_atomic[id], p.tokens - n);
  atomicMax(&bounds_atomic[p.vocab + id], n + 1u);
}

@compute @workgroup_size(WG)
fn link_tokens(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n = flat_index(gid);
  if (n >= p.tokens) { return; }
  let id = ids[n];
  var next = NONE;
  var is_first = 0u;
  if (id < p.vocab) {
    is_first = select(0u, 1u, p.tokens - bounds[id] == n);
    let last = bounds[p.vocab + id] - 1u;
    for (var m = n + 1u; m <= last; m++) {
      if (ids[m] == id) { next = m; break; }
    }
  }
  links[n] = next;
  links[p.tokens + n] = is_first;
}

// One invocation per (position, 4 columns); only first occurrences do work.
@compute @workgroup_size(WG)
fn scatter_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
  let quads = (p.cols + 3u) / 4u;
  let index = flat_index(gid);
  if (index >= p.tokens * quads) { return; }
  let n = index / quads;
  if (links[p.tokens + n] == 0u) { return; }
  let c0 = (index % quads) * 4u;
  let width = min(4u, p.cols - c0);
  var sum = vec4(0.0);
  for (var m = n; m != NONE; m = links[m]) {
    for (var k = 0u; k < width; k++) { sum[k] += d_out[m * p.cols + c0 + k]; }
  }
  let row = ids[n] * p.cols + c0;
  for (var k = 0u; k < width; k++) { d_table[row + k] += sum[k]; }
}
