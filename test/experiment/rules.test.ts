// The experiment's opt-in filters: XTF pinned to a rule set ('xtf-paper', 'xtf-released', whatever the
// experiment's rules) and online XTF ('xtf-online'), none of them in the default grid. Pure parts on fake
// scores; the runs on the real stories260K model and the built-in data, at a tiny size.
import { describe, expect, it } from 'vitest';
import { BUILTIN_RECIPE, EXPERIMENT_DEFAULTS, type ExperimentConfig } from '../../src/experiment/config.ts';
import { type ExperimentStore } from '../../src/experiment/context.ts';
import { DEFAULT_FILTERS, FILTER_LABELS, FILTERS, OPT_IN_FILTERS, parseFilters, seedFreeMasks } from '../../src/experiment/filters.ts';
import { experimentHtml } from '../../src/experiment/report.ts';
import { runExperiment } from '../../src/experiment/runner.ts';
import type { Prepared } from '../../src/experiment/prepare.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { splitForValidation } from '../../src/train/finetune.ts';
import { xtfOptions } from '../../src/xtf/options.ts';
import { reselectReleased } from '../../src/xtf/score-released.ts';
import { reselect } from '../../src/xtf/select.ts';
import type { DatasetSummary, ScoredExample } from '../../src/xtf/types.ts';
import { fakeScoreFile } from '../xtf/fake-scores.ts';
import { memoryStore, tinyExperiment } from '../helpers/experiment.ts';

describe('the default grid and the opt-in filters', () => {
  it('the default grid is the README table\'s: both rule sets, each attribute, online XTF and SLM, random, oracle', () => {
    const grid = ['normal', 'xtf', 'xtf-released', 'xtf-paper', 'ri', 'kn', 'tr', 'xtf-online', 'slm-online', 'random', 'oracle'];
    expect([...DEFAULT_FILTERS]).toEqual(grid);
    expect(EXPERIMENT_DEFAULTS.filters).toEqual(grid);
    expect([...OPT_IN_FILTERS].sort()).toEqual(['kn+tr', 'ri+kn', 'ri+tr', 'slm', 'stm', 'tc']);
    expect(FILTERS.filter((f) => !OPT_IN_FILTERS.includes(f))).toEqual(grid);
    expect(parseFilters('all')).toEqual(expect.arrayContaining([...OPT_IN_FILTERS]));
    expect(parseFilters('xtf-online, xtf-paper,normal,xtf-released,xtf')).toEqual(['normal', 'xtf', 'xtf-released', 'xtf-paper', 'xtf-online']);
    expect(FILTER_LABELS['xtf-paper']).toMatch(/paper rules/);
    expect(FILTER_LABELS['xtf-released']).toMatch(/released rules/);
    expect(FILTER_LABELS['xtf-online']).toMatch(/online/);
  });

  it("pin XTF's rule set: the experiment's own scores for its own rules, the other scoring's for the other", () => {
    const { scored } = fakeScoreFile(24);
    const paperRules = xtfOptions({ rules: 'paper' });
    const paper = seedFreeMasks(['xtf', 'xtf-paper'], { scored, xtf: paperRules });
    expect(paper['xtf-paper']).toEqual(paper.xtf);
    expect(() => seedFreeMasks(['xtf-released'], { scored, xtf: paperRules })).toThrow(/scored under the released rules/);
    const released = xtfOptions({ rules: 'released' });
    const masks = seedFreeMasks(['xtf-released'], { scored, xtf: paperRules, otherRules: { rules: 'released', scored, trCut: 0.2 } });
    expect(masks['xtf-released']!.lossMask).toEqual(reselectReleased(scored, released, 0.2).map((ex) => ex.lossMask));
    const underReleased = seedFreeMasks(['xtf', 'xtf-released', 'xtf-paper'], { scored, xtf: released, trCut: 0.2, otherRules: { rules: 'paper', scored, trCut: null } });
    expect(underReleased['xtf-released']).toEqual(underReleased.xtf);
    expect(underReleased['xtf-paper']!.lossMask).toEqual(reselect(scored, paperRules).map((ex) => ex.lossMask));
    const shifted = scored.map((ex) => ({ ...ex, tokens: ex.tokens.map((t) => t + 1) }));
    expect(() => seedFreeMasks(['xtf-released'], { scored, xtf: paperRules, otherRules: { rules: 'released', scored: shifted, trCut: 0.2 } })).toThrow(/other examples or tokens/);
  });
});


