// CPU reference for the token embedding in f64. Ids >= V give zero rows and no gradient.
export function embeddingForwardRef(ids: ArrayLike<number>, table: ArrayLike<number>, vocab: number, cols: number): Float64Array {
  const out = new Float64Array(ids.length * cols);
  for (let n = 0; n < ids.length; n++) {
    if (ids[n] >= vocab) continue;
    for (let c = 0; c < cols; c++) out[n * cols + c] = table[ids[n] * cols + c];
  }
  return out;
}

/** dTable = initial + Σ_{n: ids[n] = v} dOut[n] for each row v. */
export function embeddingBackwardRef(dOut: ArrayLike<number>, ids: ArrayLike<number>, vocab: number, cols: number, initial?: ArrayLike<number>): Float64Array {
  const dTable = initial ? Float64Array.from(initial) : new Float64Array(vocab * cols);
  for (let n = 0; n < ids.length; n++) {
    if (ids[n] >= vocab) continue;
    for (let c = 0; c < cols; c++) dTable[ids[n] * cols + c] += dOut[n * cols + c];
  }
  return dTable;
}
