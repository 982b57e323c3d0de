// Attention for every device: each invocation loads the rows it walks itself. The kernels are in
// attention.part.wgsl; attention_quad.wgsl is the same with a quarter of these loads, for devices
// with subgroups (src/ops/attention.ts picks).

// #include attention.part.wgsl

fn walked_k(d: u32) -> Rows4 {
  return Rows4(k[seen_base.x + d], k[seen_base.y + d], k[seen_base.z + d], k[seen_base.w + d]);
}

fn walked_v(d: u32) -> Rows4 {
  return Rows4(v[seen_base.x + d], v[seen_base.y + d], v[seen_base.z + d], v[seen_base.w + d]);
}

fn walked_q(d: u32) -> Rows4 {
  return Rows4(q[seen_base.x + d], q[seen_base.y + d], q[seen_base.z + d], q[seen_base.w + d]);
}

fn walked_d_out(d: u32) -> Rows4 {
  return Rows4(d_out[seen_base.x + d], d_out[seen_base.y + d], d_out[seen_base.z + d], d_out[seen_base.w + d]);
}

fn walked_lse(st: vec4<u32>) -> vec4<f32> {
  return vec4<f32>(lse[st.x], lse[st.y], lse[st.z], lse[st.w]);
}

fn walked_delta(st: vec4<u32>) -> vec4<f32> {
  return vec4<f32>(delta[st.x], delta[st.y], delta[st.z], delta[st.w]);
}

fn walked_weights(wi: vec4<u32>) -> vec4<f32> {
  return vec4<f32>(query_weights[wi.x], query_weights[wi.y], query_weights[wi.z], query_weights[wi.w]);
}
