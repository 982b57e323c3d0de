// The controlled verification of XTF on real text: TinyStories passages with injected noise of the kinds
// the paper targets (src/xtf/noise.ts), scored with the real stories260K model and XTF's defaults.
// Asserted: only what the method guarantees (KN, TR, RI rules, the union, prompt tokens, the summary).
// Measured, printed and written to test-output/xtf-noise.md, NOT asserted: what each attribute catches per
// noise kind (precision / recall) and the clean tokens' flag rate.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { loadModel, loadTokenizer } from '../model/stories260k.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { tokenPieces } from '../../src/model/pieces.ts';
import {
  NOISE_KINDS, NOISE_VARIANTS, formatNoiseTable, injectNoise, labelNoiseTokens, noiseMetric, noiseTable, noisyDataset,
  sentenceEnds, splitStories, storyExample, type NoisyExample,
} from '../../src/xtf/noise.ts';
import { xtfOptions } from '../../src/xtf/options.ts';
import { scoreExamples, type ScoreResult } from '../../src/xtf/score.ts';
import { RI_MIN_LABEL_TOKENS, reselect, tukeyLowerFence } from '../../src/xtf/select.ts';
import { tokenizeRecord } from '../../src/data/tokenize.ts';
import { exampleRecord } from '../../src/data/records.ts';
import type { Attribute } from '../../src/xtf/types.ts';
import { seededRandom } from '../../src/model/random.ts';

// These tests check the paper's rules (./select.ts) token by token; the released rules have their own
// (test/xtf/released.test.ts, score-released.test.ts).
const PAPER = xtfOptions({ rules: 'paper' });

const SAMPLE = new URL('../../../shared/data/tinystories/sample.txt', import.meta.url);
const OUTPUT = new URL('../../test-output/', import.meta.url);
const text = readFileSync(SAMPLE, 'utf8');
const tok = loadTokenizer();
/** CPU-cheap: 40 examples of ~200 tokens (completions cut at 300 characters). */
const DATASET = { examples: 40, maxCompletionChars: 300, seed: 1 };

/** Remove the spans: the original completion must come back. */
const withoutNoise = (ex: NoisyExample) => {
  let out = '', from = 0;
  for (const s of ex.noise) { out += ex.completion.slice(from, s.start); from = s.end; }
  return out + ex.completion.slice(from);
};

