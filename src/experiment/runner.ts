// `xtf experiment` as a library call: prepare once (tokenize, score with XTF, train the clean reference
// model and score SLM / Token Cleaning with it, build every filter's mask), then run the grid — for each
// seed, for each filter, a fresh LoRA adapter with that seed's initialisation, trained on the same
// examples in the same order for the same steps, only the loss mask differing — and evaluate every
// adapter on the same clean held-out set. Every finished piece is written through the store at once, so
// a stopped experiment resumes where it was (same fixed settings; filters and seeds may be added).
// Portable: the store does the I/O (folder in Node, anything else elsewhere).
import { labelBatches, type TokenBatch } from '../data/batch.ts';
import type { TrainingExample } from '../data/tokenize.ts';
import { evaluateTask } from '../eval/metrics.ts';
import { evaluateLoss } from '../train/step.ts';
import { finetune } from '../train/finetune.ts';
import type { MetricRecord, TrainArgs } from '../train/trainer.ts';
import { xtfOptions } from '../xtf/options.ts';
import { onlineSlmSelector } from '../xtf/slm-online.ts';
import { onlineXtfSelector } from '../xtf/xtf-online.ts';
import type { ExperimentContext, ExperimentData, ExperimentEvent, ExperimentStore } from './context.ts';
import { contextLength } from '../model/config.ts';
import { differingFields, fixedSettings, runKey, runKeys, type ExperimentConfig } from './config.ts';
import { maskQuality, ONLINE_FILTERS, randomMask, type FilterName, type Mask, type MaskQuality } from './filters.ts';
import { onlineXtfScored, prepare, type Prepared } from './prepare.ts';
import { experimentHtml, experimentMarkdown, type ExperimentSummary } from './report.ts';
import type { RunResult } from './results.ts';

/** A store that holds files from another experiment (different fixed settings). */
export class ExperimentMismatchError extends Error {
  constructor(readonly fields: string[]) {
    super(`the output folder holds an experiment with other settings (${fields.join(', ')} differ): resume it with the same settings, or use another --out`);
    this.name = 'ExperimentMismatchError';
  }
}

const unbits = (s: string): number[] => Array.from(s, (c) => (c === '1' ? 1 : 0));
const json = (x: unknown) => JSON.stringify(x, null, 1) + '\n';

