import { describe, expect, it } from 'vitest';
import { BASELINE_DEFAULTS, baselineOptions } from '../../src/xtf/options.ts';
import { applyBaseline, keepCount, mulberry32, selectRandom, selectSlm, selectStm, selectTokenCleaning, sequentialBatches } from '../../src/xtf/baselines.ts';
import { summarize } from '../../src/xtf/summary.ts';
import type { ScoredExample } from '../../src/xtf/types.ts';

const labels = (prompt: number, n: number) => Array.from({ length: prompt + n }, (_, i) => i >= prompt);
const withPrompt = (prompt: number, xs: (number | null)[]) => [...Array<null>(prompt).fill(null), ...xs];

describe('defaults and options', () => {
  it('has the documented defaults and checks values', () => {
    expect(BASELINE_DEFAULTS).toEqual({ stm: { maxPerplexity: 2.5 }, slm: { keepFraction: 0.6 }, tokenCleaning: { keepFraction: 0.6, reverse: false }, random: { seed: 0 } });
    expect(baselineOptions({ slm: { keepFraction: 0.7 } }).slm.keepFraction).toBe(0.7);
    expect(baselineOptions({ slm: { keepFraction: 0.7 } }).stm.maxPerplexity).toBe(2.5);
    expect(() => baselineOptions({ slm: { keepFraction: 1.5 } })).toThrow(RangeError);
    expect(() => baselineOptions({ stm: { maxPerplexity: 0.5 } })).toThrow(RangeError);
    expect(() => baselineOptions({ random: { seed: -1 } })).toThrow(RangeError);
  });
  it('keeps floor(k n) tokens', () => {
    expect([keepCount(5, 0.6), keepCount(10, 0.6), keepCount(7, 0.6), keepCount(1, 0.6), keepCount(100, 0.29), keepCount(3, 1), keepCount(3, 0)]).toEqual([3, 6, 4, 0, 29, 3, 0]);
  });
  it('builds consecutive batches', () => {
    expect(sequentialBatches(5, 2)).toEqual([[0, 1], [2, 3], [4]]);
  });
});

describe('STM (perplexity masking)', () => {
  it('masks label tokens with exp(-log p) > 2.5, never prompt tokens or tokens without p', () => {
    const p = [0.5, 0.4, 0.39, null, 0, 1];
    const sel = selectStm([{ label: labels(2, 6), p: withPrompt(2, p) }]);
    expect(sel.method).toBe('stm');
    expect(sel.masked[0]).toEqual([false, false, false, false, true, false, true, false]);
    expect(sel.lossMask[0]).toEqual([0, 0, 1, 1, 0, 1, 0, 1]);
    expect(sel.labelTokens).toBe(6);
    expect(sel.maskedFraction).toBeCloseTo(2 / 6, 12);
    expect(selectStm([{ label: labels(2, 6), p: withPrompt(2, p) }], { maxPerplexity: 2 }).masked[0].filter(Boolean)).toHaveLength(3);
  });
  it('rejects arrays of the wrong length', () => {
    expect(() => selectStm([{ label: labels(1, 2), p: [0.5] }])).toThrow(RangeError);
  });
});

describe('SLM / Rho-1 (excess loss, top k% per batch)', () => {
  // excess = current - ref: example 0: [3, 1, 2, 5, 4], example 1: [0.1, 0.2, 0.3, 0.4, 0.5]
  const ex = [
    { label: labels(1, 5), lossCurrent: withPrompt(1, [4, 2, 3, 6, 5]), lossRef: withPrompt(1, [1, 1, 1, 1, 1]) },
    { label: labels(0, 5), lossCurrent: [1.1, 1.2, 1.3, 1.4, 1.5], lossRef: [1, 1, 1, 1, 1] },
  ];
  it('keeps the highest excess losses within each batch', () => {
    const sel = selectSlm(ex, [[0], [1]]);
    // 3 of 5 per batch: example 0 keeps 3, 5, 4 (positions 1, 4, 5 of the label); example 1 keeps 0.3, 0.4, 0.5.
    expect(sel.lossMask[0]).toEqual([0, 1, 0, 0, 1, 1]);
    expect(sel.lossMask[1].map((w) => w)).toEqual([0, 0, 1, 1, 1]);
    expect(sel.maskedFraction).toBeCloseTo(0.4, 12);
  });
  it('ranks across the examples of one batch (default: one batch of everything)', () => {
    const sel = selectSlm(ex);
    // 6 of 10 kept: all five of example 0 have excess >= 1 > 0.5, plus the best of example 1 (0.5).
    expect(sel.lossMask[0]).toEqual([0, 1, 1, 1, 1, 1]);
    expect(sel.lossMask[1]).toEqual([0, 0, 0, 0, 1]);
  });
  it('breaks ties at the cut by position, keeps unscored label tokens, checks the batches', () => {
    const tie = [{ label: labels(0, 4), lossCurrent: [1, 1, 1, null], lossRef: [0, 0, 0, 0] }];
    const sel = selectSlm(tie, undefined, { keepFraction: 0.5 });
    expect(sel.lossMask[0]).toEqual([1, 0, 0, 1]); // keep floor(0.5 * 3) = 1 of the 3 ranked: the first
    expect(() => selectSlm(ex, [[0]])).toThrow(/in no batch/);
    expect(() => selectSlm(ex, [[0, 1], [1]])).toThrow(/more than one batch/);
    expect(() => selectSlm(ex, [[0, 2]])).toThrow(/not an example index/);
  });
});

