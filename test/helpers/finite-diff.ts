// Central finite differences in f64, for checking the CPU reference backward passes
// (which the GPU backward kernels are then compared against).
//
// loss(inputs) must be a scalar function; grad = dLoss/dInput for the input named `which`.
export function finiteDiff(
  loss: (x: Float64Array) => number,
  x: Float64Array,
  h = 1e-6,
  indices?: number[],
): Float64Array {
  const g = new Float64Array(x.length);
  for (const i of indices ?? x.keys()) {
    const keep = x[i];
    x[i] = keep + h;
    const up = loss(x);
    x[i] = keep - h;
    const down = loss(x);
    x[i] = keep;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

/** A fixed random projection turns a tensor output into a scalar loss: L = Σ out·w. */
export function projectionLoss(out: ArrayLike<number>, weights: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < out.length; i++) s += out[i] * weights[i];
  return s;
}
