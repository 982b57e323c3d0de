// One decoder layer of the Llama family on the GPU, forward and backward (llm.c style, no autograd tape):
//
//   h = rmsnorm(x)
//   q = rope(qkNorm? rmsnorm_per_head(h·Wqᵀ + bq) : h·Wqᵀ + bq)     [B, T, nHeads, headDim]
//   k = rope(qkNorm? rmsnorm_per_head(h·Wkᵀ + bk) : h·Wkᵀ + bk)     [B, T, nKvHeads, headDim]
//   v = h·Wvᵀ + bv ; x2 = x + attention(q, k, v)·Woᵀ
//   g = rmsnorm(x2) ; x' = x2 + (silu(g·W1ᵀ) ⊙ g·W3ᵀ)·W2ᵀ
//
// The per-head RMSNorm (Qwen3's q_norm / k_norm) is the ordinary rmsnorm op over rows of headDim features.
// llama.ts's LlamaModel runs the layers; this file holds what one layer computes and keeps for backward.
import type { Runtime, Tensor } from '../gpu/index.ts';
import type { BaseWeight } from '../ops/matmul-packed.ts';
import { addForward } from '../ops/elementwise.ts';
import { attentionBackward, attentionForward, type AttentionForwardResult } from '../ops/attention.ts';
import { embeddingForward } from '../ops/embedding.ts';
import { addRmsnormForward, rmsnormBackward, rmsnormForward, type RmsNormForward } from '../ops/rmsnorm.ts';
import { ropePairBackward, ropePairForward, type RopeOptions, type RopeTable } from '../ops/rope.ts';
import { swigluBackward, swigluForward } from '../ops/swiglu.ts';
import { kvDim, qDim, type LlamaConfig } from './config.ts';
import { linearBackward, linearForward, releaseLinearSaved, type LinearGrads, type LinearParams, type LinearSaved } from './linear.ts';
import { LORA_TARGET_WEIGHT, loraScale, type LoraConfig, type LoraTarget } from './lora.ts';

/** What a training step updates: only the adapters, or every parameter. */
export type TrainableSet = 'lora' | 'full';

/**
 * A layer inside incremental decoding (LlamaModel.layerStep). startPos: the first row's position (RoPE),
 * default 0. attend: replaces self-attention over the step's own rotated q [B, T, nHeads, headDim], k and v
 * [B, T, nKvHeads, headDim] (kv-cache.ts appends k, v and attends over the cache); the layer releases all four.
 */
export interface LayerStepOptions {
  startPos?: number;
  attend?: (q: Tensor, k: Tensor, v: Tensor) => AttentionForwardResult;
  /**
   * u32 [R]: the rows of the B·T whose output is wanted. Attention still runs for every row (later layers'
   * keys and the attention statistics need them all); the output projection, the FFN and both residual adds
   * then run on these R rows only, and the layer returns [R, dim]. Inference only: the last layer of a
   * forward whose logits are read at some positions (XTF scoring's label rows, decoding's last position),
   * where the rest of that layer's work is thrown away. Rows ≥ B·T come back as zeros (embedding.wgsl).
   */
  outputRows?: Tensor;
  /** This layer's attention norm of x, as the layer before returned it (`outputNorm`); the first layer
   *  computes its own. */
  inputNorm?: RmsNormForward;
}

/** What the layers read from the model (LlamaModel provides it). */
export interface LayerContext {
  readonly rt: Runtime;
  readonly config: LlamaConfig;
  readonly headDim: number;
  readonly rope: RopeTable;
  /** Base weights by the names of weights.ts (the f32 ones: norms, biases, and f32 projections). */
  readonly params: Record<string, Tensor>;
  /** A projection's weight in whichever storage it has (f32, or compact: see base-dtype.ts). */
  baseWeight(name: string): BaseWeight;
  readonly adapters: Record<string, Tensor>;
  readonly lora: LoraConfig | null;
  readonly dropoutSeed: number;
  readonly dropoutStep: number;
}

type LinearWeight = 'wq' | 'wk' | 'wv' | 'wo' | 'w1' | 'w3' | 'w2';

/** The per-head RMSNorm of q or k (qkNorm): its input (the projection's output) and per-row rstd. */
interface HeadNormSaved {
  x: Tensor;
  rstd: Tensor;
}