export async function runExperiment(config: ExperimentConfig, data: ExperimentData, ctx: ExperimentContext): Promise<ExperimentSummary> {
  const { model, tokenizer, store } = ctx;
  const emit = (e: ExperimentEvent) => ctx.onEvent?.(e);
  if (data.train.length === 0) throw new RangeError('experiment: no training examples');
  if (data.heldOut.length === 0) throw new RangeError('experiment: no held-out examples');

  // 1. The fixed settings and the examples themselves must match a half-finished experiment's.
  const fixed = { ...fixedSettings(config), examples: dataFingerprint(data) };
  const saved = await store.read('experiment.json');
  if (saved !== null) {
    const before = JSON.parse(saved).fixed;
    // Options added since the experiment was saved take their defaults (an older folder still resumes),
    // except the rule set: a folder saved before rule sets existed was scored under the paper's rules, the
    // only ones then, so it resumes as that (the default rules now differ: resuming needs --rules paper).
    if (before?.xtf) before.xtf = JSON.parse(JSON.stringify(xtfOptions({ rules: 'paper', ...before.xtf })));
    const differ = differingFields(before, JSON.parse(JSON.stringify(fixed)));
    if (differ.length > 0) throw new ExperimentMismatchError(differ);
  }
  await store.write('experiment.json', json({ fixed, filters: config.filters, seeds: config.seeds }));

  const maxLen = Math.min(config.xtf.maxSeqLen ?? contextLength(model.config), contextLength(model.config));
  const padId = tokenizer.eosId;
  const { batches: heldOutBatches } = labelBatches(tokenizer, data.heldOut, { maxLength: maxLen, batchSize: config.finetune.batchSize });
  if (heldOutBatches.length === 0) throw new RangeError('experiment: no held-out example has a label token within the context');

  // 2. Scores and masks (once).
  const prepared = await prepare(config, data, ctx, maxLen);
  const normal = prepared.normal.map(unbits);
  const isNoise = prepared.noise?.map((s) => Array.from(s, (c) => c === '1')) ?? null;
  const maskFor = (filter: FilterName, seed: number): Mask => {
    if (filter === 'random') return randomMask(normal, prepared.xtfFraction, seed);
    // Online SLM / XTF start from every label token and choose at each step (the masked share is counted as they train).
    if (ONLINE_FILTERS.includes(filter)) return { maskedFraction: NaN, lossMask: normal };
    const m = prepared.masks[filter];
    if (!m) throw new Error(`no mask for filter '${filter}' (prepare did not build it)`);
    return { maskedFraction: m.maskedFraction, lossMask: m.lossMask.map(unbits) };
  };

  // 3. The base model on the held-out set.
  let base = parseOr<ExperimentSummary['base']>(await store.read('base.json'));
  if (!base) {
    emit({ type: 'phase', text: 'evaluating the base model on the held-out set' });
    const accuracy = await accuracyOf(config, data, ctx, 'base');
    base = { heldOutLoss: await evaluateLoss(model, heldOutBatches), accuracy: accuracy?.accuracy ?? null };
    await store.write('base.json', json(base));
  }

  // 4. The grid.
  const keys = runKeys(config);
  const runs: RunResult[] = [];
  for (const { key } of keys) {
    const r = parseOr<RunResult>(await store.read(`runs/${key}.json`));
    if (r) {
      runs.push(r);
      emit({ type: 'run-skipped', key });
    }
  }
  const summary = (): ExperimentSummary => ({
    config,
    base: base!,
    data: {
      train: data.train.length,
      reference: data.reference.length,
      heldOut: data.heldOut.length,
      labelTokens: normal.reduce((s, row) => s + row.reduce((a, b) => a + b, 0), 0),
      noisyExamples: data.noise?.filter((e) => e.noise.length > 0).length ?? 0,
      noiseTokens: isNoise ? isNoise.reduce((s, row, e) => s + row.filter((x, i) => x && normal[e][i] > 0).length, 0) : 0,
    },
    xtf: prepared.xtf,
    runs: keys.flatMap(({ key }) => runs.filter((r) => runKey(r.filter, r.seed) === key)),
    plannedRuns: keys.length,
    device: ctx.device,
  });
  await writeReports(store, summary());
  // Filters whose masks are bit-identical (e.g. RI + KN when RI flags nothing) give the same run for the
  // same seed: the training is deterministic, so one run serves them all.
  const signature = (filter: FilterName, seed: number) => (filter === 'random' || ONLINE_FILTERS.includes(filter) ? `${filter} ${seed}` : prepared.masks[filter]!.lossMask.join('\n'));
  const bySignature = new Map<string, RunResult>();
  for (const r of runs) bySignature.set(`${r.seed} ${signature(r.filter, r.seed)}`, r);
  let taken = 0, takenSeconds = 0;
  const todo = keys.filter(({ key }) => !runs.some((r) => runKey(r.filter, r.seed) === key));
  for (const [i, { filter, seed, key }] of todo.entries()) {
    const started = performance.now();
    const mask = maskFor(filter, seed);
    const index = runs.length + 1;
    const twin = bySignature.get(`${seed} ${signature(filter, seed)}`);
    let result: RunResult;
    if (twin) {
      result = { ...twin, filter, sameMaskAs: twin.sameMaskAs ?? twin.filter };
    } else {
      const examples: TrainingExample[] = prepared.tokens.map((tokens, e) => ({
        id: prepared.ids[e],
        train: { id: prepared.ids[e], tokens, lossMask: mask.lossMask[e].map((w) => w > 0), truncated: 0 },
        labels: { id: prepared.ids[e], tokens, lossMask: normal[e].map((w) => w > 0), truncated: 0 },
      }));
      const online = filter === 'slm-online' ? onlineSlm(prepared, config) : filter === 'xtf-online' ? onlineXtf(prepared, config) : undefined;
      result = await trainAndEvaluate(config, data, ctx, { filter, seed, key, index, runs: keys.length }, examples, heldOutBatches, base.heldOutLoss, padId, online?.selectTokens);
      if (online) {
        Object.assign(result, online.counted(isNoise));
      } else {
        result.maskedFraction = mask.maskedFraction;
        result.quality = isNoise ? maskQuality(mask, normal, isNoise) : null;
      }
      bySignature.set(`${seed} ${signature(filter, seed)}`, result);
      taken++;
      takenSeconds += (performance.now() - started) / 1000;
    }
    await store.write(`runs/${key}.json`, json(result));
    runs.push(result);
    await writeReports(store, summary());
    // Only runs that will train count towards the ETA (a later twin of a run shares it).
    const ahead = new Set(todo.slice(i + 1).map((k) => `${k.seed} ${signature(k.filter, k.seed)}`));
    const left = [...ahead].filter((sig) => !bySignature.has(sig)).length;
    emit({ type: 'run-done', result, index, runs: keys.length, remainingSeconds: taken > 0 ? (takenSeconds / taken) * left : 0 });
  }
  return summary();
}