describe('noise injection (CPU)', () => {
  const ds = noisyDataset(text, DATASET);

  it('is seeded: same seed same dataset, another seed another', () => {
    expect(noisyDataset(text, DATASET)).toEqual(ds);
    expect(noisyDataset(text, { ...DATASET, seed: 2 }).map((e) => e.completion)).not.toEqual(ds.map((e) => e.completion));
  });

  it('builds prompt = first sentence, completion = the rest, one group per example, round-robin', () => {
    expect(ds).toHaveLength(DATASET.examples);
    const groups = [...NOISE_KINDS, 'clean'];
    ds.forEach((ex, i) => {
      expect(ex.group).toBe(groups[i % groups.length]);
      expect(sentenceEnds(ex.prompt)).toHaveLength(1);
      expect(ex.original.length).toBeLessThanOrEqual(DATASET.maxCompletionChars);
      if (ex.group === 'clean') expect(ex.noise).toEqual([]);
      else expect(ex.noise.length).toBeGreaterThan(0);
    });
    const stories = splitStories(text);
    expect(stories.length).toBeGreaterThan(1000);
    expect(storyExample('Only one sentence.', 'x')).toBeNull();
  });

  it('injects into the completion only; removing the spans gives the original back', () => {
    for (const ex of ds) {
      expect(withoutNoise(ex)).toBe(ex.original);
      let last = 0;
      for (const s of ex.noise) {
        expect(s.kind).toBe(ex.group);
        expect(s.start).toBeGreaterThanOrEqual(last);
        expect(s.end).toBeGreaterThan(s.start);
        expect(s.end).toBeLessThanOrEqual(ex.completion.length);
        expect(/^[ \n]/.test(ex.completion.slice(s.start, s.end))).toBe(true);
        last = s.end;
      }
    }
  });

  it('injects what each kind promises', () => {
    const spanText = (ex: NoisyExample, k: number) => ex.completion.slice(ex.noise[k].start, ex.noise[k].end);
    for (const ex of ds) {
      const texts = ex.noise.map((_, k) => spanText(ex, k));
      if (ex.group === 'duplicate') {
        // Each copy is a sentence of the original completion that it directly follows.
        for (const [k, t] of texts.entries()) {
          expect(ex.original).toContain(t.slice(1));
          expect(ex.completion.slice(0, ex.noise[k].start).endsWith(t.slice(1))).toBe(true);
        }
      } else if (ex.group === 'filler') {
        // Each filler phrase occurs a multiple of fillerRepeats (2) times.
        const counts = new Map<string, number>();
        for (const t of texts) counts.set(t, (counts.get(t) ?? 0) + 1);
        for (const [t, n] of counts) {
          expect(NOISE_VARIANTS.filler).toContain(t.slice(1));
          expect(n % 2).toBe(0);
        }
      } else if (ex.group !== 'clean') {
        const variants = NOISE_VARIANTS[ex.group];
        for (const t of texts) expect(variants.includes(t.slice(1)) || variants.includes(t)).toBe(true);
      }
    }
    // Rate: injections continue until the injected share reaches the rate (or the cap).
    const r = seededRandom(3);
    const base = { id: 'x', prompt: 'Tom had a dog.', completion: ds[0].original };
    const low = injectNoise(base, 'format', r, { rate: 0 });
    const high = injectNoise(base, 'format', r, { rate: 0.3, maxInjections: 100 });
    expect(low.noise).toHaveLength(1);
    const share = (ex: NoisyExample) => ex.noise.reduce((s, n) => s + n.end - n.start, 0) / ex.completion.length;
    expect(share(high)).toBeGreaterThanOrEqual(0.3);
  });

  it('maps spans to label tokens: every span starts and ends on a token boundary', () => {
    for (const ex of ds) {
      const t = tokenizeRecord(tok, exampleRecord(ex), { maxLength: 512 });
      const pieces = tokenPieces(tok, t.tokens);
      const label = t.lossMask;
      const labelStart = label.indexOf(true);
      const kinds = labelNoiseTokens({ pieces, label }, ex);
      expect(kinds.slice(0, labelStart).every((k) => k === null)).toBe(true);
      // The noise tokens' pieces, joined, are exactly the spans' text (the SentencePiece dummy-prefix space
      // sits before the completion, in a clean token).
      const noisePieces = pieces.filter((_, i) => kinds[i] !== null && kinds[i] !== 'clean').join('');
      expect(noisePieces).toBe(ex.noise.map((s) => ex.completion.slice(s.start, s.end)).join(''));
      expect(kinds.slice(labelStart).every((k) => k === ex.group || k === 'clean')).toBe(true);
    }
  });
});

