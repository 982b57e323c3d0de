// The experiment's pure parts: filter masks from score records, the run order and resume check, the
// table over seeds (paired with the normal run) and its Markdown / HTML.
import { describe, expect, it } from 'vitest';
import { checkExperimentConfig, differingFields, EXPERIMENT_DEFAULTS, fixedSettings, runKeys } from '../../src/experiment/config.ts';
import { FILTERS, maskOf, maskQuality, normalWeights, parseFilters, randomMask, seedFreeMasks, xtfAttributes } from '../../src/experiment/filters.ts';
import { experimentHtml, experimentMarkdown, type ExperimentSummary } from '../../src/experiment/report.ts';
import { resultTable, spread, type RunResult } from '../../src/experiment/results.ts';
import { xtfOptions } from '../../src/xtf/options.ts';
import { reselect } from '../../src/xtf/select.ts';
import { reselectReleased } from '../../src/xtf/score-released.ts';
import { fakeScoreFile } from '../xtf/fake-scores.ts';
import { memoryStore } from '../helpers/experiment.ts';
import { runExperiment } from '../../src/experiment/runner.ts';
import { exampleRecord } from '../../src/data/records.ts';

describe('filters', () => {
  const { scored } = fakeScoreFile(24);
  const normal = normalWeights(scored);

  it('parse by name or "all", in grid order, and refuse unknown names', () => {
    expect(parseFilters('all')).toEqual([...FILTERS]);
    expect(parseFilters('random, xtf,normal')).toEqual(['normal', 'xtf', 'random']);
    expect(() => parseFilters('xtf,magic')).toThrow(/unknown filter 'magic'/);
    expect(xtfAttributes('kn+tr')).toEqual(['kn', 'tr']);
    expect(xtfAttributes('stm')).toBeNull();
  });

  it('normal trains every scorable label token; each XTF variant is the re-selection with its attributes', () => {
    const masks = seedFreeMasks(['normal', 'xtf', 'kn', 'ri+tr'], { scored, xtf: xtfOptions({ rules: 'paper' }) });
    expect(masks.normal!.maskedFraction).toBe(0);
    scored.forEach((ex, e) => ex.label.forEach((l, i) => expect(normal[e][i]).toBe(l && i > 0 && ex.p[i] !== null ? 1 : 0)));
    const kn = reselect(scored, xtfOptions({ rules: 'paper', attributes: { ri: false, kn: true, tr: false } }));
    expect(masks.kn!.lossMask).toEqual(kn.map((ex) => ex.lossMask));
    const riTr = reselect(scored, xtfOptions({ rules: 'paper', attributes: { ri: true, kn: false, tr: true } }));
    expect(masks['ri+tr']!.lossMask).toEqual(riTr.map((ex) => ex.lossMask));
    expect(masks.xtf!.maskedFraction).toBeGreaterThan(masks.kn!.maskedFraction);
  });

  it('under the released rules, each XTF variant is the released re-selection with its attributes', () => {
    const released = xtfOptions({ rules: 'released' });
    const cut = 0.2;
    const masks = seedFreeMasks(['xtf', 'kn'], { scored, xtf: released, trCut: cut });
    expect(masks.xtf!.lossMask).toEqual(reselectReleased(scored, released, cut).map((ex) => ex.lossMask));
    expect(masks.kn!.lossMask).toEqual(reselectReleased(scored, xtfOptions({ rules: 'released', attributes: { ri: false, kn: true, tr: false } }), cut).map((ex) => ex.lossMask));
    expect(masks.xtf!.lossMask).not.toEqual(seedFreeMasks(['xtf'], { scored, xtf: xtfOptions({ rules: 'paper' }) }).xtf!.lossMask);
  });

  it('an experiment saved before an XTF option existed still resumes (the option takes its default)', () => {
    const { caps: _c, domainWords: _d, ...older } = EXPERIMENT_DEFAULTS.xtf;
    expect(differingFields(JSON.parse(JSON.stringify(xtfOptions(older))), JSON.parse(JSON.stringify(EXPERIMENT_DEFAULTS.xtf)))).toEqual([]);
  });

  it('an experiment saved before rule sets existed ran the paper\'s rules: it resumes as that, not under the new default', async () => {
    const store = memoryStore();
    const { rules: _r, caps: _c, domainWords: _d, ...older } = xtfOptions({ rules: 'paper' });
    await store.write('experiment.json', JSON.stringify({ fixed: { ...JSON.parse(JSON.stringify(fixedSettings(EXPERIMENT_DEFAULTS))), xtf: older } }));
    // The check comes before any model is used.
    const ctx = { model: null as never, tokenizer: null as never, store, device: 'test', newModel: () => null as never };
    const data = { train: [exampleRecord({ id: 'a', prompt: 'p', completion: 'c' })], heldOut: [exampleRecord({ id: 'b', prompt: 'p', completion: 'c' })], reference: [], noise: null };
    const resumed = runExperiment({ ...EXPERIMENT_DEFAULTS, xtf: xtfOptions({ rules: 'released' }) }, data as never, ctx);
    await expect(resumed).rejects.toThrow(/xtf\.rules/);
    await expect(resumed).rejects.not.toThrow(/xtf\.caps/); // options added since take their defaults
  });

  it('oracle masks exactly the label tokens inside injected spans', () => {
    // Mark the completion's first three characters of each example as injected noise.
    const noise = scored.map((ex) => {
      const first = ex.label.indexOf(true);
      const completion = ex.pieces.slice(first).join('');
      return { completion, noise: [{ kind: 'filler' as const, start: 0, end: ex.pieces[first].length + ex.pieces[first + 1].length }] };
    });
    const { oracle } = seedFreeMasks(['oracle'], { scored, noise });
    scored.forEach((ex, e) => {
      const first = ex.label.indexOf(true);
      expect(oracle!.lossMask[e].slice(first, first + 2)).toEqual([0, 0]);
      expect(oracle!.lossMask[e].slice(first + 2)).toEqual(normal[e].slice(first + 2));
    });
    expect(() => seedFreeMasks(['oracle'], { scored })).toThrow(/noise spans/);
    expect(() => seedFreeMasks(['slm'], { scored })).toThrow(/reference model/);
  });

  it('random masks the given fraction, differently per seed; quality counts noise and clean tokens', () => {
    const a = randomMask(normal, 0.25, 1), b = randomMask(normal, 0.25, 2);
    const labels = normal.flat().filter((w) => w > 0).length;
    expect(a.maskedFraction).toBeCloseTo(Math.round(0.25 * labels) / labels, 12);
    expect(a.lossMask).not.toEqual(b.lossMask);
    expect(randomMask(normal, 0.25, 1)).toEqual(a);
    const isNoise = normal.map((row) => row.map((_, i) => i % 2 === 0));
    const all = maskOf(normal.map((row) => row.map(() => 0)), normal);
    expect(all.maskedFraction).toBe(1);
    expect(maskQuality(all, normal, isNoise)).toEqual({ noiseRecall: 1, cleanMasked: 1 });
    expect(maskQuality(maskOf(normal, normal), normal, isNoise)).toEqual({ noiseRecall: 0, cleanMasked: 0 });
  });
});

