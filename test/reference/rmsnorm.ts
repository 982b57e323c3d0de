// CPU reference for RMSNorm in f64: y = x · rstd · w, rstd = 1 / sqrt(mean(x²) + eps).
export function rmsnormForwardRef(x: ArrayLike<number>, weight: ArrayLike<number>, rows: number, cols: number, eps: number): { y: Float64Array; rstd: Float64Array } {
  const y = new Float64Array(rows * cols);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let squares = 0;
    for (let c = 0; c < cols; c++) squares += x[r * cols + c] ** 2;
    const s = 1 / Math.sqrt(squares / cols + eps);
    rstd[r] = s;
    for (let c = 0; c < cols; c++) y[r * cols + c] = x[r * cols + c] * s * weight[c];
  }
  return { y, rstd };
}

/** Analytic backward: dx = s·g − x·s³/C·Σ g·x with g = dy·w; dw = Σ_rows dy·x·s. */
export function rmsnormBackwardRef(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  weight: ArrayLike<number>,
  rows: number,
  cols: number,
  eps: number,
): { dx: Float64Array; dWeight: Float64Array } {
  const { rstd } = rmsnormForwardRef(x, weight, rows, cols, eps);
  const dx = new Float64Array(rows * cols);
  const dWeight = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const s = rstd[r];
    let dot = 0;
    for (let c = 0; c < cols; c++) dot += dy[r * cols + c] * weight[c] * x[r * cols + c];
    const k = (dot * s * s * s) / cols;
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      dx[i] = s * dy[i] * weight[c] - k * x[i];
      dWeight[c] += dy[i] * x[i] * s;
    }
  }
  return { dx, dWeight };
}