export interface SavedLayer {
  x: Tensor;
  attnNorm: RmsNormForward;
  q: Tensor;
  k: Tensor;
  v: Tensor;
  qNorm: HeadNormSaved | null;
  kNorm: HeadNormSaved | null;
  attn: AttentionForwardResult;
  x2: Tensor;
  ffnNorm: RmsNormForward;
  gate: Tensor;
  up: Tensor;
  act: Tensor;
  linear: Record<LinearWeight, LinearSaved>;
}

/** The projection `weight` of layer l with its bias and LoRA adapter, if any. */
export function layerLinear(m: LayerContext, l: number, weight: LinearWeight): LinearParams {
  const p = `layers.${l}.`;
  const bias = weight === 'wq' ? 'bq' : weight === 'wk' ? 'bk' : weight === 'wv' ? 'bv' : null;
  const target = loraTargetOf(weight);
  const a = m.lora && target ? m.adapters[`${p}${target}.lora_A`] : undefined;
  return {
    weight: m.baseWeight(p + weight),
    bias: bias && m.config.attentionBias ? m.params[p + bias] : undefined,
    lora: a ? { a, b: m.adapters[`${p}${target}.lora_B`], scale: loraScale(m.lora!), dropout: m.lora!.dropout } : undefined,
  };
}

/** Layer l's forward: x [B·T, dim] in, the output residual out; `saved` is what backward needs. */
export function layerForward(
  m: LayerContext,
  l: number,
  x: Tensor,
  batch: number,
  seqLen: number,
  train: boolean,
  step: LayerStepOptions = {},
): { saved: SavedLayer; xOut: Tensor; outputNorm: RmsNormForward } {
  const rt = m.rt;
  const c = m.config;
  const p = `layers.${l}.`;
  const n = batch * seqLen;
  const ropeOptions = { layout: c.ropeLayout, startPos: step.startPos ?? 0 };
  // A distinct dropout mask per training forward, layer and projection.
  const seed = (w: number) => mixSeed(m.dropoutSeed, m.dropoutStep, l, w);
  const attnNorm = step.inputNorm ?? rmsnormForward(rt, x, m.params[p + 'attnNorm'], c.normEps);
  const qLin = linearForward(rt, attnNorm.y, layerLinear(m, l, 'wq'), train, seed(0));
  const kLin = linearForward(rt, attnNorm.y, layerLinear(m, l, 'wk'), train, seed(1));
  const vLin = linearForward(rt, attnNorm.y, layerLinear(m, l, 'wv'), train, seed(2));
  const { q, k, qNorm, kNorm } = qkForward(m, l, qLin.y, kLin.y, batch, seqLen, ropeOptions);
  const v = vLin.y.view([batch, seqLen, c.nKvHeads, m.headDim]);
  const attn = step.attend ? step.attend(q, k, v) : attentionForward(rt, q, k, v);
  const rows = step.outputRows;
  // With outputRows, the rest of the layer sees only the rows wanted (a gather, embedding.ts's lookup).
  const attnOut = rows ? embeddingForward(rt, rows, attn.out.view([n, qDim(c)])) : attn.out.view([n, qDim(c)]);
  const residual = rows ? embeddingForward(rt, rows, x) : x;
  const oLin = linearForward(rt, attnOut, layerLinear(m, l, 'wo'), train, seed(3));
  // x2 and its norm in one dispatch (the same values as an add, then the norm).
  const { sum: x2, ...ffnNorm } = addRmsnormForward(rt, residual, oLin.y, m.params[p + 'ffnNorm'], c.normEps);
  oLin.y.release();
  if (rows) releaseAll(attnOut, residual);
  const gateLin = linearForward(rt, ffnNorm.y, layerLinear(m, l, 'w1'), train, seed(4));
  const upLin = linearForward(rt, ffnNorm.y, layerLinear(m, l, 'w3'), train, seed(5));
  const act = swigluForward(rt, gateLin.y, upLin.y);
  const downLin = linearForward(rt, act, layerLinear(m, l, 'w2'), train, seed(6));
  // The output and the norm that reads it (the next layer's attention norm, the final norm after the last
  // layer) in one dispatch: the next layer takes it as its inputNorm.
  const outputNormWeight = l === c.nLayers - 1 ? m.params.finalNorm : m.params[`layers.${l + 1}.attnNorm`];
  const { sum: xOut, ...outputNorm } = addRmsnormForward(rt, x2, downLin.y, outputNormWeight, c.normEps);
  downLin.y.release();
  const none: LinearSaved = { x, xa: null, xDropped: null, dropoutSeed: 0 };
  return {
    xOut,
    outputNorm,
    saved: {
      x,
      attnNorm,
      q,
      k,
      v,
      qNorm,
      kNorm,
      attn,
      x2,
      ffnNorm,
      gate: gateLin.y,
      up: upLin.y,
      act,
      linear: {
        wq: qLin.saved ?? none,
        wk: kLin.saved ?? none,
        wv: vLin.saved ?? none,
        wo: oLin.saved ?? none,
        w1: gateLin.saved ?? none,
        w3: upLin.saved ?? none,
        w2: downLin.saved ?? none,
      },
    },
  };
}

