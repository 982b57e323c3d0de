// CPU reference for the token-weighted cross-entropy, in f64.
export interface CrossEntropyReference {
  loss: Float64Array;
  prob: Float64Array;
}

/** Per-row -log softmax(x)[target] and softmax(x)[target]; NaN for target >= vocab. */
export function crossEntropyRef(logits: ArrayLike<number>, targets: ArrayLike<number>, rows: number, vocab: number): CrossEntropyReference {
  const loss = new Float64Array(rows);
  const prob = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const base = r * vocab;
    let max = -Infinity;
    for (let j = 0; j < vocab; j++) max = Math.max(max, logits[base + j]);
    let sum = 0;
    for (let j = 0; j < vocab; j++) sum += Math.exp(logits[base + j] - max);
    const t = targets[r];
    if (t >= vocab) {
      loss[r] = prob[r] = NaN;
      continue;
    }
    const logp = logits[base + t] - max - Math.log(sum);
    loss[r] = -logp;
    prob[r] = Math.exp(logp);
  }
  return { loss, prob };
}

/** The training objective Σ w·loss / Σw (Σw given: the whole optimiser step's weight sum). */
export function weightedLossRef(loss: ArrayLike<number>, lossMask: ArrayLike<number>, weightSum: number): number {
  if (weightSum === 0) return 0;
  let s = 0;
  for (let i = 0; i < loss.length; i++) if (lossMask[i] !== 0) s += lossMask[i] * loss[i];
  return s / weightSum;
}

/** Analytic d(Σ w·loss / Σw)/d logits = (softmax - onehot(target)) · w / Σw. */
export function crossEntropyBackwardRef(
  logits: ArrayLike<number>,
  targets: ArrayLike<number>,
  lossMask: ArrayLike<number>,
  weightSum: number,
  rows: number,
  vocab: number,
): Float64Array {
  const d = new Float64Array(rows * vocab);
  for (let r = 0; r < rows; r++) {
    const coef = weightSum > 0 && targets[r] < vocab ? lossMask[r] / weightSum : 0;
    if (coef === 0) continue;
    const base = r * vocab;
    let max = -Infinity;
    for (let j = 0; j < vocab; j++) max = Math.max(max, logits[base + j]);
    let sum = 0;
    for (let j = 0; j < vocab; j++) sum += Math.exp(logits[base + j] - max);
    for (let j = 0; j < vocab; j++) d[base + j] = (Math.exp(logits[base + j] - max) / sum) * coef;
    d[base + targets[r]] -= coef;
  }
  return d;
}
