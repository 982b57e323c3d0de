// One optimiser step over one or more micro-batches: forward, the token-weighted fused loss,
// backward into accumulated gradients, then clip + AdamW. The loss is normalised by Σw over the
// WHOLE step (XTF.md: the mean over kept tokens of the optimiser step, not per micro-batch).
import type { Runtime, Tensor } from '../gpu/index.ts';
import { crossEntropyForward, crossEntropyForwardBackward, weightedLoss } from '../ops/cross-entropy.ts';
import type { LlamaModel, TrainableSet } from '../model/llama.ts';
import type { AdamW } from './optimizer.ts';

import type { TokenBatch } from '../data/batch.ts';

export interface StepResult {
  /** Σ w·loss / Σw over the step, [1] on the GPU: read it only when logging. */
  loss: Tensor;
  /** Global gradient norm before clipping, [1] on the GPU. */
  gradNorm: Tensor;
  /** Σw: the number of tokens that trained (for 0/1 lossMask). */
  weightSum: number;
}

export function trainStep(model: LlamaModel, optimizer: AdamW, microBatches: TokenBatch[], set: TrainableSet, lr: number): StepResult {
  const rt = model.rt;
  let weightSum = 0;
  for (const mb of microBatches) for (const w of mb.lossMask) weightSum += w;
  optimizer.zeroGrad();
  const loss = rt.zeros([1], 'f32', 'step loss');
  for (const mb of microBatches) {
    const { ids, targets, lossMask } = upload(rt, mb);
    const fwd = model.forward(ids, { train: true });
    const ce = crossEntropyForwardBackward(rt, fwd.logits, targets, lossMask, weightSum);
    weightedLoss(rt, ce.loss, lossMask, weightSum, { out: loss, accumulate: true });
    model.backward(fwd, ce.dLogits, set, optimizer.grads);
    model.releaseForward(fwd);
    releaseAll(ids, targets, lossMask, ce.loss, ce.prob);
  }
  const gradNorm = optimizer.apply(lr);
  return { loss, gradNorm, weightSum };
}

/** Held-out loss: Σ w·loss / Σw over the batches, without gradients. */
export async function evaluateLoss(model: LlamaModel, batches: TokenBatch[]): Promise<number> {
  const rt: Runtime = model.rt;
  let weightSum = 0;
  for (const mb of batches) for (const w of mb.lossMask) weightSum += w;
  const loss = rt.zeros([1], 'f32', 'eval loss');
  for (const mb of batches) {
    const { ids, targets, lossMask } = upload(rt, mb);
    const fwd = model.forward(ids);
    const ce = crossEntropyForward(rt, fwd.logits, targets);
    weightedLoss(rt, ce.loss, lossMask, weightSum, { out: loss, accumulate: true });
    model.releaseForward(fwd);
    releaseAll(ids, targets, lossMask, ce.loss, ce.prob);
  }
  const value = (await loss.read())[0];
  loss.release();
  return value;
}

/** The current model's cross-entropy at every position of a micro-batch, [batch·seqLen] (the mask ignored):
 *  what online token selection (SLM / Rho-1) ranks before the step trains. */
export async function tokenLosses(model: LlamaModel, mb: TokenBatch): Promise<Float32Array> {
  const rt = model.rt;
  const { ids, targets, lossMask } = upload(rt, mb);
  const fwd = model.forward(ids);
  const ce = crossEntropyForward(rt, fwd.logits, targets);
  model.releaseForward(fwd);
  const losses = (await ce.loss.read()) as Float32Array; // f32 by construction
  releaseAll(ids, targets, lossMask, ce.loss, ce.prob);
  return losses;
}

function upload(rt: Runtime, mb: TokenBatch): { ids: Tensor; targets: Tensor; lossMask: Tensor } {
  const n = mb.batch * mb.seqLen;
  if (mb.ids.length !== n || mb.targets.length !== n || mb.lossMask.length !== n) {
    throw new RangeError(`a micro-batch of ${mb.batch} x ${mb.seqLen} needs ${n} ids, targets and mask values (got ${mb.ids.length}, ${mb.targets.length}, ${mb.lossMask.length})`);
  }
  return {
    ids: rt.upload(mb.ids, [mb.batch, mb.seqLen], 'u32', 'ids'),
    targets: rt.upload(mb.targets, [n], 'u32', 'targets'),
    lossMask: rt.upload(mb.lossMask, [n], 'f32', 'loss mask'),
  };
}

function releaseAll(...tensors: Tensor[]): void {
  for (const t of tensors) t.release();
}