describe('XTF (paper rules) on TinyStories with injected noise (stories260K)', () => {
  // Two short completions (< RI_MIN_LABEL_TOKENS label tokens) exercise the RI minimum.
  const short: NoisyExample[] = [
    { id: 'short-1', prompt: 'Tom saw a cat.', completion: 'Yes.', group: 'clean', original: 'Yes.', noise: [] },
    { id: 'short-2', prompt: 'Sue was sad.', completion: 'Ok.', group: 'clean', original: 'Ok.', noise: [] },
  ];
  const examples = [...noisyDataset(text, DATASET), ...short];
  let result: ScoreResult;
  let seconds = 0;

  beforeAll(async () => {
    const rt = await gpu();
    const model = LlamaModel.fromWeights(rt, loadModel());
    const t0 = performance.now();
    result = await scoreExamples(model, tok, examples.map(exampleRecord), { xtf: PAPER });
    seconds = (performance.now() - t0) / 1000;
    model.release();
  });

  const labelIdx = (s: { label: boolean[] }) => s.label.flatMap((l, i) => (l ? [i] : []));

  it('never flags prompt tokens, and gives them no scores and weight 0', () => {
    for (const s of result.scored) {
      for (let i = 0; i < s.tokens.length; i++) {
        if (s.label[i]) continue;
        expect(s.flags[i]).toEqual([]);
        expect(s.lossMask[i]).toBe(0);
        expect([s.p[i], s.ri[i], s.kn[i], s.tr[i]]).toEqual([null, null, null, null]);
      }
    }
  });

  it('KN flags exactly the label tokens with p > 0.95 (S_KN = 1 − p < 0.05)', () => {
    let flagged = 0;
    for (const s of result.scored) {
      for (const i of labelIdx(s)) {
        const p = s.p[i]!, kn = s.kn[i]!;
        expect(kn).toBe(1 - p);
        const isKn = s.flags[i].includes('kn');
        expect(isKn).toBe(kn < PAPER.kn.threshold);
        if (Math.abs(p - 0.95) > 1e-12) expect(isKn).toBe(p > 0.95);
        if (isKn) flagged++;
      }
    }
    expect(flagged).toBeGreaterThan(0);
  });

  it('TR flags depend on the token type only: one S_TR and one flag per type, the Multi-Otsu middle band', () => {
    const cuts = result.summary.thresholds!.trCuts;
    expect(cuts).toHaveLength(PAPER.tr.classes - 1);
    const byType = new Map<number, { tr: number; flag: boolean }>();
    let flagged = 0;
    for (const s of result.scored) {
      for (const i of labelIdx(s)) {
        const tr = s.tr[i]!, flag = s.flags[i].includes('tr');
        const seen = byType.get(s.tokens[i]);
        if (seen) expect({ tr, flag }).toEqual(seen);
        else byType.set(s.tokens[i], { tr, flag });
        expect(flag).toBe(tr >= cuts[0] && tr < cuts[1]);
        if (flag) flagged++;
      }
    }
    expect(flagged).toBeGreaterThan(0);
    // min-max normalised over the types present.
    const values = [...byType.values()].map((v) => v.tr);
    expect(Math.min(...values)).toBeCloseTo(0, 6);
    expect(Math.max(...values)).toBeCloseTo(1, 6);
  });

  it('RI flags only tokens below their example\'s Tukey fence, and only in examples with enough label tokens', () => {
    const fences = result.summary.thresholds!.riFences;
    for (const s of result.scored) {
      const values = labelIdx(s).map((i) => s.ri[i]).filter((v): v is number => v !== null && Number.isFinite(v));
      const fence = fences[s.id];
      if (values.length < RI_MIN_LABEL_TOKENS) {
        expect(fence).toBeNull();
        for (const i of labelIdx(s)) expect(s.flags[i]).not.toContain('ri');
        continue;
      }
      expect(fence).not.toBeNull();
      expect(fence!).toBeCloseTo(tukeyLowerFence(values, PAPER.ri.fenceR)!, 12);
      for (const i of labelIdx(s)) {
        const v = s.ri[i];
        expect(s.flags[i].includes('ri')).toBe(v !== null && v < fence!);
      }
    }
    // The short examples really are below the minimum.
    for (const id of ['short-1', 'short-2']) expect(fences[id]).toBeNull();
  });

  it('RI with r = 0 (fence = Q1, so the rule does flag): exactly the tokens below their example\'s Q1', () => {
    // With r = 1 the fence can sit below every score (then RI flags nothing and the rule above holds
    // vacuously); the same rule with r = 0 must flag the lower quarter, no more.
    const sel = reselect(result.scored, xtfOptions({ rules: 'paper', ri: { fenceR: 0 } }));
    let flagged = 0;
    for (const s of sel) {
      const idx = labelIdx(s);
      const values = idx.map((i) => s.ri[i]).filter((v): v is number => v !== null && Number.isFinite(v));
      const fence = tukeyLowerFence(values, 0);
      for (const i of idx) {
        const v = s.ri[i];
        const isRi = s.flags[i].includes('ri');
        expect(isRi).toBe(fence !== null && v !== null && v < fence);
        if (isRi) flagged++;
      }
      if (fence !== null) expect(idx.filter((i) => s.flags[i].includes('ri')).length).toBeLessThanOrEqual(Math.ceil(0.25 * values.length));
    }
    expect(flagged).toBeGreaterThan(0);
  });

  it('weight 0 exactly when some attribute flags a label token; single attributes give their own flags', () => {
    for (const s of result.scored) {
      for (const i of labelIdx(s)) expect(s.lossMask[i]).toBe(s.flags[i].length > 0 ? 0 : 1);
    }
    // Thresholds do not depend on which attributes are on, so "each attribute alone" is its own column.
    for (const a of ['ri', 'kn', 'tr'] as Attribute[]) {
      const alone = reselect(result.scored, xtfOptions({ rules: 'paper', attributes: { ri: a === 'ri', kn: a === 'kn', tr: a === 'tr' } }));
      alone.forEach((s, e) => labelIdx(s).forEach((i) => expect(s.lossMask[i] === 0).toBe(result.scored[e].flags[i].includes(a))));
    }
  });

  it("the summary's fractions agree with the tokens", () => {
    let label = 0, masked = 0;
    const count = { ri: 0, kn: 0, tr: 0 };
    const pairs = { 'ri,kn': 0, 'ri,tr': 0, 'kn,tr': 0 } as Record<string, number>;
    for (const s of result.scored) {
      for (const i of labelIdx(s)) {
        label++;
        if (s.lossMask[i] === 0) masked++;
        const f = s.flags[i];
        for (const a of f) count[a]++;
        for (const key of Object.keys(pairs)) { const [a, b] = key.split(','); if (f.includes(a as Attribute) && f.includes(b as Attribute)) pairs[key]++; }
      }
    }
    const sum = result.summary;
    expect(sum.examples).toBe(examples.length);
    expect(sum.labelTokens).toBe(label);
    expect(sum.fractionMasked).toBeCloseTo(masked / label, 12);
    for (const a of ['ri', 'kn', 'tr'] as const) expect(sum.fractionFlagged[a]).toBeCloseTo(count[a] / label, 12);
    for (const o of sum.overlaps) expect(o.count).toBe(pairs[o.pair.join(',')]);
    expect(sum.truncatedExamples).toBe(0);
  });

  it('measures what each attribute catches per noise kind (printed, written to test-output/xtf-noise.md, not asserted)', () => {
    const rows = noiseTable(result.scored, examples, PAPER.kn.threshold);
    for (const r of rows) {
      // The only per-kind number that follows from the method: KN's recall IS the share of noise tokens
      // the model predicts with p > 0.95, whatever the kind.
      if (r.noiseTokens > 0) expect(noiseMetric(r.counts.kn).recall).toBeCloseTo(r.knownShare, 12);
      expect(r.counts.union.flaggedNoise).toBeGreaterThanOrEqual(Math.max(r.counts.ri.flaggedNoise, r.counts.kn.flaggedNoise, r.counts.tr.flaggedNoise));
    }
    const all = rows.find((r) => r.group === 'all')!;
    expect(all.labelTokens).toBe(result.summary.labelTokens);
    const fences = Object.values(result.summary.thresholds!.riFences).filter((f): f is number => f !== null);
    const table = formatNoiseTable(rows, `XTF defaults, stories260K, ${examples.length} TinyStories examples (seed ${DATASET.seed}; ${DATASET.maxCompletionChars}-char completions, 2 extra short ones), ${Math.round(result.summary.tokensPerSecond)} tokens/s`);
    const notes = [
      '',
      `RI fences (Q1 − ${PAPER.ri.fenceR}·IQR): ${fences.length} examples, from ${Math.min(...fences).toExponential(2)} to ${Math.max(...fences).toExponential(2)}; TR cuts ${result.summary.thresholds!.trCuts.map((c) => c.toFixed(3)).join(', ')}.`,
      'P = flagged noise / flagged tokens in that kind\'s examples; R = flagged noise / noise tokens; p>0.95 = share of the kind\'s noise tokens the model already predicts (= KN recall by construction).',
    ].join('\n');
    console.log(`${table}\n${notes}\n(scoring ${seconds.toFixed(1)} s)`);
    mkdirSync(OUTPUT, { recursive: true });
    writeFileSync(new URL('xtf-noise.md', OUTPUT), `${table}\n${notes}\n`);
  });
});
