// The linear layer of every projection: y = x·Wᵀ (+ b) (+ s·(x·Aᵀ)·Bᵀ with a LoRA adapter),
// W [out, in] as checkpoints store it, in f32 or compact (f16 / q8 / q4: read in place by both passes, never
// trained). Explicit forward / backward; weight gradients are always
// ADDED into the given tensors, so gradient accumulation over micro-batches needs no extra pass.
import type { Runtime, Tensor } from '../gpu/index.ts';
import { matmul } from '../ops/matmul.ts';
import { matmulWeight, matmulWeightT, PackedWeight, type BaseWeight } from '../ops/matmul-packed.ts';
import { CompactBaseError } from './base-dtype.ts';
import { accumulate, addBias, dropoutForward } from '../ops/elementwise.ts';

export interface LoraPair {
  /** [r, in] */
  a: Tensor;
  /** [out, r] */
  b: Tensor;
  scale: number;
  /** PEFT's lora_dropout on the adapter's input (training forwards only). */
  dropout: number;
}

export interface LinearParams {
  weight: BaseWeight;
  bias?: Tensor;
  lora?: LoraPair;
}

export interface LinearSaved {
  /** The input [N, in] (shared, not copied: it is some other layer's output). */
  x: Tensor;
  /** x·Aᵀ [N, r] when there is an adapter (dropout(x)·Aᵀ with dropout). */
  xa: Tensor | null;
  /** dropout(x) and the seed of its mask, when the adapter has dropout. */
  xDropped: Tensor | null;
  dropoutSeed: number;
}

export interface LinearGrads {
  weight?: Tensor;
  bias?: Tensor;
  loraA?: Tensor;
  loraB?: Tensor;
}

/**
 * `dropoutSeed` draws the adapter's dropout mask in a training forward (keepForBackward). The adapter's
 * s·(x·Aᵀ)·Bᵀ is summed in the base projection's own dispatch (matmul's low-rank term).
 */
export function linearForward(rt: Runtime, x: Tensor, p: LinearParams, keepForBackward: boolean, dropoutSeed = 0): { y: Tensor; saved: LinearSaved | null } {
  let xa: Tensor | null = null;
  let xDropped: Tensor | null = null;
  if (p.lora) {
    if (keepForBackward && p.lora.dropout > 0) xDropped = dropoutForward(rt, x, p.lora.dropout, dropoutSeed);
    xa = matmul(rt, xDropped ?? x, p.lora.a, { transB: true });
  }
  const y = matmulWeightT(rt, x, p.weight, xa ? { lowRank: { a: xa, b: p.lora!.b, alpha: p.lora!.scale } } : {});
  if (p.bias) addBias(rt, y, p.bias);
  if (xa && !keepForBackward) {
    xa.release();
    xa = null;
  }
  return { y, saved: keepForBackward ? { x, xa, xDropped, dropoutSeed } : null };
}

/**
 * Gradients of y = x·Wᵀ + b + s·(x·Aᵀ)·Bᵀ given dY [N, out]. Weight gradients are added into `grads`;
 * dX is written into `dX` (or added when `accumulateDx`), or skipped when `dX` is null. The adapter's
 * part of dX, d(x·Aᵀ)·A, is summed in the dispatch of dY·W unless dropout sits between them.
 */
export function linearBackward(
  rt: Runtime,
  dY: Tensor,
  p: LinearParams,
  saved: LinearSaved,
  grads: LinearGrads,
  dX: Tensor | null,
  accumulateDx = false,
): void {
  let dXa: Tensor | null = null;
  if (p.lora) {
    const { b, scale } = p.lora;
    if (!saved.xa) throw new Error('linearBackward: the forward pass did not keep x·Aᵀ for the adapter');
    if (grads.loraB) matmul(rt, dY, saved.xa, { transA: true, alpha: scale, accumulateInto: grads.loraB });
    // d(x·Aᵀ) = s·dY·B, then dA = d(x·Aᵀ)ᵀ·x and dX += d(x·Aᵀ)·A.
    dXa = matmul(rt, dY, b, { alpha: scale });
    if (grads.loraA) matmul(rt, dXa, saved.xDropped ?? saved.x, { transA: true, accumulateInto: grads.loraA });
  }
  const fused = dXa && !saved.xDropped ? { lowRank: { a: dXa, b: p.lora!.a, alpha: 1 } } : {};
  if (dX) matmulWeight(rt, dY, p.weight, { ...(accumulateDx ? { accumulateInto: dX } : { out: dX }), ...fused });
  if (grads.weight) {
    if (p.weight instanceof PackedWeight) throw new CompactBaseError(p.weight.label, p.weight.format, 'a frozen compact weight has no gradient; full fine-tuning needs --base-dtype f32');
    matmul(rt, dY, saved.x, { transA: true, accumulateInto: grads.weight });
  }
  if (grads.bias) columnSum(rt, dY, grads.bias);
  if (dX && dXa && saved.xDropped) {
    // Through the dropout: the same mask (same seed) applied to d(dropout(x)).
    const dDropped = matmul(rt, dXa, p.lora!.a);
    const dXLora = dropoutForward(rt, dDropped, p.lora!.dropout, saved.dropoutSeed);
    accumulate(rt, dX, dXLora);
    dDropped.release();
    dXLora.release();
  }
  dXa?.release();
}

export function releaseLinearSaved(saved: LinearSaved | null): void {
  saved?.xa?.release();
  saved?.xDropped?.release();
}

/** Σ over rows of dY [N, C] added into out [C]: a matmul with a ones row, cached per N. */
const onesCache = new WeakMap<Runtime, Map<number, Tensor>>();
function columnSum(rt: Runtime, dY: Tensor, out: Tensor): void {
  const rows = dY.size / out.size;
  let cache = onesCache.get(rt);
  if (!cache) onesCache.set(rt, (cache = new Map()));
  let ones = cache.get(rows);
  if (!ones) cache.set(rows, (ones = rt.upload(new Float32Array(rows).fill(1), [1, rows], 'f32', 'ones')));
  matmul(rt, ones, dY.view([rows, out.size]), { accumulateInto: out.view([1, out.size]) });
}
