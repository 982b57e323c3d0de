// Learning-rate schedules against hand-computed values (Hugging Face's warmup + cosine-with-floor shapes),
// and the seeded per-epoch data order.
import { describe, expect, it } from 'vitest';
import { learningRate, lrFactor, validateSchedule } from '../../src/train/schedule.ts';
import { epochRandom, shuffledSteps } from '../../src/train/trainer.ts';
import type { TokenBatch } from '../../src/data/batch.ts';

describe('learning-rate schedules', () => {
  const cosine = { kind: 'cosine' as const, lr: 1e-3, warmupSteps: 4, totalSteps: 14, minLrRatio: 0.1 };

  it('warms up linearly from 0', () => {
    expect([0, 1, 2, 3].map((s) => learningRate(s, cosine))).toEqual([0, 0.25e-3, 0.5e-3, 0.75e-3]);
  });

  it('decays along a cosine to the floor and stays there', () => {
    expect(learningRate(4, cosine)).toBeCloseTo(1e-3, 15);
    // Halfway through the decay (step 9 of 4..14) the cosine term is 0.5: floor + (1 - floor) / 2.
    expect(learningRate(9, cosine)).toBeCloseTo(1e-3 * (0.1 + 0.9 * 0.5), 15);
    expect(learningRate(6, cosine)).toBeCloseTo(1e-3 * (0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * 0.2))), 15);
    expect(learningRate(14, cosine)).toBeCloseTo(1e-4, 15);
    expect(learningRate(20, cosine)).toBeCloseTo(1e-4, 15);
    const values = Array.from({ length: 11 }, (_, i) => learningRate(4 + i, cosine));
    for (let i = 1; i < values.length; i++) expect(values[i]).toBeLessThan(values[i - 1]);
  });

  it('decays to zero without a floor, and a constant schedule holds after warmup', () => {
    expect(lrFactor(10, { ...cosine, minLrRatio: 0, warmupSteps: 0, totalSteps: 10 })).toBeCloseTo(0, 15);
    expect(lrFactor(0, { ...cosine, minLrRatio: 0, warmupSteps: 0 })).toBe(1);
    const constant = { ...cosine, kind: 'constant' as const };
    expect([0, 2, 4, 9, 100].map((s) => learningRate(s, constant))).toEqual([0, 0.5e-3, 1e-3, 1e-3, 1e-3]);
  });

  it('rejects bad options with what to change', () => {
    expect(() => validateSchedule({ ...cosine, minLrRatio: 2 })).toThrow(/min lr ratio/);
    expect(() => validateSchedule({ ...cosine, warmupSteps: 1.5 })).toThrow(/warmup/);
    expect(() => validateSchedule({ ...cosine, kind: 'linear' as 'cosine' })).toThrow(/cosine or constant/);
  });
});

describe('seeded data order', () => {
  const examples = Array.from({ length: 10 }, (_, i) => i);
  const mark = (items: number[]): TokenBatch => ({ batch: 0, seqLen: 0, ids: Uint32Array.from(items), targets: new Uint32Array(), lossMask: new Float32Array() });
  const order = (seed: number, epoch: number, keepLast = false) =>
    [...shuffledSteps(examples, epochRandom(seed, epoch), { microBatchSize: 2, gradientAccumulation: 2, keepLast }, mark)]
      .map((step) => step.map((mb) => Array.from(mb.ids)));

  it('is a permutation, repeatable per (seed, epoch), different across epochs and seeds', () => {
    const e0 = order(7, 0);
    expect(e0).toHaveLength(2); // 10 examples, 4 per step: the short last step is dropped
    expect(order(7, 0)).toEqual(e0);
    expect(order(7, 1)).not.toEqual(e0);
    expect(order(8, 0)).not.toEqual(e0);
    const all = order(7, 0, true).flat(2);
    expect(all).toHaveLength(10);
    expect([...all].sort((a, b) => a - b)).toEqual(examples);
    expect(order(7, 0, true).at(-1)).toHaveLength(1); // 2 left over: one micro-batch in the last step
  });
});
