// The built-in experiment's data: generated word problems are correct and seeded; the noise goes into
// the training answers' reasoning only; the three sets are disjoint and the held-out set is clean.
import { describe, expect, it } from 'vitest';
import { builtinData, withAnswerNoise } from '../../src/experiment/builtin-data.ts';
import { wordProblems } from '../../src/experiment/word-problems.ts';
import { gsm8kPrediction } from '../../src/eval/metrics.ts';
import { NOISE_KINDS } from '../../src/xtf/noise.ts';

describe('word problems', () => {
  const problems = wordProblems({ count: 300, seed: 3 });

  it('are repeatable from the seed and differ between seeds', () => {
    expect(wordProblems({ count: 300, seed: 3 })).toEqual(problems);
    expect(wordProblems({ count: 300, seed: 4 }).map((p) => p.prompt)).not.toEqual(problems.map((p) => p.prompt));
  });

  it('work every step out correctly and end with the target as "#### N"', () => {
    for (const p of problems) {
      let last: number | null = null;
      for (const [, a, op, b, c] of p.completion.matchAll(/(\d+) ([+-]) (\d+) = (\d+)/g)) {
        expect(op === '+' ? Number(a) + Number(b) : Number(a) - Number(b), p.completion).toBe(Number(c));
        if (last !== null) expect(Number(a), 'a step starts from the last result').toBe(last);
        last = Number(c);
      }
      expect(String(last)).toBe(p.target.kind === 'number' ? p.target.value : '');
      expect(gsm8kPrediction(p.completion)).toBe(String(last));
      expect(Number(last)).toBeGreaterThanOrEqual(0);
      expect(p.prompt).toMatch(/How many \w+ does \w+ have now\?\nAnswer:$/);
    }
  });

  it('use one and two steps, and singular nouns for one thing', () => {
    const steps = problems.map((p) => p.completion.match(/ = /g)!.length);
    expect(new Set(steps)).toEqual(new Set([1, 2]));
    expect(problems.some((p) => / 1 (apple|ball|cookie|flower|toy|stone|car|book|hat|shell)\b(?!s)/.test(p.prompt + p.completion))).toBe(true);
    expect(problems.every((p) => !/ 1 (apples|balls|cookies|flowers|toys|stones|cars|books|hats|shells)\b/.test(p.prompt + p.completion))).toBe(true);
  });

  it('reject bad options with the field named', () => {
    expect(() => wordProblems({ maxNumber: 1 })).toThrow(/maxNumber/);
    expect(() => wordProblems({ count: -1 })).toThrow(/count/);
  });
});

describe('built-in experiment data', () => {
  const d = builtinData({ train: 60, reference: 12, heldOut: 20, noiseRate: 0.2, seed: 1 });

  it('has disjoint sets of the asked sizes', () => {
    expect([d.train.length, d.reference.length, d.heldOut.length]).toEqual([60, 12, 20]);
    const prompts = [...d.train, ...d.reference, ...d.heldOut].map((e) => e.prompt);
    expect(new Set(prompts).size).toBe(prompts.length);
  });

  it('puts noise into the training answers only, never into the "#### N" line, with exact spans', () => {
    const clean = wordProblems({ count: 92, seed: 1000, idPrefix: 'wp0' });
    const originals = new Map(clean.map((e) => [e.prompt, e.completion]));
    expect(d.train.map((e) => e.group)).toEqual(d.train.map((_, i) => [...NOISE_KINDS, 'clean'][i % 6]));
    for (const e of d.train) {
      const original = originals.get(e.prompt)!;
      expect(e.completion.endsWith(original.slice(original.lastIndexOf('\n####')))).toBe(true);
      let stripped = e.completion;
      for (const s of [...e.noise].reverse()) stripped = stripped.slice(0, s.start) + stripped.slice(s.end);
      expect(stripped).toBe(original);
      expect(gsm8kPrediction(e.completion)).toBe(e.target.kind === 'number' ? e.target.value : '');
      if (e.group === 'clean') expect(e.noise).toEqual([]);
      else expect(e.noise.length).toBeGreaterThan(0);
      for (const s of e.noise) expect(s.kind).toBe(e.group);
    }
    for (const e of [...d.heldOut, ...d.reference]) expect(e.completion).toBe(originals.get(e.prompt));
  });

  it('is repeatable, and noise rate 0 leaves every answer clean', () => {
    expect(builtinData({ train: 60, reference: 12, heldOut: 20, noiseRate: 0.2, seed: 1 })).toEqual(d);
    const none = withAnswerNoise(d.heldOut, { rate: 0, groups: [...NOISE_KINDS], seed: 0 });
    expect(none.every((e) => e.noise.length === 0 && e.group === 'clean')).toBe(true);
    expect(() => withAnswerNoise(d.heldOut, { rate: 1, groups: ['filler'], seed: 0 })).toThrow(/noise rate/);
  });
});
