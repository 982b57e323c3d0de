// Scoring under the released rules (src/xtf/score-released.ts) on the real stories260K model and GSM8K
// records: the flags are releasedSelectAnswer applied to the example's own ri / p and the similarities
// releasedRelevance gives (the wiring, not a second implementation), the TR cut is over every token
// occurrence (prompts included), the summary names the rules, caps and domain; the paper path is unchanged.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { loadModel, loadTokenizer } from '../model/stories260k.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { exampleRecord, type TrainRecord } from '../../src/data/records.ts';
import { gsm8kExample } from '../../src/data/tasks.ts';
import { tokenizeRecord } from '../../src/data/tokenize.ts';
import { MATH_DOMAIN_WORDS } from '../../src/xtf/domain-words.ts';
import { XTF_DEFAULTS, xtfOptions } from '../../src/xtf/options.ts';
import { RELEASED_DEFAULTS, releasedOptions, releasedSelectAnswer, releasedTrCut } from '../../src/xtf/released.ts';
import { cosineSimilarity, finalHiddenStates, releasedRelevance, releasedTypeKey } from '../../src/xtf/released-relevance.ts';
import { scoreExamples, type ScoreOptions, type ScoreResult } from '../../src/xtf/score.ts';
import { reselectReleased, tokenIdsInOrder } from '../../src/xtf/score-released.ts';
import { parseScoredExample, parseSummary } from '../../src/xtf/scorefile.ts';
import { formatSummary } from '../../src/xtf/summary.ts';
import type { ScoredExample } from '../../src/xtf/types.ts';

const GSM8K = new URL('../../../shared/data/gsm8k/train.jsonl', import.meta.url);
const N = 6;
const records: TrainRecord[] = readFileSync(GSM8K, 'utf8').split('\n').slice(0, N)
  .map((line, i) => exampleRecord(gsm8kExample({ line: i + 1, value: JSON.parse(line) }, 'train.jsonl', i)));

describe('xtf options: rules, caps, domain words', () => {
  it("defaults to the released rules with the authors' documented caps and no words", () => {
    expect(XTF_DEFAULTS.rules).toBe('released');
    expect(XTF_DEFAULTS.caps).toEqual({ ri: RELEASED_DEFAULTS.riMax, kn: RELEASED_DEFAULTS.knMax, tr: RELEASED_DEFAULTS.trMax });
    expect(XTF_DEFAULTS.caps).toEqual({ ri: 0.05, kn: 0.1, tr: 0.05 });
    expect(XTF_DEFAULTS.domainWords).toBeNull();
    const o = xtfOptions({ rules: 'released', caps: { kn: 0.2 }, domainWords: ['1', '+'] });
    expect([o.rules, o.caps, o.domainWords]).toEqual(['released', { ri: 0.05, kn: 0.2, tr: 0.05 }, ['1', '+']]);
  });

  it('rejects unknown rules, caps outside [0, 1] and an empty word list, naming the field', () => {
    expect(() => xtfOptions({ rules: 'authors' as never })).toThrow(/XTF option rules must be 'released' or 'paper'/);
    expect(() => xtfOptions({ caps: { kn: 1.5 } })).toThrow(/caps\.kn must be a share in \[0, 1\]/);
    expect(() => xtfOptions({ caps: { ri: -0.1 } })).toThrow(/caps\.ri/);
    expect(() => xtfOptions({ caps: { tr: NaN } })).toThrow(/caps\.tr/);
    expect(() => xtfOptions({ domainWords: [] })).toThrow(/domainWords must be null or a non-empty list/);
    expect(() => xtfOptions({ caps: { ri: 0, kn: 1, tr: 1 } })).not.toThrow();
  });
});

