// CPU reference for rotary position embedding in f64, x [B, T, H, D].
export type RopeLayout = 'interleaved' | 'half';

export interface RopeRefShape {
  batch: number;
  seqLen: number;
  heads: number;
  headDim: number;
}

/** Rotates each pair by sign · (startPos + t) · theta^(-2i/D); sign −1 is the backward pass. */
export function ropeRef(x: ArrayLike<number>, s: RopeRefShape, theta: number, layout: RopeLayout, startPos = 0, sign = 1): Float64Array {
  const { batch, seqLen, heads, headDim } = s;
  const half = headDim / 2;
  const out = new Float64Array(batch * seqLen * heads * headDim);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < seqLen; t++) {
      for (let i = 0; i < half; i++) {
        const angle = sign * (startPos + t) * theta ** ((-2 * i) / headDim);
        const c = Math.cos(angle), sn = Math.sin(angle);
        for (let h = 0; h < heads; h++) {
          const base = ((b * seqLen + t) * heads + h) * headDim;
          const a = layout === 'interleaved' ? base + 2 * i : base + i;
          const bb = layout === 'interleaved' ? a + 1 : a + half;
          out[a] = x[a] * c - x[bb] * sn;
          out[bb] = x[a] * sn + x[bb] * c;
        }
      }
    }
  }
  return out;
}

/** The llama2.c → Hugging Face wq/wk row permutation within each head: [0, 2, ..., D-2, 1, 3, ..., D-1].
 *  Applied to the last axis of a [..., D] array: out[j] = x[perm[j]]. */
export function interleavedToHalf(x: ArrayLike<number>, headDim: number): Float64Array {
  const out = new Float64Array(x.length);
  const half = headDim / 2;
  for (let base = 0; base < x.length; base += headDim) {
    for (let j = 0; j < headDim; j++) out[base + j] = x[base + (j < half ? 2 * j : 2 * (j - half) + 1)];
  }
  return out;
}
