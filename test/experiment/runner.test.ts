// The experiment runner on the real stories260K model and the built-in data, at a tiny size: every run
// trains (held-out loss falls), the oracle removes exactly the injected noise, training is deterministic
// (what lets bit-identical masks share one run), a second call resumes without training, and a store
// holding other settings is refused.
import { describe, expect, it } from 'vitest';
import { BUILTIN_RECIPE, EXPERIMENT_DEFAULTS, type ExperimentConfig } from '../../src/experiment/config.ts';
import { type ExperimentEvent, type ExperimentStore } from '../../src/experiment/context.ts';
import { ExperimentMismatchError, runExperiment } from '../../src/experiment/runner.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { memoryStore, tinyExperiment } from '../helpers/experiment.ts';


describe('experiment runner (stories260K, built-in data)', async () => {
  const { rt, weights, tokenizer, model, data } = await tinyExperiment({ train: 18, reference: 8, heldOut: 6 });
  const config: ExperimentConfig = {
    ...EXPERIMENT_DEFAULTS,
    model: 'stories260K',
    data: 'built-in (test)',
    task: 'gsm8k',
    filters: ['normal', 'ri', 'kn', 'ri+kn', 'random', 'slm', 'slm-online', 'oracle'],
    seeds: [0],
    // 2 of the 18 training examples validate: 16 train, two steps of 8.
    finetune: { ...BUILTIN_RECIPE, epochs: 1, batchSize: 8, evalEvery: 1, validationFraction: 0.1 },
    referenceEpochs: 1,
    accuracyExamples: 2,
    maxNewTokens: 12,
  };
  const context = (store: ExperimentStore, events: ExperimentEvent[] = []) => ({
    model, tokenizer, store, device: 'test', newModel: () => LlamaModel.fromWeights(rt, weights), onEvent: (e: ExperimentEvent) => void events.push(e),
  });
  const store = memoryStore();
  const summary = await runExperiment(config, data, context(store));
  const byFilter = new Map(summary.runs.map((r) => [r.filter, r]));

  it('trains every filter from the same start and evaluates on the clean held-out set', () => {
    expect(summary.runs.map((r) => r.filter)).toEqual(config.filters);
    for (const r of summary.runs) {
      expect(r.heldOutBefore).toBe(summary.base.heldOutLoss);
      expect(r.heldOutLoss, r.filter).toBeLessThan(r.heldOutBefore);
      expect(r.steps).toBe(2);
      expect(r.total).toBe(2);
      expect(r.heldOutCurve[0]).toEqual([0, summary.base.heldOutLoss]);
      // The checkpoint kept is the one validation chose; the held-out curve has a point per validation.
      expect(r.bestStep).toBeGreaterThanOrEqual(1);
      expect(r.heldOutCurve.length).toBe(3);
    }
    expect(byFilter.get('normal')!.maskedFraction).toBe(0);
    expect(byFilter.get('random')!.maskedFraction).toBeCloseTo(summary.xtf.fractionMasked, 2);
    expect(byFilter.get('slm')!.maskedFraction).toBeCloseTo(0.4, 1);
  });

  it('runs online SLM against the reference model\'s token losses, choosing anew at every step', () => {
    const online = byFilter.get('slm-online')!, normal = byFilter.get('normal')!;
    // Each step keeps floor(60%) of its label tokens: a little over 40% is masked, and fewer tokens train.
    expect(online.maskedFraction).toBeGreaterThanOrEqual(0.4);
    expect(online.maskedFraction).toBeLessThan(0.42);
    expect(online.trainedTokens).toBe(Math.round(normal.trainedTokens * (1 - online.maskedFraction)));
    expect(online.sameMaskAs).toBeUndefined();
    expect(online.quality!.noiseRecall).toBeGreaterThan(0);
    const prepared = JSON.parse(store.files.get('prepared.json')!);
    expect(prepared.referenceLoss).toHaveLength(data.train.length);
    expect(prepared.masks['slm-online']).toBeUndefined();
  });

  it('lets the oracle remove exactly the injected noise', () => {
    expect(summary.data.noiseTokens).toBeGreaterThan(0);
    expect(byFilter.get('oracle')!.quality).toEqual({ noiseRecall: 1, cleanMasked: 0 });
    expect(byFilter.get('oracle')!.maskedFraction).toBeCloseTo(summary.data.noiseTokens / summary.data.labelTokens, 12);
    expect(byFilter.get('normal')!.quality).toEqual({ noiseRecall: 0, cleanMasked: 0 });
  });

  it('shares one run between filters with bit-identical masks, which is sound because training is deterministic', async () => {
    const prepared = JSON.parse(store.files.get('prepared.json')!);
    const same = (a: string, b: string) => prepared.masks[a].lossMask.join() === prepared.masks[b].lossMask.join();
    expect(same('ri+kn', 'kn') ? byFilter.get('ri+kn')!.sameMaskAs : 'kn').toBe('kn');
    if (!same('ri', 'normal')) expect(byFilter.get('ri')!.sameMaskAs).toBeUndefined();
    // The same mask trained again from scratch gives the very same numbers.
    const again = await runExperiment({ ...config, filters: ['kn'] }, data, context(memoryStore()));
    expect(again.runs[0].heldOutLoss).toBe(byFilter.get('kn')!.heldOutLoss);
    expect(again.runs[0].trainCurve).toEqual(byFilter.get('kn')!.trainCurve);
  });

  it('writes the table, the page, one record per run and the adapters', () => {
    for (const f of ['results.md', 'results.json', 'index.html', 'experiment.json', 'base.json', 'prepared.json', 'scores.jsonl', 'scores.summary.json', 'xtf-scores.html']) expect(store.files.has(f), f).toBe(true);
    expect([...store.files.keys()].filter((k) => k.startsWith('runs/')).sort()).toEqual(config.filters.map((f) => `runs/${f}.seed0.json`).sort());
    expect(store.adapters).toContain('reference-adapter');
    expect(store.adapters).toContain('adapters/normal.seed0');
    expect(store.files.get('results.md')).toMatch(/\| Oracle \(injected noise masked\) \| 1 \|/);
  });

  it('resumes without training again, and refuses a store with other settings', async () => {
    const events: ExperimentEvent[] = [];
    const resumed = await runExperiment(config, data, context(store, events));
    expect(events.filter((e) => e.type === 'train-progress' || e.type === 'score-progress')).toEqual([]);
    expect(events.filter((e) => e.type === 'run-skipped').length).toBe(config.filters.length);
    expect(resumed.runs).toEqual(summary.runs);
    const other = { ...config, finetune: { ...config.finetune, lr: 1e-3 } };
    await expect(runExperiment(other, data, context(store))).rejects.toThrow(ExperimentMismatchError);
    await expect(runExperiment(other, data, context(store))).rejects.toThrow(/finetune\.lr/);
    const otherData = { ...data, heldOut: data.heldOut.slice(1) };
    await expect(runExperiment(config, otherData, context(store))).rejects.toThrow(/\(examples differ\)/);
  });
});
