// Learning-rate schedules as pure functions of the optimiser step, so a resumed run recomputes the
// same rate from its step count alone. The shapes follow Hugging Face transformers
// (get_cosine_with_min_lr_schedule_with_warmup / get_constant_schedule_with_warmup): the rate of
// step s (0-based, the s-th optimiser update) is lr · s / warmup during warmup, so the first update
// of a warmed-up run uses lr 0, exactly as a peer trainer would.

export type ScheduleKind = 'cosine' | 'constant';

export interface ScheduleOptions {
  kind: ScheduleKind;
  /** Peak learning rate. */
  lr: number;
  /** Linear warmup steps from 0 to `lr`. */
  warmupSteps: number;
  /** Total optimiser steps of the run (the cosine reaches its floor here). */
  totalSteps: number;
  /** Cosine floor as a fraction of `lr` (0 decays to zero). */
  minLrRatio: number;
}

export const SCHEDULE_DEFAULTS: Omit<ScheduleOptions, 'lr' | 'totalSteps'> = { kind: 'cosine', warmupSteps: 0, minLrRatio: 0 };

export function validateSchedule(o: ScheduleOptions): ScheduleOptions {
  if (o.kind !== 'cosine' && o.kind !== 'constant') throw new RangeError(`unknown learning-rate schedule '${String(o.kind)}' (use cosine or constant)`);
  if (!(o.lr >= 0 && Number.isFinite(o.lr))) throw new RangeError(`learning rate must be a finite number >= 0, got ${o.lr}`);
  if (!Number.isInteger(o.warmupSteps) || o.warmupSteps < 0) throw new RangeError(`warmup steps must be an integer >= 0, got ${o.warmupSteps}`);
  if (!Number.isInteger(o.totalSteps) || o.totalSteps < 0) throw new RangeError(`total steps must be an integer >= 0, got ${o.totalSteps}`);
  if (!(o.minLrRatio >= 0 && o.minLrRatio <= 1)) throw new RangeError(`min lr ratio must be in [0, 1], got ${o.minLrRatio}`);
  return o;
}

/** The multiplier of the peak rate at 0-based optimiser step `step`. */
export function lrFactor(step: number, o: Omit<ScheduleOptions, 'lr'>): number {
  if (step < o.warmupSteps) return step / Math.max(1, o.warmupSteps);
  if (o.kind === 'constant') return 1;
  const progress = Math.min(1, (step - o.warmupSteps) / Math.max(1, o.totalSteps - o.warmupSteps));
  const cosine = 0.5 * (1 + Math.cos(Math.PI * progress));
  return o.minLrRatio + (1 - o.minLrRatio) * cosine;
}

/** The learning rate of 0-based optimiser step `step`. */
export function learningRate(step: number, o: ScheduleOptions): number {
  return o.lr * lrFactor(step, o);
}