describe('opt-in filters on stories260K (built-in data)', async () => {
  const { rt, weights, tokenizer, model, data } = await tinyExperiment({ train: 18, reference: 4, heldOut: 4 });
  const config: ExperimentConfig = {
    ...EXPERIMENT_DEFAULTS,
    model: 'stories260K',
    data: 'built-in (test)',
    task: 'gsm8k',
    xtf: xtfOptions({ rules: 'paper' }),
    filters: ['normal', 'xtf', 'xtf-released', 'xtf-paper', 'xtf-online'],
    seeds: [0],
    // 2 of the 18 training examples validate: 16 train, two steps of 8, one epoch (each token seen once).
    finetune: { ...BUILTIN_RECIPE, epochs: 1, batchSize: 8, evalEvery: 0, validationFraction: 0.1 },
    accuracyExamples: 0,
  };
  const context = (store: ExperimentStore) => ({ model, tokenizer, store, device: 'test', newModel: () => LlamaModel.fromWeights(rt, weights) });
  const bitsOf = (row: readonly number[]) => row.map((x) => (x > 0 ? '1' : '0')).join('');

  /** Per trained example (the recipe's split of seed 0), the label tokens that train under normal and
   *  those the fixed RI / TR flags mask, and the label tokens the online selector counts in an answer. */
  const trainedCounts = (prepared: Prepared) => {
    const { train } = splitForValidation(prepared.ids.map((id, e) => ({ id, e })), { validationFraction: 0.1, seed: 0 });
    return train.map(({ e }) => {
      const flags = prepared.xtfFlags![e];
      let seen = 0, fixed = 0;
      for (let j = 0; j < flags.length; j++) {
        if (prepared.normal[e][j] !== '1') continue;
        seen++;
        if (Number(flags[j]) & 5) fixed++;
      }
      const answer = [...flags].filter((c, j) => c !== '-' && j >= 1).length;
      return { seen, fixed, answer };
    });
  };

  describe('under the paper rules', async () => {
    const store = memoryStore();
    const summary = await runExperiment(config, data, context(store));
    const byFilter = new Map(summary.runs.map((r) => [r.filter, r]));
    const prepared = JSON.parse(store.files.get('prepared.json')!) as Prepared;

    it("'xtf-paper' is 'xtf' itself, sharing its run", () => {
      expect(prepared.masks['xtf-paper']).toEqual(prepared.masks.xtf);
      expect(byFilter.get('xtf-paper')!.sameMaskAs).toBe('xtf');
      expect(byFilter.get('xtf-paper')!.heldOutLoss).toBe(byFilter.get('xtf')!.heldOutLoss);
      expect(store.files.get('results.md')).toMatch(/\| XTF, paper rules .*\(= xtf\) \|/);
      expect(store.files.has('scores.paper.jsonl')).toBe(false);
    });

    it("'xtf-released' is the released re-selection of the records scored once more under the released rules", () => {
      const scored = store.files.get('scores.released.jsonl')!.trim().split('\n').map((l) => JSON.parse(l) as ScoredExample);
      const scoredSummary = JSON.parse(store.files.get('scores.released.summary.json')!) as DatasetSummary;
      expect(scoredSummary.rules!.rules).toBe('released');
      const trCut = scoredSummary.rules!.released!.tr.cut;
      const expected = reselectReleased(scored, xtfOptions({ ...config.xtf, rules: 'released' }), trCut ?? null);
      expect(prepared.masks['xtf-released']!.lossMask).toEqual(expected.map((ex) => bitsOf(ex.lossMask)));
      expect(prepared.masks['xtf-released']!.lossMask).not.toEqual(prepared.masks.xtf!.lossMask);
      const released = byFilter.get('xtf-released')!;
      expect(released.sameMaskAs).toBeUndefined();
      expect(released.heldOutLoss).toBeLessThan(released.heldOutBefore);
      // Per-answer caps: the released rules mask far less than the paper's.
      expect(released.maskedFraction).toBeLessThan(byFilter.get('xtf')!.maskedFraction);
    });

    it("'xtf-online' trains from the stored flags of 'xtf', masking at least what its fixed RI / TR flags mask", () => {
      // The stored flags are those of 'xtf': a label token that trains is masked there iff it has a flag.
      prepared.xtfFlags!.forEach((row, e) => [...row].forEach((c, j) => {
        if (prepared.normal[e][j] === '1') expect(c !== '0', `${e} ${j}`).toBe(prepared.masks.xtf!.lossMask[e][j] === '0');
      }));
      expect(prepared.masks['xtf-online']).toBeUndefined();
      const online = byFilter.get('xtf-online')!, normal = byFilter.get('normal')!;
      expect(online.sameMaskAs).toBeUndefined();
      expect(online.steps).toBe(2);
      expect(online.heldOutLoss).toBeLessThan(online.heldOutBefore);
      const counts = trainedCounts(prepared);
      const seen = counts.reduce((s, c) => s + c.seen, 0);
      expect(normal.trainedTokens).toBe(seen);
      expect(online.maskedFraction).toBeGreaterThanOrEqual(counts.reduce((s, c) => s + c.fixed, 0) / seen);
      expect(online.maskedFraction).toBeLessThanOrEqual(1);
      expect(online.trainedTokens).toBe(Math.round(seen * (1 - online.maskedFraction)));
      expect(online.quality!.noiseRecall).toBeGreaterThanOrEqual(0);
      expect(experimentHtml(summary)).toContain('XTF online');
    });
  });

  it("under the released rules: 'xtf-released' is 'xtf', and online KN stays within its per-answer cap", async () => {
    const store = memoryStore();
    const released = { ...config, xtf: xtfOptions({ ...config.xtf, rules: 'released' }), filters: ['xtf', 'xtf-released', 'xtf-online'] } satisfies ExperimentConfig;
    const summary = await runExperiment(released, data, context(store));
    const byFilter = new Map(summary.runs.map((r) => [r.filter, r]));
    expect(byFilter.get('xtf-released')!.sameMaskAs).toBe('xtf');
    expect(store.files.has('scores.paper.jsonl')).toBe(false);
    const prepared = JSON.parse(store.files.get('prepared.json')!) as Prepared;
    const counts = trainedCounts(prepared);
    const seen = counts.reduce((s, c) => s + c.seen, 0);
    const fixed = counts.reduce((s, c) => s + c.fixed, 0);
    // Each step's KN masks at most kn-max of each answer's label tokens, on top of the fixed flags.
    const cap = counts.reduce((s, c) => s + c.fixed + released.xtf.caps.kn * c.answer, 0);
    const online = byFilter.get('xtf-online')!;
    expect(online.maskedFraction).toBeGreaterThanOrEqual(fixed / seen);
    expect(online.maskedFraction).toBeLessThanOrEqual(cap / seen);
    expect(online.heldOutLoss).toBeLessThan(online.heldOutBefore);
  });
});
