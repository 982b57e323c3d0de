// SwiGLU, the Llama FFN gate: out = silu(gate) · up, silu(g) = g · σ(g), over flat [N · Hd] arrays.
// Backward from dOut and the saved inputs:
//   dUp   = dOut · silu(g)
//   dGate = dOut · up · σ(g) · (1 + g · (1 − σ(g)))
// Each invocation handles 4 consecutive elements with vec4 arithmetic; the dispatch is 2D so that
// large tensors stay under the per-dimension workgroup limit.

struct Params {
  n: u32,          // number of elements
  row_groups: u32, // workgroups per row of the 2D dispatch grid
  pad0: u32,
  pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gate: array<f32>;
@group(0) @binding(2) var<storage, read> up: array<f32>;
// forward [gate, up, out]; backward [gate, up, d_gate, d_out, d_up]
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> d_gate: array<f32>;
@group(0) @binding(4) var<storage, read> d_out: array<f32>;
@group(0) @binding(5) var<storage, read_write> d_up: array<f32>;

override WG: u32 = 256;

// exp of −|g| only: no overflow for large |g| of either sign.
fn sigmoid(g: vec4<f32>) -> vec4<f32> {
  let e = exp(-abs(g));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), g >= vec4(0.0));
}

fn first_index(gid: vec3<u32>) -> u32 {
  return (gid.y * p.row_groups * WG + gid.x) * 4u;
}

// Index of element k of the 4 starting at i, clamped to the last element: loads past the end read
// a valid value that is then not stored.
fn at(i: u32, k: u32) -> u32 {
  return min(i + k, p.n - 1u);
}

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = first_index(gid);
  if (i >= p.n) { return; }
  let g = vec4(gate[i], gate[at(i, 1u)], gate[at(i, 2u)], gate[at(i, 3u)]);
  let u = vec4(up[i], up[at(i, 1u)], up[at(i, 2u)], up[at(i, 3u)]);
  let o = g * sigmoid(g) * u;
  for (var k = 0u; k < 4u && i + k < p.n; k++) { out[i + k] = o[k]; }
}

@compute @workgroup_size(WG)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = first_index(gid);
  if (i >= p.n) { return; }
  let g = vec4(gate[i], gate[at(i, 1u)], gate[at(i, 2u)], gate[at(i, 3u)]);
  let u = vec4(up[i], up[at(i, 1u)], up[at(i, 2u)], up[at(i, 3u)]);
  let d = vec4(d_out[i], d_out[at(i, 1u)], d_out[at(i, 2u)], d_out[at(i, 3u)]);
  let s = sigmoid(g);
  let dg = d * u * s * (1.0 + g * (1.0 - s));
  let du = d * g * s;
  for (var k = 0u; k < 4u && i + k < p.n; k++) {
    d_gate[i + k] = dg[k];
    d_up[i + k] = du[k];
  }
}
