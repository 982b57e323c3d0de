// AdamW's state on the host, for checkpoints: both moments of every parameter and the step count
// (its bias correction). Read once per checkpoint, written once per resume; never inside a step.
import type { AdamW } from './optimizer.ts';

export interface OptimizerState {
  /** Optimiser steps taken. */
  step: number;
  m: Record<string, Float32Array>;
  v: Record<string, Float32Array>;
}

export async function optimizerState(optimizer: AdamW): Promise<OptimizerState> {
  const { m, v } = optimizer.moments();
  const state: OptimizerState = { step: optimizer.step, m: {}, v: {} };
  for (const name of Object.keys(optimizer.params)) {
    state.m[name] = (await m[name].read()) as Float32Array;
    state.v[name] = (await v[name].read()) as Float32Array;
  }
  return state;
}

/** Overwrites the optimiser's moments and step; the parameter names and sizes must match. */
export function loadOptimizerState(optimizer: AdamW, state: OptimizerState): void {
  const { m, v } = optimizer.moments();
  const names = Object.keys(optimizer.params);
  const missing = names.filter((n) => !state.m[n] || !state.v[n]);
  if (missing.length > 0) {
    throw new RangeError(`optimizer state has no moments for ${missing.length} parameter(s) (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', ...' : ''}); it was saved for another model or trainable set`);
  }
  for (const name of names) {
    for (const [kind, tensor, data] of [['m', m[name], state.m[name]], ['v', v[name], state.v[name]]] as const) {
      if (data.length !== tensor.size) {
        throw new RangeError(`optimizer state: adam ${kind} of ${name} holds ${data.length} values, the parameter has ${tensor.size}; it was saved for another model or LoRA rank`);
      }
      tensor.runtime.write(tensor, data);
    }
  }
  optimizer.step = state.step;
}