/**
 * Layer l's backward. dOut: gradient of the layer's output residual. ADDS the gradients of the trainable
 * set into `grads` and returns the gradient of the layer's input (null when not needed).
 */
export function layerBackward(
  m: LayerContext,
  l: number,
  s: SavedLayer,
  dOut: Tensor,
  batch: number,
  seqLen: number,
  set: TrainableSet,
  grads: Record<string, Tensor>,
  needDx: boolean,
): Tensor | null {
  const rt = m.rt;
  const c = m.config;
  const p = `layers.${l}.`;
  const n = batch * seqLen;
  const full = set === 'full';
  const ropeOptions = { layout: c.ropeLayout };
  const g = (weight: LinearWeight): LinearGrads => {
    if (full) {
      const bias = { wq: 'bq', wk: 'bk', wv: 'bv' }[weight as 'wq'];
      return { weight: grads[p + weight], bias: bias && c.attentionBias ? grads[p + bias] : undefined };
    }
    const target = loraTargetOf(weight);
    if (!m.lora || !target || !m.lora.targets.includes(target)) return {};
    return { loraA: grads[`${p}${target}.lora_A`], loraB: grads[`${p}${target}.lora_B`] };
  };

  // FFN: x' = x2 + W2·(silu(W1 g) ⊙ W3 g), g = rmsnorm(x2)
  const dAct = rt.empty([n, c.hiddenDim], 'f32', 'd act');
  linearBackward(rt, dOut, layerLinear(m, l, 'w2'), s.linear.w2, g('w2'), dAct);
  const { dGate, dUp } = swigluBackward(rt, dAct, s.gate, s.up);
  dAct.release();
  const dFfnIn = rt.empty([n, c.dim], 'f32', 'd ffn norm out');
  linearBackward(rt, dGate, layerLinear(m, l, 'w1'), s.linear.w1, g('w1'), dFfnIn);
  linearBackward(rt, dUp, layerLinear(m, l, 'w3'), s.linear.w3, g('w3'), dFfnIn, true);
  releaseAll(dGate, dUp);
  const ffn = rmsnormBackward(rt, dFfnIn, s.x2, m.params[p + 'ffnNorm'], s.ffnNorm.rstd, { weightGrad: full, accumulateInto: grads[p + 'ffnNorm'] });
  dFfnIn.release();
  const dX2 = addForward(rt, dOut, ffn.dX);
  ffn.dX.release();

  // Attention: x2 = x + Wo·attention(q, k, v) with q, k, v from h = rmsnorm(x) (see the top of the file).
  const dAttn = rt.empty([n, qDim(c)], 'f32', 'd attention out');
  linearBackward(rt, dX2, layerLinear(m, l, 'wo'), s.linear.wo, g('wo'), dAttn);
  const { dQ, dK, dV } = attentionBackward(rt, s.q, s.k, s.v, s.attn, dAttn.view([batch, seqLen, c.nHeads, m.headDim]));
  dAttn.release();
  const { dQ: dQLin, dK: dKLin } = qkBackward(m, l, s, dQ, dK, ropeOptions, full ? grads : null);
  releaseAll(dQ, dK);
  const dH = rt.empty([n, c.dim], 'f32', 'd attention norm out');
  linearBackward(rt, dQLin.view([n, qDim(c)]), layerLinear(m, l, 'wq'), s.linear.wq, g('wq'), dH);
  linearBackward(rt, dKLin.view([n, kvDim(c)]), layerLinear(m, l, 'wk'), s.linear.wk, g('wk'), dH, true);
  linearBackward(rt, dV.view([n, kvDim(c)]), layerLinear(m, l, 'wv'), s.linear.wv, g('wv'), dH, true);
  releaseAll(dQLin, dKLin, dV);
  if (!needDx && !full) {
    releaseAll(dH, dX2);
    return null;
  }
  const attn = rmsnormBackward(rt, dH, s.x, m.params[p + 'attnNorm'], s.attnNorm.rstd, { weightGrad: full, accumulateInto: grads[p + 'attnNorm'] });
  dH.release();
  const dX = addForward(rt, dX2, attn.dX);
  releaseAll(attn.dX, dX2);
  return dX;
}

