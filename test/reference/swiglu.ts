// CPU reference for SwiGLU in f64: out = silu(g) · u, silu(g) = g · σ(g).
const sigmoid = (g: number) => 1 / (1 + Math.exp(-g));

export function swigluForwardRef(gate: ArrayLike<number>, up: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: gate.length }, (_, i) => gate[i] * sigmoid(gate[i]) * up[i]);
}

/** dGate = dOut · u · σ(g) · (1 + g · (1 − σ(g))), dUp = dOut · silu(g). */
export function swigluBackwardRef(dOut: ArrayLike<number>, gate: ArrayLike<number>, up: ArrayLike<number>): { dGate: Float64Array; dUp: Float64Array } {
  const n = gate.length;
  const dGate = new Float64Array(n);
  const dUp = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const s = sigmoid(gate[i]);
    dGate[i] = dOut[i] * up[i] * s * (1 + gate[i] * (1 - s));
    dUp[i] = dOut[i] * gate[i] * s;
  }
  return { dGate, dUp };
}
