// CPU reference for causal grouped-query attention, f64 throughout. Written for clarity, not speed:
// explicit probabilities P [B, H, Tq, Tk], from which the GPU kernels' fused results must follow.
// Layout as in src/ops/attention.ts: q [B, Tq, H, D], k and v [B, Tk, Hkv, D], out [B, Tq, H, D];
// query row i sits at absolute position Tk - Tq + i and sees keys j <= that position.

import type { AttentionDims } from '../../src/ops/attention.ts';

export type { AttentionDims };

export interface AttentionForwardReference {
  out: Float64Array;
  /** log Σ_j exp(scale·q_i·k_j) over visible keys, [B, H, Tq]. */
  logSumExp: Float64Array;
  /** [B, H, Tq, Tk], zero above the causal diagonal. */
  probs: Float64Array;
}

const qIndex = (d: AttentionDims, b: number, i: number, h: number) => ((b * d.tq + i) * d.heads + h) * d.headDim;
const kIndex = (d: AttentionDims, b: number, j: number, g: number) => ((b * d.tk + j) * d.kvHeads + g) * d.headDim;
const pIndex = (d: AttentionDims, b: number, h: number, i: number) => ((b * d.heads + h) * d.tq + i) * d.tk;

export function defaultScale(dims: AttentionDims): number {
  return 1 / Math.sqrt(dims.headDim);
}

export function attentionForwardRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  dims: AttentionDims,
  scale = defaultScale(dims),
  /** Per batch row, the first real key of a left-padded row: rows at or after it see keys from it on,
   *  the pad rows before it see only pad rows. Default: 0 (no padding). */
  keyStart?: ArrayLike<number>,
): AttentionForwardReference {
  const { batch, tq, tk, heads, kvHeads, headDim: D } = dims;
  const group = heads / kvHeads;
  const out = new Float64Array(batch * tq * heads * D);
  const logSumExp = new Float64Array(batch * heads * tq);
  const probs = new Float64Array(batch * heads * tq * tk);
  const scores = new Float64Array(tk);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const g = Math.floor(h / group);
      for (let i = 0; i < tq; i++) {
        const pos = tk - tq + i;
        const start = keyStart?.[b] ?? 0;
        const lo = pos < start ? 0 : start;
        const qi = qIndex(dims, b, i, h);
        let max = -Infinity;
        for (let j = lo; j <= pos; j++) {
          const kj = kIndex(dims, b, j, g);
          let s = 0;
          for (let c = 0; c < D; c++) s += q[qi + c] * k[kj + c];
          scores[j] = s * scale;
          max = Math.max(max, scores[j]);
        }
        let sum = 0;
        for (let j = lo; j <= pos; j++) sum += Math.exp(scores[j] - max);
        const lse = max + Math.log(sum);
        logSumExp[(b * heads + h) * tq + i] = lse;
        const pi = pIndex(dims, b, h, i);
        for (let j = lo; j <= pos; j++) {
          const pij = Math.exp(scores[j] - lse);
          probs[pi + j] = pij;
          const vj = kIndex(dims, b, j, g);
          for (let c = 0; c < D; c++) out[qi + c] += pij * v[vj + c];
        }
      }
    }
  }
  return { out, logSumExp, probs };
}

export interface AttentionGradients {
  dQ: Float64Array;
  dK: Float64Array;
  dV: Float64Array;
}

/** Analytic backward from the explicit probabilities: dS = P ∘ (dP - rowsum(P ∘ dP)). */
export function attentionBackwardRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  dOut: ArrayLike<number>,
  dims: AttentionDims,
  scale = defaultScale(dims),
): AttentionGradients {
  const { batch, tq, tk, heads, kvHeads, headDim: D } = dims;
  const group = heads / kvHeads;
  const { probs } = attentionForwardRef(q, k, v, dims, scale);
  const dQ = new Float64Array(q.length);
  const dK = new Float64Array(k.length);
  const dV = new Float64Array(v.length);
  const dP = new Float64Array(tk);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const g = Math.floor(h / group);
      for (let i = 0; i < tq; i++) {
        const pos = tk - tq + i;
        const qi = qIndex(dims, b, i, h);
        const pi = pIndex(dims, b, h, i);
        let rowDot = 0;
        for (let j = 0; j <= pos; j++) {
          const vj = kIndex(dims, b, j, g);
          let s = 0;
          for (let c = 0; c < D; c++) s += dOut[qi + c] * v[vj + c];
          dP[j] = s;
          rowDot += probs[pi + j] * s;
        }
        for (let j = 0; j <= pos; j++) {
          const pij = probs[pi + j];
          const dS = pij * (dP[j] - rowDot) * scale;
          const kj = kIndex(dims, b, j, g);
          for (let c = 0; c < D; c++) {
            dV[kj + c] += pij * dOut[qi + c];
            dQ[qi + c] += dS * k[kj + c];
            dK[kj + c] += dS * q[qi + c];
          }
        }
      }
    }
  }
  return { dQ, dK, dV };
}

/**
 * received[b, h, j] = Σ_{i : position(i) > j} w[b, i] · P[b, h, i, j]: the attention key j gets from
 * strictly later query rows (XTF's reasoning importance before averaging). w [B, Tq], default ones.
 */
export function attentionReceivedRef(probs: ArrayLike<number>, dims: AttentionDims, queryWeights?: ArrayLike<number>): Float64Array {
  const { batch, tq, tk, heads } = dims;
  const received = new Float64Array(batch * heads * tk);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < tq; i++) {
        const pos = tk - tq + i;
        const w = queryWeights ? queryWeights[b * tq + i] : 1;
        const pi = pIndex(dims, b, h, i);
        for (let j = 0; j < pos; j++) received[(b * heads + h) * tk + j] += w * probs[pi + j];
      }
    }
  }
  return received;
}