/**
 * q and k from their projections [B·T, heads·headDim]: RMSNorm of each head when the model has qkNorm
 * (Qwen3), then RoPE on both in one dispatch, as [B, T, heads, headDim]. The projections are consumed:
 * released, or kept as the norms' saved inputs.
 */
function qkForward(m: LayerContext, l: number, qY: Tensor, kY: Tensor, batch: number, seqLen: number, ropeOptions: RopeOptions):
  { q: Tensor; k: Tensor; qNorm: HeadNormSaved | null; kNorm: HeadNormSaved | null } {
  const c = m.config;
  const p = `layers.${l}.`;
  const headNorm = (y: Tensor, heads: number, norm: Tensor | undefined) => {
    if (!norm) return { rotated: y, saved: null };
    const normed = rmsnormForward(m.rt, y.view([batch * seqLen * heads, m.headDim]), norm, c.normEps);
    return { rotated: normed.y, saved: { x: y, rstd: normed.rstd } };
  };
  const q = headNorm(qY, c.nHeads, c.qkNorm ? m.params[p + 'qNorm'] : undefined);
  const k = headNorm(kY, c.nKvHeads, c.qkNorm ? m.params[p + 'kNorm'] : undefined);
  const out = ropePairForward(m.rt, q.rotated.view([batch, seqLen, c.nHeads, m.headDim]), k.rotated.view([batch, seqLen, c.nKvHeads, m.headDim]), m.rope, ropeOptions);
  releaseAll(q.rotated, k.rotated);
  return { q: out.q, k: out.k, qNorm: q.saved, kNorm: k.saved };
}

/** The gradients of qkForward's inputs from those of its outputs; adds the norms' weight gradients into
 *  grads (when given and holding them). */
function qkBackward(m: LayerContext, l: number, s: SavedLayer, dQ: Tensor, dK: Tensor, ropeOptions: RopeOptions, grads: Record<string, Tensor> | null): { dQ: Tensor; dK: Tensor } {
  const p = `layers.${l}.`;
  const rotated = ropePairBackward(m.rt, dQ, dK, m.rope, ropeOptions);
  const headNorm = (dRotated: Tensor, saved: HeadNormSaved | null, name: string) => {
    if (!saved) return dRotated;
    const rows = dRotated.size / m.headDim;
    const into = grads?.[p + name];
    const r = rmsnormBackward(m.rt, dRotated.view([rows, m.headDim]), saved.x.view([rows, m.headDim]), m.params[p + name], saved.rstd,
      { weightGrad: into !== undefined, accumulateInto: into });
    dRotated.release();
    return r.dX;
  };
  return { dQ: headNorm(rotated.q, s.qNorm, 'qNorm'), dK: headNorm(rotated.k, s.kNorm, 'kNorm') };
}

function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const x of parts) h = Math.imul(h ^ (x >>> 0), 0x85ebca6b) ^ (h >>> 13);
  return h >>> 0;
}

function loraTargetOf(weight: string): LoraTarget | null {
  for (const [target, w] of Object.entries(LORA_TARGET_WEIGHT)) if (w === weight) return target as LoraTarget;
  return null;
}

export function releaseAll(...tensors: (Tensor | null | undefined)[]): void {
  for (const t of tensors) t?.release();
}

/** Everything a SavedLayer owns except its input x (the previous layer's output, released by the caller). */
export function releaseSaved(s: SavedLayer): void {
  releaseAll(s.attnNorm.y, s.attnNorm.rstd, s.q, s.k, s.v, s.qNorm?.x, s.qNorm?.rstd, s.kNorm?.x, s.kNorm?.rstd, s.attn.out, s.attn.logSumExp,
    s.x2, s.ffnNorm.y, s.ffnNorm.rstd, s.gate, s.up, s.act);
  for (const saved of Object.values(s.linear)) releaseLinearSaved(saved);
}
