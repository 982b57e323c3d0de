// Token-weighted cross-entropy over logits [..., vocab], fused with its backward (llm.c's
// fused classifier). Per token it reports the unweighted loss -log p(target) and p(target)
// (XTF's knowledge-novelty input); for training it writes
//   d_logits = (softmax(logits) - onehot(target)) · w_token / Σw
// over the logits buffer in place. Σw is the weight sum over the whole optimiser step (all
// gradient-accumulation micro-batches), so the caller passes it; Σw = 0 gives zero gradients.
// A target >= vocab is reported as NaN loss and probability and gets no gradient.
import { Tensor, Uniforms, type Runtime } from '../gpu/index.ts';
import { flatGrid } from './grid.ts';

export interface CrossEntropyOutputs {
  /** -log p(target) per token, [rows], whatever the token's weight. */
  loss: Tensor;
  /** p(target) per token, [rows]. */
  prob: Tensor;
}

export interface CrossEntropyTraining extends CrossEntropyOutputs {
  /** The logits tensor itself, now holding d_logits. */
  dLogits: Tensor;
}

interface Shape {
  rows: number;
  vocab: number;
}

function checkShapes(op: string, logits: Tensor, targets: Tensor, lossMask?: Tensor): Shape {
  if (logits.dtype !== 'f32') throw new TypeError(`${op}: logits must be f32, got ${logits}`);
  if (logits.shape.length < 2) throw new RangeError(`${op}: logits must be [rows, vocab] (or [..., vocab]), got [${logits.shape.join(', ')}]`);
  const vocab = logits.shape[logits.shape.length - 1];
  const rows = logits.size / Math.max(1, vocab);
  if (vocab < 1) throw new RangeError(`${op}: vocab size must be >= 1, got logits [${logits.shape.join(', ')}]`);
  if (targets.dtype !== 'u32') throw new TypeError(`${op}: targets must be u32 token ids, got ${targets}`);
  if (targets.size !== rows) throw new RangeError(`${op}: targets [${targets.shape.join(', ')}] do not match the ${rows} rows of logits [${logits.shape.join(', ')}]`);
  if (lossMask) {
    if (lossMask.dtype !== 'f32') throw new TypeError(`${op}: lossMask must be f32, got ${lossMask}`);
    if (lossMask.size !== rows) throw new RangeError(`${op}: loss mask [${lossMask.shape.join(', ')}] does not match the ${rows} rows of logits [${logits.shape.join(', ')}]`);
  }
  return { rows, vocab };
}

function checkWeightSum(op: string, weightSum: number): number {
  if (!Number.isFinite(weightSum) || weightSum < 0) throw new RangeError(`${op}: weightSum must be a finite number >= 0, got ${weightSum}`);
  return weightSum > 0 ? 1 / weightSum : 0;
}

function outputs(rt: Runtime, rows: number, out?: Partial<CrossEntropyOutputs>): CrossEntropyOutputs {
  for (const t of [out?.loss, out?.prob]) {
    if (t && (t.dtype !== 'f32' || t.size !== rows)) throw new RangeError(`cross-entropy: output ${t} must be f32 with ${rows} elements`);
  }
  return {
    loss: out?.loss ?? rt.empty([rows], 'f32', 'token loss'),
    prob: out?.prob ?? rt.empty([rows], 'f32', 'target probability'),
  };
}

// Threads per row. SwiftShader pays per thread at every barrier, so 64 threads that loop over
// the row beat 256 (measured here on [256, 32000]: ~50 ms vs ~140 ms for the scoring pass).
// A multiple of 8 (the shader's reduction fan-in).
const ROW_WG = 64;

function run(rt: Runtime, mode: 'score' | 'train', shape: Shape, invWeightSum: number, bindings: Tensor[]): void {
  // One workgroup per row; rows beyond 32768 spill into y.
  const grid = flatGrid(shape.rows, 1);
  rt.dispatch({
    shader: 'cross_entropy',
    constants: { WG: ROW_WG },
    entryPoint: `${mode}_${shape.vocab % 4 === 0 ? 'vec4' : 'scalar'}`,
    uniforms: new Uniforms().u32(shape.rows).u32(shape.vocab).u32(grid.rowGroups).f32(invWeightSum).f32(NaN).bytes(),
    bindings,
    workgroups: shape.rows === 0 ? [0] : grid.workgroups,
  });
}

/** The scoring pass: per-token loss and p(target); the logits are left untouched. */
export function crossEntropyForward(rt: Runtime, logits: Tensor, targets: Tensor, out?: Partial<CrossEntropyOutputs>): CrossEntropyOutputs {
  const shape = checkShapes('crossEntropyForward', logits, targets);
  const o = outputs(rt, shape.rows, out);
  run(rt, 'score', shape, 0, [logits, targets, o.loss, o.prob]);
  return o;
}

/** The training pass: loss and p(target) as in the forward, and d_logits written over `logits`.
 *  `weightSum` is Σw over the whole optimiser step, not just this call's rows. */
export function crossEntropyForwardBackward(
  rt: Runtime,
  logits: Tensor,
  targets: Tensor,
  lossMask: Tensor,
  weightSum: number,
  out?: Partial<CrossEntropyOutputs>,
): CrossEntropyTraining {
  const shape = checkShapes('crossEntropyForwardBackward', logits, targets, lossMask);
  const inv = checkWeightSum('crossEntropyForwardBackward', weightSum);
  const o = outputs(rt, shape.rows, out);
  run(rt, 'train', shape, inv, [logits, targets, o.loss, o.prob, lossMask]);
  return { ...o, dLogits: logits };
}

export interface WeightedLossOptions {
  /** Where to write the [1] result; allocated when absent. */
  out?: Tensor;
  /** Add to `out` instead of overwriting it: summing micro-batches gives the step loss. */
  accumulate?: boolean;
}

/** Σ w·loss / Σw of one call's rows into a [1] tensor on the GPU (the logged training loss). */
export function weightedLoss(rt: Runtime, loss: Tensor, lossMask: Tensor, weightSum: number, options: WeightedLossOptions = {}): Tensor {
  if (loss.size !== lossMask.size) throw new RangeError(`weightedLoss: loss [${loss.shape.join(', ')}] and lossMask [${lossMask.shape.join(', ')}] differ in size`);
  const inv = checkWeightSum('weightedLoss', weightSum);
  const out = options.out ?? rt.empty([1], 'f32', 'weighted loss');
  if (out.size !== 1 || out.dtype !== 'f32') throw new RangeError(`weightedLoss: out must be an f32 [1] tensor, got ${out}`);
  if (options.accumulate && !options.out) throw new RangeError('weightedLoss: accumulate needs an existing out tensor');
  rt.dispatch({
    shader: 'cross_entropy_loss',
    entryPoint: 'weighted_loss',
    uniforms: new Uniforms().u32(loss.size).f32(inv).u32(options.accumulate ? 1 : 0).u32(0).bytes(),
    bindings: [loss, lossMask, out],
    workgroups: [1],
  });
  return out;
}
