// AdamW for one flat parameter tensor, its gradient and its moment estimates m and v, updated in
// place (PyTorch's torch.optim.AdamW semantics). An optional [1] GPU tensor scales the gradient
// first: the global-norm clip factor from grad-norm.ts, so clipping needs no host read.
// One dispatch per parameter tensor; a model whose parameters, gradients, m and v each live in
// one arena (same offsets in four buffers) can update everything in one call with the arenas as
// the tensors, as long as every parameter shares the weight decay.
import { Tensor, Uniforms, type Runtime } from '../gpu/index.ts';
import { flatGrid } from './grid.ts';

export interface AdamWOptions {
  lr: number;
  /** 1-based index of this optimiser step, for bias correction. */
  step: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled weight decay: p -= lr·weightDecay·p before the Adam step. */
  weightDecay?: number;
}

/** PyTorch's AdamW defaults. */
export const ADAMW_DEFAULTS = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 } as const;

export interface AdamWTensors {
  param: Tensor;
  grad: Tensor;
  /** First-moment estimate, zero before step 1. */
  m: Tensor;
  /** Second-moment estimate, zero before step 1. */
  v: Tensor;
}

const WG = 256;
const PER_THREAD = 4;

function checkOptions(o: AdamWOptions): Required<AdamWOptions> {
  const full = { ...ADAMW_DEFAULTS, ...o };
  const bad = (what: string, value: number, rule: string) => new RangeError(`adamw: ${what} must be ${rule}, got ${value}`);
  if (!Number.isInteger(full.step) || full.step < 1) throw bad('step', full.step, 'an integer >= 1 (1-based)');
  if (!Number.isFinite(full.lr) || full.lr < 0) throw bad('lr', full.lr, 'finite and >= 0');
  if (!(full.beta1 >= 0 && full.beta1 < 1)) throw bad('beta1', full.beta1, 'in [0, 1)');
  if (!(full.beta2 >= 0 && full.beta2 < 1)) throw bad('beta2', full.beta2, 'in [0, 1)');
  if (!(full.eps > 0 && Number.isFinite(full.eps))) throw bad('eps', full.eps, 'finite and > 0');
  if (!(full.weightDecay >= 0 && Number.isFinite(full.weightDecay))) throw bad('weightDecay', full.weightDecay, 'finite and >= 0');
  return full;
}

/** One AdamW step, in place on `param`, `m` and `v`. `gradScale` ([1], on the GPU) multiplies
 *  the gradient, e.g. the clip factor of globalGradNorm. */
export function adamwUpdate(rt: Runtime, tensors: AdamWTensors, options: AdamWOptions, gradScale?: Tensor): void {
  const { param, grad, m, v } = tensors;
  for (const [name, t] of Object.entries(tensors)) {
    if (t.dtype !== 'f32') throw new TypeError(`adamw: ${name} must be f32, got ${t}`);
    if (t.size !== param.size) throw new RangeError(`adamw: ${name} ${t} differs in size from param ${param}`);
  }
  if (gradScale && (gradScale.size !== 1 || gradScale.dtype !== 'f32')) throw new RangeError(`adamw: gradScale must be an f32 [1] tensor, got ${gradScale}`);
  const o = checkOptions(options);
  const grid = flatGrid(Math.ceil(param.size / PER_THREAD), WG);
  rt.dispatch({
    shader: 'adamw',
    entryPoint: gradScale ? 'adamw_scaled' : 'adamw',
    // Bias corrections once on the host, in f64, instead of a pow per element.
    uniforms: new Uniforms()
      .u32(param.size)
      .u32(grid.rowGroups)
      .f32(o.lr)
      .f32(1 - o.lr * o.weightDecay)
      .f32(o.beta1)
      .f32(o.beta2)
      .f32(o.eps)
      .f32(1 / (1 - o.beta1 ** o.step))
      .f32(1 / (1 - o.beta2 ** o.step))
      .bytes(),
    bindings: gradScale ? [param, grad, m, v, gradScale] : [param, grad, m, v],
    workgroups: param.size === 0 ? [0] : grid.workgroups,
  });
}