describe('Token Cleaning (global ranking)', () => {
  const ex = [
    { label: labels(1, 3), lossBase: withPrompt(1, [2, 2, 2]), lossRef: withPrompt(1, [1, 3, 0]) }, // base - ref: 1, -1, 2
    { label: labels(0, 2), lossBase: [1, 1], lossRef: [0.5, 1.5] }, // 0.5, -0.5
  ];
  it('keeps the 60% of label tokens with the highest loss_base - loss_ref over the whole dataset', () => {
    const sel = selectTokenCleaning(ex);
    expect(sel.method).toBe('token-cleaning');
    // 3 of 5: 2, 1, 0.5
    expect(sel.lossMask).toEqual([[0, 1, 0, 1], [1, 0]]);
  });
  it('reverse ranks by loss_ref - loss_base', () => {
    expect(selectTokenCleaning(ex, { keepFraction: 0.6, reverse: true }).lossMask).toEqual([[0, 0, 1, 0], [1, 1]]);
  });
});

describe('random control', () => {
  const ex = Array.from({ length: 20 }, (_, e) => ({ label: labels(e % 3, 10 + (e % 7)) }));
  const total = ex.reduce((a, x) => a + x.label.filter(Boolean).length, 0);
  it('masks round(fraction n) label tokens, never prompt tokens, reproducibly per seed', () => {
    const a = selectRandom(ex, 0.3), b = selectRandom(ex, 0.3), c = selectRandom(ex, 0.3, { seed: 1 });
    const masked = a.masked.flat().filter(Boolean).length;
    expect(masked).toBe(Math.round(0.3 * total));
    expect(a.maskedFraction).toBeCloseTo(masked / total, 12);
    expect(a.masked).toEqual(b.masked);
    expect(c.masked).not.toEqual(a.masked);
    a.masked.forEach((m, e) => m.forEach((x, i) => { if (x) expect(ex[e].label[i]).toBe(true); }));
    expect(selectRandom(ex, 0).maskedFraction).toBe(0);
    expect(selectRandom(ex, 1).maskedFraction).toBe(1);
    expect(() => selectRandom(ex, 1.2)).toThrow(RangeError);
  });
  it('mulberry32 is deterministic and uniform-ish', () => {
    const r = mulberry32(42), xs = Array.from({ length: 10000 }, r);
    expect(mulberry32(42)()).toBe(xs[0]);
    expect(Math.abs(xs.reduce((a, x) => a + x, 0) / xs.length - 0.5)).toBeLessThan(0.02);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
  });
});

describe('applyBaseline', () => {
  it('gives ScoredExamples the baseline weights and no XTF flags, so summarize reports its mask', () => {
    const s: ScoredExample = {
      id: 'a', tokens: [1, 2, 3, 4], pieces: ['a', 'b', 'c', 'd'], label: [false, true, true, true], p: [null, 0.9, 0.1, 0.2],
      ri: [null, 1, 1, 1], kn: [null, 0.01, 0.9, 0.8], tr: [null, 1, 1, 1], flags: [[], ['kn'], [], []], lossMask: [0, 0, 1, 1],
    };
    const out = applyBaseline([s], selectStm([s]));
    expect(out[0].flags).toEqual([[], [], [], []]);
    expect(out[0].lossMask).toEqual([0, 1, 0, 0]);
    const sum = summarize(out, { method: 'stm' });
    expect(sum.fractionMasked).toBeCloseTo(2 / 3, 12);
    expect(sum.fractionFlagged.kn).toBe(0);
  });
});