/** Sizes and an FNV-1a hash of every record (text, masks, ids): a different dataset under the same name is caught. */
export function dataFingerprint(data: ExperimentData): string {
  let h = 0x811c9dc5;
  const add = (text: string) => {
    for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  };
  for (const set of [data.train, data.reference, data.heldOut]) {
    for (const r of set) {
      add(JSON.stringify(r));
      add('\u0001');
    }
    add('\u0002');
  }
  add(JSON.stringify(data.noise));
  return `${data.train.length} train, ${data.reference.length} reference, ${data.heldOut.length} held-out, fnv1a ${h.toString(16).padStart(8, '0')}`;
}

/** The online SLM selector over the prepared examples, counting per token how often a step saw it and left it out. */
function onlineSlm(prepared: Prepared, config: ExperimentConfig) {
  if (!prepared.referenceLoss) throw new Error("filter 'slm-online' needs the reference model's token losses (prepare did not compute them)");
  const referenceLoss = new Map(prepared.ids.map((id, e) => [id, prepared.referenceLoss![e]]));
  const counter = onlineCounter(prepared);
  const selectTokens = onlineSlmSelector({ referenceLoss, keepFraction: config.baselines.slm.keepFraction, onToken: counter.onToken });
  return { selectTokens, counted: counter.counted };
}

/** The online XTF selector (../xtf/xtf-online.ts) over the prepared examples: the experiment's rules and
 *  caps, all three attributes (as the 'xtf' filter), RI / TR fixed at the experiment's scoring, KN anew
 *  at every step; counted as online SLM is. */
function onlineXtf(prepared: Prepared, config: ExperimentConfig) {
  const counter = onlineCounter(prepared);
  const xtf = xtfOptions({ ...config.xtf, attributes: { ri: true, kn: true, tr: true } });
  const selectTokens = onlineXtfSelector({ scored: onlineXtfScored(prepared), xtf, onToken: (id, position, kept) => counter.onToken(id, position, kept) });
  return { selectTokens, counted: counter.counted };
}

/** Counts per token how often a step saw it and left it out. */
function onlineCounter(prepared: Prepared) {
  const index = new Map(prepared.ids.map((id, e) => [id, e]));
  const seen = prepared.tokens.map((t) => new Uint32Array(t.length)), masked = prepared.tokens.map((t) => new Uint32Array(t.length));
  const onToken = (id: string, position: number, kept: boolean) => {
    const e = index.get(id)!;
    seen[e][position]++;
    if (!kept) masked[e][position]++;
  };
  /** Every label token counts once per step that saw it: the share left out, and (with known noise) how
   *  much of the noise and of the clean tokens that was. */
  const counted = (isNoise: boolean[][] | null): { maskedFraction: number; quality: MaskQuality | null } => {
    let noise = 0, noiseMasked = 0, clean = 0, cleanMasked = 0;
    seen.forEach((row, e) => row.forEach((n, i) => {
      if (isNoise?.[e][i]) { noise += n; noiseMasked += masked[e][i]; } else { clean += n; cleanMasked += masked[e][i]; }
    }));
    const maskedFraction = (noiseMasked + cleanMasked) / Math.max(1, noise + clean);
    return { maskedFraction, quality: isNoise ? { noiseRecall: noise > 0 ? noiseMasked / noise : 0, cleanMasked: clean > 0 ? cleanMasked / clean : 0 } : null };
  };
  return { onToken, counted };
}

