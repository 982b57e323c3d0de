// Causal multi-head attention with grouped-query heads (GQA), flash style: the softmax is fused,
// the forward saves the per-row log-sum-exp [B, H, Tq] instead of probabilities, and the backward
// and the optional outputs recompute probabilities from it. See src/shaders/attention.part.wgsl.
//
// q [B, Tq, H, D], k and v [B, Tk, Hkv, D], out [B, Tq, H, D]; H % Hkv == 0 and query head h reads
// kv head floor(h / (H / Hkv)). Query row i is absolute position Tk - Tq + i: Tq = Tk for training,
// Tq < Tk for KV-cached generation (forward, backward and the optional outputs all accept it).
import { Tensor, Uniforms, type Runtime } from '../gpu/index.ts';
import { ceilDiv } from './grid.ts';
import { kernelChoices } from './kernel-choice.ts';

export interface AttentionOptions {
  /** Multiplies q·k before the softmax; default 1/sqrt(D). */
  scale?: number;
}

export interface AttentionForwardOptions extends AttentionOptions {
  /** Keys in use per batch row: the first `kvLength` of k's and v's rows (a KV cache's filled part). Default all. */
  kvLength?: number;
  /**
   * [B] u32, for left-padded batches: batch row b's real tokens start at key keyStart[b]. Query rows at or
   * after it see no key before it; the pad rows before it see only each other. Default: no padding.
   */
  keyStart?: Tensor;
}

export interface AttentionForwardResult {
  /** [B, Tq, H, D] */
  out: Tensor;
  /** log Σ_j exp(scale·q_i·k_j) over the keys row i sees, [B, H, Tq]: what backward needs. */
  logSumExp: Tensor;
}

export interface AttentionGradients {
  /** [B, Tq, H, D] */
  dQ: Tensor;
  /** [B, Tk, Hkv, D], summed over the query heads sharing each kv head. */
  dK: Tensor;
  /** [B, Tk, Hkv, D], summed like dK. */
  dV: Tensor;
}

export interface AttentionReceivedOptions extends AttentionOptions {
  /** [B, Tq] weight of each query row (e.g. 1 on output positions only); default all ones. */
  queryWeights?: Tensor;
  /** [B] u32: each batch row's first key that is asked for. Keys before it come back as 0 without being
   *  computed; keys from it on are exact. Default: every key. */
  keyStart?: Tensor;
}

/** q [B, Tq, H, D], k and v [B, Tk, Hkv, D]: query row i sits at position Tk − Tq + i. */
export interface AttentionDims {
  batch: number;
  /** Query rows (the last Tq positions of the sequence). */
  tq: number;
  /** Key/value rows. */
  tk: number;
  heads: number;
  kvHeads: number;
  headDim: number;
}

// The kernels unroll the head dim by hand up to 32 vec4s (see attention.part.wgsl): D = 128 covers Llama
// 3.2 3B / 3.1 8B, Qwen2.5 1.5B and up and Mistral 7B, D = 96 Phi-3 mini. D = 256 (Gemma) would
// double the unrolled code and its compile time again.
const MAX_HEAD_DIM = 128;
// Workgroup sizes of the blocked kernels and of a decode step: per adapter, in ./kernel-choice.ts.
const PROBS_WG = 64;

const shapeOf = (t: Tensor) => `[${t.shape.join(', ')}]`;

function attentionDims(op: string, q: Tensor, k: Tensor, v?: Tensor): AttentionDims {
  if (q.shape.length !== 4 || k.shape.length !== 4) {
    throw new RangeError(`${op}: q ${shapeOf(q)} must be [B, Tq, H, D] and k ${shapeOf(k)} [B, Tk, Hkv, D]`);
  }
  const [batch, tq, heads, headDim] = q.shape;
  const [kb, tk, kvHeads, kd] = k.shape;
  if (kb !== batch || kd !== headDim) {
    throw new RangeError(`${op}: q ${shapeOf(q)} and k ${shapeOf(k)} differ in batch or head dim`);
  }
  if (v && (v.shape.length !== 4 || v.shape.some((n, i) => n !== k.shape[i]))) {
    throw new RangeError(`${op}: v ${shapeOf(v)} must have k's shape ${shapeOf(k)}`);
  }
  if (kvHeads === 0 || heads % kvHeads !== 0) {
    throw new RangeError(`${op}: ${heads} query heads (q ${shapeOf(q)}) are not a multiple of ${kvHeads} kv heads (k ${shapeOf(k)})`);
  }
  if (headDim === 0 || headDim % 4 !== 0 || headDim > MAX_HEAD_DIM) {
    throw new RangeError(`${op}: head dim ${headDim} (q ${shapeOf(q)}) must be a positive multiple of 4, at most ${MAX_HEAD_DIM}`);
  }
  if (tq > tk) {
    throw new RangeError(`${op}: ${tq} query rows (q ${shapeOf(q)}) but only ${tk} keys (k ${shapeOf(k)}); queries are the last Tq of Tk positions`);
  }
  for (const t of [q, k, v]) {
    if (t && t.dtype !== 'f32') throw new RangeError(`${op}: ${t} must be f32`);
  }
  return { batch, tq, tk, heads, kvHeads, headDim };
}