describe('experiment settings', () => {
  it('run seed by seed, every filter per seed', () => {
    expect(runKeys({ filters: ['normal', 'xtf'], seeds: [4, 7] }).map((k) => k.key)).toEqual(['normal.seed4', 'xtf.seed4', 'normal.seed7', 'xtf.seed7']);
  });

  it('name the fields that differ from a saved experiment, ignoring the grid', () => {
    const a = { ...EXPERIMENT_DEFAULTS, model: 'm' };
    const b = { ...a, seeds: [9], filters: ['xtf' as const], finetune: { ...a.finetune, lr: 0.1 }, xtf: xtfOptions({ kn: { threshold: 0.1 } }) };
    expect(differingFields(fixedSettings(a), fixedSettings(b))).toEqual(['finetune.lr', 'xtf.kn.threshold']);
    expect(differingFields(fixedSettings(a), fixedSettings({ ...a, seeds: [5] }))).toEqual([]);
  });

  it('refuse bad values with the field named', () => {
    expect(() => checkExperimentConfig({ ...EXPERIMENT_DEFAULTS, seeds: [1, 1] })).toThrow(/seeds must be distinct/);
    expect(() => checkExperimentConfig({ ...EXPERIMENT_DEFAULTS, finetune: { ...EXPERIMENT_DEFAULTS.finetune, epochs: 0 } })).toThrow(/fine-tune option epochs/);
    expect(() => checkExperimentConfig({ ...EXPERIMENT_DEFAULTS, finetune: { ...EXPERIMENT_DEFAULTS.finetune, method: 'full' } })).toThrow(/finetune.method/);
    expect(() => checkExperimentConfig({ ...EXPERIMENT_DEFAULTS, filters: [] })).toThrow(/filters/);
  });
});

