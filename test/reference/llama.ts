// CPU reference forward of the Llama architecture in f64: the oracle for the GPU model and for XTF's
// attention scores. Written to be read next to the paper, not to be fast.
//
//   x = tokEmbedding[token]
//   per layer:  x += wo · Attention(RoPE(wq·n + bq), RoPE(wk·n + bk), wv·n + bv)   with n = RMSNorm(x, attnNorm)
//               x += w2 · (silu(w1·n) * (w3·n))                                      with n = RMSNorm(x, ffnNorm)
//   logits = classifier · RMSNorm(x, finalNorm)
//
// Options of the config: heads of an explicit headDim (q is nHeads·headDim wide, wo maps it back to dim);
// with qkNorm (Qwen3) every query head is RMSNorm(·, qNorm) and every key head RMSNorm(·, kNorm) before
// RoPE; RoPE turns pair i by pos · inv_freq[i] from src/model/rope-scaling.ts (plain or scaled); with a
// slidingWindow a position attends to the last slidingWindow positions only (the GPU model refuses longer
// sequences instead, so the reference is what shows the window changes nothing within it).

import { type LlamaConfig, headDim, kvDim, qDim } from '../../src/model/config.ts';
import { ropeInverseFrequencies } from '../../src/model/rope-scaling.ts';
import { type LlamaWeights, classifierWeight } from '../../src/model/weights.ts';

export interface ReferenceOptions {
  /** Also return the attention probabilities of every layer and head. */
  attention?: boolean;
  /** Only compute logits for the last position (generation). */
  lastLogitsOnly?: boolean;
  /** Reuse and extend the keys/values of earlier positions (see llamaReferenceForward). */
  cache?: KvCache;
  /** Also return the final hidden state RMSNorm(x, finalNorm) of every computed position. */
  finalHidden?: boolean;
}

export interface ReferenceOutput {
  /** logits[i] = scores for the token after computed position i, length vocabSize (only the last with lastLogitsOnly). */
  logits: Float64Array[];
  /**
   * attention[layer] = probabilities [nHeads, N, T] row-major (N computed positions, T = tokens.length; N = T
   * without a cache): element (h, i, key) is how much computed position i attends to position `key` in head h;
   * zero after the query's own position (causal) and before its sliding window, if any. Present when asked.
   */
  attention?: Float64Array[];
  /** finalHidden[i] = RMSNorm(x, finalNorm) at computed position i (length dim), the classifier's input. Present when asked. */
  finalHidden?: Float64Array[];
}

/** y = W x (+ b) with W stored [rows = out, cols = in]. */
export function matvec(W: Float32Array, x: Float64Array, rows: number, cols: number, bias?: Float32Array): Float64Array {
  const y = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let sum = bias ? bias[r] : 0;
    for (let c = 0, at = r * cols; c < cols; c++, at++) sum += W[at] * x[c];
    y[r] = sum;
  }
  return y;
}

export function rmsNorm(x: Float64Array, weight: Float32Array, eps: number): Float64Array {
  let sumSq = 0;
  for (const v of x) sumSq += v * v;
  const scale = 1 / Math.sqrt(sumSq / x.length + eps);
  return x.map((v, i) => v * scale * weight[i]);
}

/** RMSNorm of each head of `vec` (heads of weight.length features, back to back) on its own, in place. */
export function rmsNormPerHead(vec: Float64Array, weight: Float32Array, eps: number): void {
  const hd = weight.length;
  for (let at = 0; at < vec.length; at += hd) vec.set(rmsNorm(vec.subarray(at, at + hd), weight, eps), at);
}

/**
 * Rotates each head of `vec` (heads of size hd = 2 · inverseFrequencies.length, back to back) in place for
 * position `pos`. Pair i of a head — features (2i, 2i+1) interleaved, or (i, i + hd/2) in the 'half'
 * layout — turns by pos · inverseFrequencies[i] (theta^(-2i/hd) for plain RoPE).
 */
export function applyRope(vec: Float64Array, pos: number, inverseFrequencies: ArrayLike<number>, layout: LlamaConfig['ropeLayout']): void {
  const hd = 2 * inverseFrequencies.length;
  for (let head = 0; head < vec.length / hd; head++) {
    for (let i = 0; i < hd / 2; i++) {
      const angle = pos * inverseFrequencies[i];
      const [cos, sin] = [Math.cos(angle), Math.sin(angle)];
      const a = head * hd + (layout === 'interleaved' ? 2 * i : i);
      const b = layout === 'interleaved' ? a + 1 : a + hd / 2;
      const [x0, x1] = [vec[a], vec[b]];
      vec[a] = x0 * cos - x1 * sin;
      vec[b] = x0 * sin + x1 * cos;
    }
  }
}

export function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}

export function logSoftmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  const logZ = max + Math.log(sum);
  return Float64Array.from(logits, (v) => v - logZ);
}

/** Keys (after RoPE) and values of the positions processed so far: keys[layer][position], length kvDim. */
export interface KvCache {
  keys: Float64Array[][];
  values: Float64Array[][];
}

export function emptyKvCache(c: LlamaConfig): KvCache {
  return { keys: Array.from({ length: c.nLayers }, () => []), values: Array.from({ length: c.nLayers }, () => []) };
}

/**
 * Runs `tokens` (position 0 first). With `options.cache`, positions already in the cache are not recomputed:
 * only tokens[cached..] run, their keys and values are appended, and logits / attention rows cover them alone.
 */
