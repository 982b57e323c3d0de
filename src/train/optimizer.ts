// AdamW over a named set of GPU tensors, with global-norm clipping done on the GPU: gradients,
// moments, the norm and the clip factor never leave the device during a step.
import type { Runtime, Tensor } from '../gpu/index.ts';
import { ADAMW_DEFAULTS, adamwUpdate } from '../ops/adamw.ts';
import { globalGradNorm, type GradNorm } from '../ops/grad-norm.ts';

export interface OptimizerOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Global L2 norm the gradients are clipped to (PyTorch's clip_grad_norm_ max_norm). */
  maxGradNorm: number;
}

export const OPTIMIZER_DEFAULTS: OptimizerOptions = { ...ADAMW_DEFAULTS, maxGradNorm: 1.0 };

export class AdamW {
  readonly grads: Record<string, Tensor> = {};
  private readonly m: Record<string, Tensor> = {};
  private readonly v: Record<string, Tensor> = {};
  private norm: GradNorm | undefined;
  /** Optimiser steps taken (AdamW's bias correction uses step + 1 for the next one). */
  step = 0;
  readonly options: OptimizerOptions;

  constructor(
    private readonly rt: Runtime,
    readonly params: Record<string, Tensor>,
    options: Partial<OptimizerOptions> = {},
  ) {
    this.options = { ...OPTIMIZER_DEFAULTS, ...options };
    for (const [name, p] of Object.entries(params)) {
      this.grads[name] = rt.zeros(p.shape, 'f32', `grad ${name}`);
      this.m[name] = rt.zeros(p.shape, 'f32', `adam m ${name}`);
      this.v[name] = rt.zeros(p.shape, 'f32', `adam v ${name}`);
    }
  }

  /** Gradients are accumulated into `grads` by backward; clear them before each step's micro-batches. */
  zeroGrad(): void {
    for (const g of Object.values(this.grads)) this.rt.clear(g);
  }

  /** Clip by the global norm and update every parameter. Returns the pre-clip norm ([1], on the GPU). */
  apply(lr: number): Tensor {
    this.step++;
    this.norm = globalGradNorm(this.rt, Object.values(this.grads), this.options.maxGradNorm, this.norm);
    const { beta1, beta2, eps, weightDecay } = this.options;
    for (const [name, param] of Object.entries(this.params)) {
      adamwUpdate(
        this.rt,
        { param, grad: this.grads[name], m: this.m[name], v: this.v[name] },
        { lr, step: this.step, beta1, beta2, eps, weightDecay },
        this.norm.clipFactor,
      );
    }
    return this.norm.norm;
  }

  /** Moments by name, for checkpoints. */
  moments(): { m: Record<string, Tensor>; v: Record<string, Tensor> } {
    return { m: this.m, v: this.v };
  }

  release(): void {
    for (const t of [...Object.values(this.grads), ...Object.values(this.m), ...Object.values(this.v)]) t.release();
    if (this.norm) {
      this.norm.norm.release();
      this.norm.clipFactor.release();
    }
  }
}