function parseOr<T>(text: string | null): T | null {
  return text === null ? null : (JSON.parse(text) as T);
}

async function writeReports(store: ExperimentStore, s: ExperimentSummary): Promise<void> {
  await store.write('results.json', json(s));
  await store.write('results.md', experimentMarkdown(s));
  await store.write('index.html', experimentHtml(s));
}

interface RunId { filter: FilterName; seed: number; key: string; index: number; runs: number }

async function trainAndEvaluate(
  config: ExperimentConfig,
  data: ExperimentData,
  ctx: ExperimentContext,
  run: RunId,
  examples: TrainingExample[],
  heldOutBatches: TokenBatch[],
  heldOutBefore: number,
  padId: number,
  selectTokens?: TrainArgs['selectTokens'],
): Promise<RunResult> {
  const { model } = ctx;
  const emit = (e: ExperimentEvent) => ctx.onEvent?.(e);
  const metrics: MetricRecord[] = [];
  try {
    const started = performance.now();
    // The one recipe with this run's seed: the same adapter initialisation, split and data order for every filter.
    const result = await finetune({
      model,
      config: { ...config.finetune, seed: run.seed },
      examples,
      padId,
      // The held-out set is reported: drawn at each validation, never choosing weights (validation does).
      reportBatches: heldOutBatches,
      onProgress: (p) => emit({ type: 'train-progress', run: run.key, index: run.index, runs: run.runs, step: p.step, totalSteps: p.totalSteps, loss: p.loss, tokensPerSecond: p.tokensPerSecond, etaSeconds: p.etaMs / 1000 }),
      onMetrics: (r) => metrics.push(r),
      selectTokens,
    });
    const seconds = (performance.now() - started) / 1000;
    const heldOutLoss = await evaluateLoss(model, heldOutBatches);
    const accuracy = await accuracyOf(config, data, ctx, run.key);
    await ctx.store.saveAdapter?.(`adapters/${run.key}`, model);
    const trainRecords = metrics.filter((r) => r.type === 'train');
    const curve: [number, number][] = [[0, heldOutBefore], ...metrics.flatMap((r): [number, number][] => (r.type === 'eval' && r.reportLoss !== undefined && r.step < result.steps ? [[r.step, r.reportLoss]] : []))];
    curve.push([result.steps, heldOutLoss]);
    return {
      filter: run.filter,
      seed: run.seed,
      heldOutLoss,
      heldOutBefore,
      accuracy: accuracy?.accuracy ?? null,
      correct: accuracy?.correct ?? 0,
      total: accuracy?.total ?? 0,
      maskedFraction: NaN,
      // What the trainer counted (online selection trains fewer than the mask allows).
      trainedTokens: trainRecords.at(-1)?.trainedTokens ?? result.tokensPerEpoch * result.epoch,
      steps: result.steps,
      bestStep: result.best?.step ?? null,
      seconds,
      tokensPerSecond: trainRecords.at(-1)?.tokensPerSecond ?? 0,
      trainCurve: trainRecords.map((r) => [r.step, r.loss]),
      heldOutCurve: curve,
      quality: null,
      samples: (accuracy?.perExample ?? []).slice(0, 3).map((x) => ({ id: x.id, target: x.target, predicted: x.predicted, output: x.output })),
    };
  } finally {
    model.removeLora();
  }
}

async function accuracyOf(config: ExperimentConfig, data: ExperimentData, ctx: ExperimentContext, run: string) {
  if (config.task === null || config.accuracyExamples === 0 || data.heldOutTasks.length === 0) return null;
  const examples = data.heldOutTasks.slice(0, config.accuracyExamples);
  return evaluateTask(ctx.model, ctx.tokenizer, examples, {
    task: config.task,
    maxNewTokens: Math.min(config.maxNewTokens, contextLength(ctx.model.config) - 1),
    onProgress: (done, total) => ctx.onEvent?.({ type: 'eval-progress', run, done, total }),
  });
}