export function llamaReferenceForward(model: LlamaWeights, tokens: readonly number[], options: ReferenceOptions = {}): ReferenceOutput {
  const c = model.config;
  const w = model.tensors;
  const hd = headDim(c), kv = kvDim(c), qd = qDim(c);
  const inverseFrequencies = ropeInverseFrequencies(hd, c.ropeTheta, c.ropeScaling);
  const window = c.slidingWindow ?? Infinity;
  const groupSize = c.nHeads / c.nKvHeads; // query heads sharing one key/value head
  const cache = options.cache ?? emptyKvCache(c);
  const start = cache.keys[0].length; // first position to compute
  const T = tokens.length, N = T - start;
  if (N < 0) throw new Error(`the cache holds ${start} positions but only ${T} tokens were given`);
  const attention: Float64Array[] = [];

  let x: Float64Array[] = tokens.slice(start).map((tok) => Float64Array.from(w.tokEmbedding.subarray(tok * c.dim, (tok + 1) * c.dim)));

  for (let l = 0; l < c.nLayers; l++) {
    const p = `layers.${l}.`;
    // Attention block.
    const normed = x.map((xt) => rmsNorm(xt, w[p + 'attnNorm'], c.normEps));
    const q = normed.map((n) => matvec(w[p + 'wq'], n, qd, c.dim, w[p + 'bq']));
    const k = normed.map((n) => matvec(w[p + 'wk'], n, kv, c.dim, w[p + 'bk']));
    const v = normed.map((n) => matvec(w[p + 'wv'], n, kv, c.dim, w[p + 'bv']));
    for (let i = 0; i < N; i++) {
      if (c.qkNorm) {
        rmsNormPerHead(q[i], w[p + 'qNorm'], c.normEps);
        rmsNormPerHead(k[i], w[p + 'kNorm'], c.normEps);
      }
      applyRope(q[i], start + i, inverseFrequencies, c.ropeLayout);
      applyRope(k[i], start + i, inverseFrequencies, c.ropeLayout);
    }
    const keys = cache.keys[l], values = cache.values[l];
    keys.push(...k);
    values.push(...v);
    const probs = new Float64Array(options.attention ? c.nHeads * N * T : 0);
    const mixed = x.map(() => new Float64Array(qd)); // concatenated head outputs per position
    for (let h = 0; h < c.nHeads; h++) {
      const kvOff = Math.floor(h / groupSize) * hd;
      for (let i = 0; i < N; i++) {
        // Causal: position t sees keys first..t (first = 0 unless a sliding window cuts the older ones off).
        const t = start + i;
        const first = Math.max(0, t - window + 1);
        const scores = new Float64Array(t + 1 - first);
        for (let s = first; s <= t; s++) {
          let dot = 0;
          for (let d = 0; d < hd; d++) dot += q[i][h * hd + d] * keys[s][kvOff + d];
          scores[s - first] = dot / Math.sqrt(hd);
        }
        const weights = logSoftmax(scores).map(Math.exp);
        for (let s = first; s <= t; s++) {
          for (let d = 0; d < hd; d++) mixed[i][h * hd + d] += weights[s - first] * values[s][kvOff + d];
          if (options.attention) probs[(h * N + i) * T + s] = weights[s - first];
        }
      }
    }
    if (options.attention) attention.push(probs);
    x = x.map((xt, i) => add(xt, matvec(w[p + 'wo'], mixed[i], c.dim, qd)));

    // SwiGLU feed-forward block.
    x = x.map((xt) => {
      const n = rmsNorm(xt, w[p + 'ffnNorm'], c.normEps);
      const gate = matvec(w[p + 'w1'], n, c.hiddenDim, c.dim);
      const up = matvec(w[p + 'w3'], n, c.hiddenDim, c.dim);
      const hidden = gate.map((g, j) => silu(g) * up[j]);
      return add(xt, matvec(w[p + 'w2'], hidden, c.dim, c.hiddenDim));
    });
  }

  const classifier = classifierWeight(model);
  const positions = options.lastLogitsOnly ? x.slice(-1) : x;
  const logits = positions.map((xt) => matvec(classifier, rmsNorm(xt, w.finalNorm, c.normEps), c.vocabSize, c.dim));
  const out: ReferenceOutput = options.attention ? { logits, attention } : { logits };
  if (options.finalHidden) out.finalHidden = x.map((xt) => rmsNorm(xt, w.finalNorm, c.normEps));
  return out;
}

/** logProbs[i] = log p(tokens[i+1] | tokens[0..i]), the teacher-forced per-token log-likelihood. */
export function nextTokenLogProbs(model: LlamaWeights, tokens: readonly number[]): number[] {
  const { logits } = llamaReferenceForward(model, tokens);
  return tokens.slice(1).map((next, i) => logSoftmax(logits[i])[next]);
}

/** Greedy decoding with a KV cache: `steps` new tokens after the prompt, stopping early at `stopId`. */
export function greedyGenerate(model: LlamaWeights, prompt: readonly number[], steps: number, stopId?: number): number[] {
  const tokens = [...prompt];
  const cache = emptyKvCache(model.config);
  for (let i = 0; i < steps; i++) {
    const [logits] = llamaReferenceForward(model, tokens, { lastLogitsOnly: true, cache }).logits;
    let best = 0;
    for (let j = 1; j < logits.length; j++) if (logits[j] > logits[best]) best = j;
    if (best === stopId) break;
    tokens.push(best);
  }
  return tokens;
}

function add(a: Float64Array, b: Float64Array): Float64Array {
  return a.map((v, i) => v + b[i]);
}
