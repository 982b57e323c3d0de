// CPU reference for the global gradient norm and the clip factor, in f64.
export function globalGradNormRef(grads: ArrayLike<number>[], maxNorm: number): { norm: number; clipFactor: number } {
  let s = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) s += g[i] * g[i];
  const norm = Math.sqrt(s);
  return { norm, clipFactor: Math.min(1, maxNorm / (norm + 1e-6)) };
}