describe('score files: the released per-answer cuts and the summary rules', () => {
  const line = (cuts: unknown) => JSON.stringify({ id: 'a', tokens: [1, 2], pieces: ['x', 'y'], label: [false, true], p: [null, 0.5], ri: [null, 0.1], kn: [null, 0.5], tr: [null, 0.2], flags: [[], []], lossMask: [0, 1], cuts });
  const good = { ri: { cut: 0.1, fence: -0.2, capped: true }, kn: { cap: null, floor: 0.95 }, tr: { cut: null, cap: 0.2 } };

  it('reads the cuts when present and rejects a malformed record, naming the field', () => {
    expect(parseScoredExample(line(good)).cuts).toEqual(good);
    expect(parseScoredExample(line(undefined)).cuts).toBeUndefined();
    expect(() => parseScoredExample(line({ ri: good.ri, kn: good.kn }))).toThrow(/"cuts" must be \{ri, kn, tr\}/);
    expect(() => parseScoredExample(line({ ...good, ri: { ...good.ri, capped: 1 } }))).toThrow(/"cuts"\.ri\.capped must be true or false/);
    expect(() => parseScoredExample(line({ ...good, tr: { cut: 'x', cap: 0.2 } }))).toThrow(/"cuts"\.tr\.cut must be a number or null/);
    expect(() => parseScoredExample(line({ ...good, kn: { cap: 0.5 } }))).toThrow(/"cuts"\.kn\.floor must be a number/);
  });

  it('summaries without rules read as null; a bad rules record is refused', () => {
    const base = { labelTokens: 1, fractionMasked: 0, fractionFlagged: { ri: 0, kn: 0, tr: 0 } };
    expect(parseSummary(JSON.stringify(base)).rules).toBeNull();
    expect(() => parseSummary(JSON.stringify({ ...base, rules: { rules: 'authors', caps: null, domain: {}, released: null } }))).toThrow(/"rules" must be null or/);
  });
});

