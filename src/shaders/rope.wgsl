// Rotary position embedding on x [B, T, H, D]: the pair (a, b) of frequency index i (i < D/2)
// rotates by angle = pos · inv_freq[i], pos = start_pos + t.
//   interleaved (Meta / llama2.c): a = 2i,  b = 2i + 1
//   half (Hugging Face rotate-half): a = i,   b = i + D/2
// The backward pass is the same rotation by −angle (sign = −1).
//
// Angles in f32: pos · inv_freq reaches hundreds of radians, where f32 keeps only ~1e-4 rad and
// sin/cos lose accuracy outside [−π, π]. So the host stores each frequency in turns per position,
// split into three f32 parts hi + mid + lo (hi and mid with 8 significant bits). For pos < 2^16,
// pos·hi and pos·mid are exact in f32 and their fractional parts are exact; pos·lo is small.
// The angle is assembled in [−π, π] with an error of about 1e-7 rad. sin/cos are our own
// polynomials: WGSL only promises 2^-11 absolute error for the built-ins, and SwiftShader's
// measured ~5e-4 here.
//
// One invocation per (token row, pair): the angle is computed once and applied to every head. The
// `rotate_pair_*` entry points rotate a second tensor of the same rows (k beside q, with its own head
// count) by the same angles in the same dispatch: one dispatch where there were two, which is most of
// the cost of a decode step's small tensors on a software GPU.

struct Params {
  rows: u32,       // B · T
  seq_len: u32,    // T
  heads: u32,      // H
  half_dim: u32,   // D / 2
  start_pos: u32,
  sign: f32,       // +1 forward, −1 backward
  row_groups: u32, // workgroups per row of the 2D dispatch grid
  heads_k: u32,    // rotate_pair_*: the second tensor's heads
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> turns_per_pos: array<vec4<f32>>; // [D/2]: (hi, mid, lo, 0)
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read> x_k: array<f32>;
@group(0) @binding(5) var<storage, read_write> out_k: array<f32>;

override WG: u32 = 64;

const TAU: f32 = 6.283185307179586;

// Signed fractional part in [−0.5, 0.5]; exact for f32 inputs.
fn wrap(t: f32) -> f32 {
  return t - round(t);
}

// (sin, cos) of 2π·turns for turns in [−0.5, 0.5]: quadrant reduction to |x| ≤ π/4, then Taylor
// polynomials (truncation error < 2e-9, below f32 rounding).
fn sin_cos_turns(turns: f32) -> vec2<f32> {
  let quadrant = round(4.0 * turns);
  let x = TAU * (turns - 0.25 * quadrant); // the subtraction is exact
  let x2 = x * x;
  let s = x * (1.0 + x2 * (-1.0 / 6.0 + x2 * (1.0 / 120.0 + x2 * (-1.0 / 5040.0 + x2 * (1.0 / 362880.0)))));
  let c = 1.0 + x2 * (-0.5 + x2 * (1.0 / 24.0 + x2 * (-1.0 / 720.0 + x2 * (1.0 / 40320.0 + x2 * (-1.0 / 3628800.0)))));
  switch (i32(quadrant) & 3) {
    case 0: { return vec2(s, c); }
    case 1: { return vec2(c, -s); }
    case 2: { return vec2(-s, -c); }
    default: { return vec2(-c, s); }
  }
}

// An invocation's (row, pair) and the sine and cosine of its angle; valid false past the end.
struct Rotation {
  row: u32,
  i: u32,
  s: f32,
  c: f32,
  valid: bool,
}

fn rotation(gid: vec3<u32>) -> Rotation {
  let index = gid.y * p.row_groups * WG + gid.x;
  if (index >= p.rows * p.half_dim) { return Rotation(0u, 0u, 0.0, 1.0, false); }
  let row = index / p.half_dim;
  let i = index % p.half_dim;
  let pos = f32(p.start_pos + row % p.seq_len);
  let f = turns_per_pos[i];
  let turns = p.sign * wrap(wrap(pos * f.x) + wrap(pos * f.y) + pos * f.z);
  let sc = sin_cos_turns(turns);
  return Rotation(row, i, sc.x, sc.y, true);
}

// The indices (a, b) of pair i of head h of a row, in a tensor of `heads` heads.
fn pair_at(r: Rotation, h: u32, heads: u32, interleaved: bool) -> vec2<u32> {
  let base = (r.row * heads + h) * 2u * p.half_dim;
  if (interleaved) { return vec2(base + 2u * r.i, base + 2u * r.i + 1u); }
  return vec2(base + r.i, base + r.i + p.half_dim);
}

fn rotate_x(r: Rotation, interleaved: bool) {
  for (var h = 0u; h < p.heads; h++) {
    let ab = pair_at(r, h, p.heads, interleaved);
    let x0 = x[ab.x];
    let x1 = x[ab.y];
    out[ab.x] = x0 * r.c - x1 * r.s;
    out[ab.y] = x0 * r.s + x1 * r.c;
  }
}

// rotate_x on the second tensor's bindings. WGSL passes a storage buffer to a function only under the
// unrestricted_pointer_parameters extension, which not every runtime here has, so the loop is spelled twice.
fn rotate_k(r: Rotation, interleaved: bool) {
  for (var h = 0u; h < p.heads_k; h++) {
    let ab = pair_at(r, h, p.heads_k, interleaved);
    let x0 = x_k[ab.x];
    let x1 = x_k[ab.y];
    out_k[ab.x] = x0 * r.c - x1 * r.s;
    out_k[ab.y] = x0 * r.s + x1 * r.c;
  }
}

@compute @workgroup_size(WG)
fn rotate_interleaved(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = rotation(gid);
  if (r.valid) { rotate_x(r, true); }
}

@compute @workgroup_size(WG)
fn rotate_half(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = rotation(gid);
  if (r.valid) { rotate_x(r, false); }
}

@compute @workgroup_size(WG)
fn rotate_pair_interleaved(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = rotation(gid);
  if (r.valid) {
    rotate_x(r, true);
    rotate_k(r, true);
  }
}

@compute @workgroup_size(WG)
fn rotate_pair_half(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = rotation(gid);
  if (r.valid) {
    rotate_x(r, false);
    rotate_k(r, false);
  }
}
