// Attention for devices with subgroups: the kernels of attention.part.wgsl, where each invocation of
// a quad loads one of the 4 rows a step walks (every invocation of a workgroup walks the same rows)
// and gets the other three from its partners by quadBroadcast. On a CPU driver a storage load inside
// a loop is a loop over the SIMD lanes, one scalar load each, and these loads were most of the
// kernels' time: a quarter of them made attention_received 2.3x faster on lavapipe (docs/speed.md).
// Needs whole quads: workgroups of a multiple of 4 invocations, filling subgroup lanes in invocation
// order (quad_lane = local index mod 4), as matmul_quad.wgsl assumes and test/ops/matmul.test.ts checks.
enable subgroups;

// #include attention.part.wgsl

// This invocation's component of a step's 4 indices.
fn quad_own(i: vec4<u32>) -> u32 {
  return select(select(i.x, i.y, quad_lane == 1u), select(i.z, i.w, quad_lane == 3u), quad_lane >= 2u);
}

fn quad_rows(own: vec4<f32>) -> Rows4 {
  return Rows4(quadBroadcast(own, 0u), quadBroadcast(own, 1u), quadBroadcast(own, 2u), quadBroadcast(own, 3u));
}

fn quad_values(own: f32) -> vec4<f32> {
  return vec4<f32>(quadBroadcast(own, 0u), quadBroadcast(own, 1u), quadBroadcast(own, 2u), quadBroadcast(own, 3u));
}

fn walked_k(d: u32) -> Rows4 {
  return quad_rows(k[quad_own(seen_base) + d]);
}

fn walked_v(d: u32) -> Rows4 {
  return quad_rows(v[quad_own(seen_base) + d]);
}

fn walked_q(d: u32) -> Rows4 {
  return quad_rows(q[quad_own(seen_base) + d]);
}

fn walked_d_out(d: u32) -> Rows4 {
  return quad_rows(d_out[quad_own(seen_base) + d]);
}

fn walked_lse(st: vec4<u32>) -> vec4<f32> {
  return quad_values(lse[quad_own(st)]);
}

fn walked_delta(st: vec4<u32>) -> vec4<f32> {
  return quad_values(delta[quad_own(st)]);
}

fn walked_weights(wi: vec4<u32>) -> vec4<f32> {
  return quad_values(query_weights[quad_own(wi)]);
}