describe('results table', () => {
  const run = (filter: RunResult['filter'], seed: number, loss: number, accuracy: number): RunResult => ({
    filter, seed, heldOutLoss: loss, heldOutBefore: 5, accuracy, correct: 0, total: 10, maskedFraction: filter === 'normal' ? 0 : 0.3,
    trainedTokens: 100, steps: 4, seconds: 2, tokensPerSecond: 50, trainCurve: [[1, 3]], heldOutCurve: [[0, 5], [4, loss]],
    quality: { noiseRecall: filter === 'oracle' ? 1 : 0.2, cleanMasked: 0 }, samples: [{ id: 'a', target: '4', predicted: '4', output: 'so 4.\n#### 4' }],
  });
  const runs = [run('normal', 0, 2.0, 0.1), run('normal', 1, 2.2, 0.3), run('xtf', 0, 2.1, 0.2), run('xtf', 1, 2.1, 0.2), run('oracle', 0, 1.9, 0.3)];

  it('gives mean and sample sd over seeds, and the change paired with the normal run of each seed', () => {
    expect(spread([1, 2, 3])).toEqual({ mean: 2, sd: 1, n: 3 });
    expect(spread([4])).toEqual({ mean: 4, sd: 0, n: 1 });
    const rows = resultTable(runs);
    expect(rows.map((r) => r.filter)).toEqual(['normal', 'xtf', 'oracle']);
    const xtf = rows[1];
    expect(xtf.heldOutLoss.mean).toBeCloseTo(2.1, 12);
    expect(xtf.lossVsNormal!.mean).toBeCloseTo(0, 12); // +0.1 and −0.1
    expect(xtf.lossVsNormal!.sd).toBeCloseTo(Math.SQRT2 * 0.1, 12);
    expect(xtf.accuracyVsNormal!.mean).toBeCloseTo(0, 12);
    expect(rows[2].lossVsNormal).toEqual({ mean: expect.closeTo(-0.1, 12), sd: 0, n: 1 });
    expect(rows[0].lossVsNormal).toBeNull();
  });

  it('renders as Markdown and as a page with charts', () => {
    const summary: ExperimentSummary = {
      config: { ...EXPERIMENT_DEFAULTS, model: 'stories260K', data: 'built-in', task: 'gsm8k', filters: ['normal', 'xtf', 'oracle'], seeds: [0, 1] },
      base: { heldOutLoss: 5, accuracy: 0 },
      data: { train: 10, reference: 2, heldOut: 4, labelTokens: 300, noisyExamples: 8, noiseTokens: 60 },
      xtf: { fractionMasked: 0.3, fractionFlagged: { ri: 0, kn: 0.1, tr: 0.25 }, seconds: 1 },
      runs,
      plannedRuns: 6,
      device: 'test',
    };
    const md = experimentMarkdown(summary);
    expect(md).toContain('| Normal (all label tokens) | 2 | 0.0% | 100 | 2.1000 ± 0.1414 | – | 20.0% ± 14.1% |');
    expect(md).toContain('| Oracle (injected noise masked) | 1 | 30.0% | 100 | 1.9000 | −0.1000 |');
    expect(md).toContain('runs: 5 of 6');
    const html = experimentHtml(summary);
    expect(html.match(/<svg/g)!.length).toBeGreaterThanOrEqual(3);
    expect(html).toContain('Held-out loss (lower is better)');
  });
});