describe('scoring under the released rules (stories260K, GSM8K)', () => {
  const weights = loadModel();
  const tok = loadTokenizer();
  let modelPromise: Promise<LlamaModel> | null = null;
  const model = () => (modelPromise ??= gpu().then((rt) => LlamaModel.fromWeights(rt, weights)));
  const score = async (options: ScoreOptions) => scoreExamples(await model(), tok, records, options);
  const tokenized = () => records.map((r) => tokenizeRecord(tok, r, { maxLength: weights.config.maxSeqLen }));
  const labelsOf = (ex: ScoredExample) => ex.label.flatMap((l, j) => (l ? [j] : []));
  const lines = (r: ScoreResult) => r.scored.map((ex) => JSON.stringify(ex)).join('\n');

  /** Every example's flags, loss mask and cuts are releasedSelectAnswer over its label tokens. */
  function expectReleasedSelection(r: ScoreResult, similarity: Float64Array, cut: number | null, caps: { ri: number; kn: number; tr: number }) {
    const options = releasedOptions({ riMax: caps.ri, knMax: caps.kn, trMax: caps.tr });
    for (const ex of r.scored) {
      const at = labelsOf(ex);
      expect(at.length).toBeGreaterThan(20);
      const want = releasedSelectAnswer({ ri: at.map((j) => ex.ri[j]), p: at.map((j) => ex.p[j]), tr: at.map((j) => similarity[ex.tokens[j]]) }, cut, options);
      expect(at.map((j) => ex.flags[j]), ex.id).toEqual(want.flags);
      expect(at.map((j) => ex.lossMask[j]), ex.id).toEqual(want.masked.map((m) => (m ? 0 : 1)));
      expect(ex.cuts, ex.id).toEqual(want.cuts);
      ex.label.forEach((l, j) => {
        if (l) return;
        expect(ex.flags[j]).toEqual([]);
        expect(ex.lossMask[j]).toBe(0);
        expect(ex.tr[j]).toBeNull();
      });
      // The stored TR score is the released similarity of the token's type.
      at.forEach((j) => expect(ex.tr[j]).toBe(similarity[ex.tokens[j]]));
      // The score file's reader accepts the line, cuts included.
      expect(parseScoredExample(JSON.stringify(ex)).cuts).toEqual(want.cuts);
    }
  }

  it("the task's words: flags are releasedSelectAnswer over the example's own scores, the TR cut is over every occurrence", async () => {
    const caps = { ri: 0.2, kn: 0.3, tr: 0.3 };
    const r = await score({ xtf: xtfOptions({ rules: 'released', caps }), task: 'gsm8k' });
    const seqs = tokenized();
    const rel = await releasedRelevance(await model(), tok, { tokenIds: tokenIdsInOrder(seqs), domainWords: MATH_DOMAIN_WORDS });
    // Every token occurrence of every sequence, prompts (and BOS) included.
    const occurrences = seqs.flatMap((e) => e.tokens.map((t) => rel.similarity[t]));
    const labelOnly = seqs.flatMap((e) => e.tokens.filter((_, j) => e.lossMask[j]).map((t) => rel.similarity[t]));
    expect(occurrences.length).toBeGreaterThan(labelOnly.length);
    const cut = releasedTrCut(occurrences);
    expect(cut.cut).not.toBeNull();
    expect(releasedTrCut(labelOnly).thresholds).not.toEqual(cut.thresholds); // the prompts change the cut
    expectReleasedSelection(r, rel.similarity, cut.cut, caps);

    const flagged = r.scored.flatMap((ex) => ex.flags.flat());
    expect(flagged).toContain('tr');
    expect(flagged).toContain('kn');
    // Re-selection from the score records and the summary's cut: the same selection; one attribute alone
    // keeps exactly that attribute's flags (the caps are per rule, so the union is their plain union).
    const xtf = xtfOptions({ rules: 'released', caps });
    expect(reselectReleased(r.scored, xtf, r.summary.rules!.released!.tr.cut)).toEqual(r.scored);
    const trOnly = reselectReleased(r.scored, xtfOptions({ ...xtf, attributes: { ri: false, kn: false, tr: true } }), cut.cut);
    trOnly.forEach((ex, e) => ex.flags.forEach((f, j) => expect(f).toEqual(r.scored[e].flags[j].filter((a) => a === 'tr'))));
    const s = r.summary;
    expect(s.thresholds).toBeNull();
    expect(s.rules).toEqual({
      rules: 'released',
      caps,
      domain: { source: 'task', words: [...MATH_DOMAIN_WORDS], skipped: [], task: 'gsm8k' },
      released: {
        iqrFactor: 1.5,
        knFloor: 0.95,
        tr: { classes: 5, thresholds: cut.thresholds, shares: cut.shares, cut: cut.cut, exceededAt: cut.exceededAt, occurrences: occurrences.length },
      },
    });
    expect(parseSummary(JSON.stringify(s)).rules).toEqual(s.rules);
    const text = formatSummary(s);
    expect(text).toContain('rules released, caps ri 0.2 kn 0.3 tr 0.3');
    expect(text).toContain("gsm8k's default words 1 2 3");
    expect(text).toMatch(/similarity < [\d.-]+ \(Multi-Otsu thresholds/);
  });

  it('given words win over the task; the default caps; random masks released XTF\'s fraction', async () => {
    const words = ['1', '2', '+'];
    const xtf = xtfOptions({ rules: 'released', domainWords: words });
    const r = await score({ xtf, task: 'pubmedqa' });
    const rel = await releasedRelevance(await model(), tok, { tokenIds: tokenIdsInOrder(tokenized()), domainWords: words });
    const cut = releasedTrCut(tokenized().flatMap((e) => e.tokens.map((t) => rel.similarity[t]))).cut;
    expectReleasedSelection(r, rel.similarity, cut, XTF_DEFAULTS.caps);
    expect(r.summary.rules?.domain).toEqual({ source: 'option', words, skipped: [], task: null });
    expect(r.summary.rules?.caps).toEqual({ ri: 0.05, kn: 0.1, tr: 0.05 });

    const random = await score({ method: 'random', xtf, task: 'pubmedqa' });
    expect(random.summary.rules).toEqual(r.summary.rules);
    expect(random.summary.fractionMasked).toBeCloseTo(r.summary.fractionMasked, 3);
    expect(random.scored.map((ex) => ex.tr)).toEqual(r.scored.map((ex) => ex.tr));
  });

  it('no words and no known task: the label-mean fallback, named in the summary', async () => {
    const r = await score({ xtf: xtfOptions({ rules: 'released' }) });
    expect(r.summary.rules?.domain).toEqual({ source: 'label-mean fallback', words: null, skipped: [], task: null });
    expect(formatSummary(r.summary)).toContain('TR domain: label-mean fallback');
    // The domain vector: the mean over label occurrences of their types' vectors (first id of a key).
    const m = await model();
    const seqs = tokenized();
    const ids = tokenIdsInOrder(seqs);
    const rep = new Map<string, number>();
    for (const id of ids) if (!rep.has(releasedTypeKey(tok, id))) rep.set(releasedTypeKey(tok, id), id);
    const vec = new Map<number, Float32Array>();
    const reps = [...rep.values()];
    await finalHiddenStates(m, reps.map((id) => [id]), 16, (i, row) => vec.set(reps[i], row.slice()));
    const typeVec = (id: number) => vec.get(rep.get(releasedTypeKey(tok, id))!)!;
    const domain = new Float64Array(weights.config.dim);
    const labelTokens = seqs.flatMap((e) => e.tokens.filter((_, j) => e.lossMask[j]));
    for (const t of labelTokens) typeVec(t).forEach((x, d) => (domain[d] += x / labelTokens.length));
    const similarity = new Float64Array(weights.config.vocabSize).fill(NaN);
    for (const id of ids) similarity[id] = cosineSimilarity(typeVec(id), domain);
    for (const ex of r.scored) for (const j of labelsOf(ex)) expect(ex.tr[j]).toBeCloseTo(similarity[ex.tokens[j]], 9);
    const cut = releasedTrCut(seqs.flatMap((e) => e.tokens.map((t) => similarity[t])));
    expect(r.summary.rules?.released?.tr.thresholds.length).toBe(4);
    expect(r.summary.rules?.released?.tr.cut).toBeCloseTo(cut.cut!, 6);
  });

  it('words that encode to no token stop before any scoring, naming the option', async () => {
    let progressed = false;
    await expect(score({ xtf: xtfOptions({ rules: 'released', domainWords: [''] }), onProgress: () => (progressed = true) }))
      .rejects.toThrow(/domainWords \(--domain-words\): no word encodes to any token/);
    expect(progressed).toBe(false);
  });

  it("the paper's rules give the same output whatever the released options; baselines ignore the rules", async () => {
    const base = await score({ xtf: xtfOptions({ rules: 'paper' }) });
    const paper = await score({ xtf: xtfOptions({ rules: 'paper', caps: { ri: 0.5, kn: 0.5, tr: 0.5 }, domainWords: ['maths'] }), task: 'gsm8k' });
    expect(lines(paper)).toBe(lines(base));
    expect(base.scored.every((ex) => ex.cuts === undefined)).toBe(true);
    const strip = (s: ScoreResult['summary']) => ({ ...s, seconds: 0, tokensPerSecond: 0 });
    expect(strip(paper.summary)).toEqual(strip(base.summary));
    expect(base.summary.rules).toEqual({ rules: 'paper', caps: null, domain: { source: 'label-mean', words: null, skipped: [], task: null }, released: null });
    expect(base.summary.thresholds?.trCuts.length).toBeGreaterThan(0);
    expect(formatSummary(base.summary)).toContain('rules paper; TR domain: label-mean');

    const stm = await score({ method: 'stm' });
    const stmReleased = await score({ method: 'stm', xtf: xtfOptions({ rules: 'released', domainWords: ['+'] }), task: 'gsm8k' });
    expect(lines(stmReleased)).toBe(lines(stm));
    expect(stm.summary.rules).toBeNull();
    expect(stmReleased.summary.rules).toBeNull();
  });
});