function expectShape(op: string, t: Tensor, shape: number[], what: string): void {
  if (t.shape.length !== shape.length || t.shape.some((n, i) => n !== shape[i])) {
    throw new RangeError(`${op}: ${what} ${shapeOf(t)} must be [${shape.join(', ')}]`);
  }
}

/** A per-batch-row first key: u32 [B]. */
function checkKeyStart(op: string, keyStart: Tensor | undefined, d: AttentionDims): void {
  if (keyStart && (keyStart.dtype !== 'u32' || keyStart.shape.length !== 1 || keyStart.shape[0] !== d.batch)) {
    throw new RangeError(`${op}: keyStart ${keyStart} must be u32 [${d.batch}] (one first key per batch row)`);
  }
}

function params(d: AttentionDims, scale: number, extra: { useWeights?: boolean; kvRows?: number; useKeyStart?: boolean } = {}): ArrayBuffer {
  return new Uniforms()
    .u32(d.batch)
    .u32(d.tq)
    .u32(d.tk)
    .u32(d.heads)
    .u32(d.kvHeads)
    .f32(scale)
    .u32(extra.useWeights ? 1 : 0)
    .u32(extra.kvRows ?? d.tk)
    .u32(extra.useKeyStart ? 1 : 0)
    .bytes();
}

/** A blocked kernel's shader, its constants for workgroups of `wg` invocations, and the rows each
 *  workgroup owns (4 per invocation). attention_quad.wgsl shares the walked rows' loads within quads:
 *  it needs the subgroups feature and whole quads (./kernel-choice.ts says where it pays). */
function workgroupsOf(rt: Runtime, d: AttentionDims, wg: number): { shader: 'attention' | 'attention_quad'; constants: Record<string, number>; rows: number } {
  const quads = kernelChoices(rt).attention.quadFetch && wg % 4 === 0 && rt.hasFeature('subgroups');
  return { shader: quads ? 'attention_quad' : 'attention', constants: { D4: d.headDim / 4, WG: wg }, rows: 4 * wg };
}

/** The blocked kernels' workgroups (./kernel-choice.ts). */
const blocked = (rt: Runtime, d: AttentionDims) => workgroupsOf(rt, d, kernelChoices(rt).attention.workgroup);

/** out = softmax(scale·q·kᵀ + causal mask)·v per head; also returns the per-row log-sum-exp. */
export function attentionForward(rt: Runtime, q: Tensor, k: Tensor, v: Tensor, options: AttentionForwardOptions = {}): AttentionForwardResult {
  const d = attentionDims('attentionForward', q, k, v);
  const kvRows = d.tk;
  if (options.kvLength !== undefined) {
    if (!Number.isInteger(options.kvLength) || options.kvLength < d.tq || options.kvLength > kvRows) {
      throw new RangeError(`attentionForward: kvLength ${options.kvLength} must be a whole number in ${d.tq}..${kvRows} (the query rows .. k ${shapeOf(k)}'s rows)`);
    }
    d.tk = options.kvLength;
  }
  const { keyStart } = options;
  checkKeyStart('attentionForward', keyStart, d);
  const scale = options.scale ?? 1 / Math.sqrt(d.headDim);
  const out = rt.empty(q.shape, 'f32', 'attention out');
  const logSumExp = rt.empty([d.batch, d.heads, d.tq], 'f32', 'attention logSumExp');
  const choice = kernelChoices(rt).attention;
  const { shader, constants, rows } = workgroupsOf(rt, d, d.tq <= choice.decodeMaxRows ? choice.decodeWorkgroup : choice.workgroup);
  rt.dispatch({
    shader,
    entryPoint: 'forward',
    constants,
    uniforms: params(d, scale, { kvRows, useKeyStart: keyStart !== undefined }),
    // Without padding the kernel reads no key start; q stands in for the binding.
    bindings: [q, k, v, logSumExp, out, keyStart ?? q],
    workgroups: [ceilDiv(d.tq, rows), d.heads, d.batch],
  });
  return { out, logSumExp };
}

