// CPU reference for AdamW (torch.optim.AdamW), in f64, updating copies of the state.
export interface AdamWStateRef {
  param: Float64Array;
  m: Float64Array;
  v: Float64Array;
}

export interface AdamWHyper {
  lr: number;
  step: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export function adamwRef(state: AdamWStateRef, grad: ArrayLike<number>, h: AdamWHyper, gradScale = 1): AdamWStateRef {
  const n = state.param.length;
  const out = { param: new Float64Array(n), m: new Float64Array(n), v: new Float64Array(n) };
  const bias1 = 1 - h.beta1 ** h.step;
  const bias2 = 1 - h.beta2 ** h.step;
  for (let i = 0; i < n; i++) {
    const g = grad[i] * gradScale;
    const m = h.beta1 * state.m[i] + (1 - h.beta1) * g;
    const v = h.beta2 * state.v[i] + (1 - h.beta2) * g * g;
    const decayed = state.param[i] * (1 - h.lr * h.weightDecay);
    out.param[i] = decayed - (h.lr * (m / bias1)) / (Math.sqrt(v / bias2) + h.eps);
    out.m[i] = m;
    out.v[i] = v;
  }
  return out;
}
