// AdamW (decoupled weight decay, Loshchilov & Hutter; PyTorch's torch.optim.AdamW order):
//   p = p·(1 - lr·wd);  g = grad·scale;  m = β1·m + (1-β1)·g;  v = β2·v + (1-β2)·g²
//   p = p - lr · (m / (1-β1^t)) / (sqrt(v / (1-β2^t)) + eps)
// Each invocation updates 4 consecutive elements as one vec4. `adamw_scaled` multiplies the
// gradient by a factor read from the GPU (the global-norm clip factor), so clipping needs no
// host round trip.

struct Params {
  n: u32,
  row_groups: u32,    // workgroups per row of the 2D dispatch grid
  lr: f32,
  decay: f32,         // 1 - lr·weight_decay
  beta1: f32,
  beta2: f32,
  eps: f32,
  inv_bias1: f32,     // 1 / (1 - β1^t)
  inv_bias2: f32,     // 1 / (1 - β2^t)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read> grad_scale: array<f32>;

const WG = 256u;

// Indices of the 4 lanes, clamped so that a tail invocation reads in bounds; lanes past n are
// computed on copies of the last element and never stored.
fn lanes(i: u32) -> vec4<u32> {
  return min(vec4<u32>(i) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.n - 1u));
}

fn update(gid: vec3<u32>, scale: f32) {
  let i = (gid.y * p.row_groups * WG + gid.x) * 4u;
  if (i >= p.n) { return; }
  let j = lanes(i);
  var pv = vec4<f32>(param[j.x], param[j.y], param[j.z], param[j.w]);
  var mv = vec4<f32>(m[j.x], m[j.y], m[j.z], m[j.w]);
  var vv = vec4<f32>(v[j.x], v[j.y], v[j.z], v[j.w]);
  let g = vec4<f32>(grad[j.x], grad[j.y], grad[j.z], grad[j.w]) * scale;
  mv = p.beta1 * mv + (1.0 - p.beta1) * g;
  vv = p.beta2 * vv + (1.0 - p.beta2) * g * g;
  pv = pv * p.decay - p.lr * (mv * p.inv_bias1) / (sqrt(vv * p.inv_bias2) + p.eps);
  for (var k = 0u; k < 4u; k++) {
    if (i + k < p.n) {
      param[i + k] = pv[k];
      m[i + k] = mv[k];
      v[i + k] = vv[k];
    }
  }
}

@compute @workgroup_size(WG)
fn adamw(@builtin(global_invocation_id) gid: vec3<u32>) {
  update(gid, 1.0);
}

@compute @workgroup_size(WG)
fn adamw_scaled(@builtin(global_invocation_id) gid: vec3<u32>) {
  update(gid, grad_scale[0]);
}