/** dQ, dK, dV from dOut, recomputing probabilities from the saved log-sum-exp (two dispatches). */
export function attentionBackward(
  rt: Runtime,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  saved: AttentionForwardResult,
  dOut: Tensor,
  options: AttentionOptions = {},
): AttentionGradients {
  const d = attentionDims('attentionBackward', q, k, v);
  expectShape('attentionBackward', dOut, [...q.shape], 'dOut');
  expectShape('attentionBackward', saved.out, [...q.shape], 'out');
  expectShape('attentionBackward', saved.logSumExp, [d.batch, d.heads, d.tq], 'logSumExp');
  const scale = options.scale ?? 1 / Math.sqrt(d.headDim);
  const { shader, constants, rows } = blocked(rt, d);
  const uniforms = params(d, scale);
  const dQ = rt.empty(q.shape, 'f32', 'attention dQ');
  const dK = rt.empty(k.shape, 'f32', 'attention dK');
  const dV = rt.empty(v.shape, 'f32', 'attention dV');
  // delta_i = dOut_i·out_i, written by the query pass and read by the key/value pass.
  const delta = rt.empty([d.batch, d.heads, d.tq], 'f32', 'attention delta');
  rt.dispatch({
    shader,
    entryPoint: 'backward_query',
    constants,
    uniforms,
    bindings: [q, k, v, saved.logSumExp, dOut, delta, dQ, saved.out],
    workgroups: [ceilDiv(d.tq, rows), d.heads, d.batch],
  });
  rt.dispatch({
    shader,
    entryPoint: 'backward_key_value',
    constants,
    uniforms,
    bindings: [q, k, v, saved.logSumExp, dOut, delta, dK, dV],
    workgroups: [ceilDiv(d.tk, rows), d.kvHeads, d.batch],
  });
  delta.release();
  return { dQ, dK, dV };
}

/**
 * received [B, H, Tk]: for each key j, Σ over query rows at positions > j of w_i · P_ij
 * (XTF's reasoning importance before the mean over heads and layers). One dispatch, no T x T buffer.
 */
export function attentionReceived(rt: Runtime, q: Tensor, k: Tensor, logSumExp: Tensor, options: AttentionReceivedOptions = {}): Tensor {
  const d = attentionDims('attentionReceived', q, k);
  expectShape('attentionReceived', logSumExp, [d.batch, d.heads, d.tq], 'logSumExp');
  if (options.queryWeights) expectShape('attentionReceived', options.queryWeights, [d.batch, d.tq], 'queryWeights');
  checkKeyStart('attentionReceived', options.keyStart, d);
  const scale = options.scale ?? 1 / Math.sqrt(d.headDim);
  const { shader, constants, rows } = blocked(rt, d);
  const received = rt.empty([d.batch, d.heads, d.tk], 'f32', 'attention received');
  rt.dispatch({
    shader,
    entryPoint: 'attention_received',
    constants,
    uniforms: params(d, scale, { useWeights: options.queryWeights !== undefined, useKeyStart: options.keyStart !== undefined }),
    // Without weights (key starts) the kernel reads none; q (lse) stands in for the binding.
    bindings: [q, k, options.queryWeights ?? q, logSumExp, received, options.keyStart ?? logSumExp],
    workgroups: [ceilDiv(d.tk, rows), d.heads, d.batch],
  });
  return received;
}

/** The full probabilities [B, H, Tq, Tk] (zero above the diagonal): for small inputs and inspection. */
export function attentionProbs(rt: Runtime, q: Tensor, k: Tensor, logSumExp: Tensor, options: AttentionOptions = {}): Tensor {
  const d = attentionDims('attentionProbs', q, k);
  expectShape('attentionProbs', logSumExp, [d.batch, d.heads, d.tq], 'logSumExp');
  const bytes = d.batch * d.heads * d.tq * d.tk * 4;
  const limit = Math.min(rt.limits.maxStorageBufferBindingSize, rt.limits.maxBufferSize);
  if (bytes > limit) {
    throw new RangeError(
      `attentionProbs: [${d.batch}, ${d.heads}, ${d.tq}, ${d.tk}] probabilities need ${bytes} bytes, more than the ` +
        `device's maxStorageBufferBindingSize ${limit}; use attentionReceived (no T x T buffer) or fewer rows`,
    );
  }
  const scale = options.scale ?? 1 / Math.sqrt(d.headDim);
  const probs = rt.empty([d.batch, d.heads, d.tq, d.tk], 'f32', 'attention probs');
  rt.dispatch({
    shader: 'attention',
    entryPoint: 'attention_probs',
    constants: { D4: d.headDim / 4, WG: PROBS_WG },
    uniforms: params(d, scale),
    bindings: [q, k, probs, logSumExp],
    workgroups: [ceilDiv(d.tk, PROBS_WG), d.tq, d.batch * d.heads],
  });
  return probs;
}
