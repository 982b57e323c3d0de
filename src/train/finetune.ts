// THE fine-tuning recipe. Every fine-tune of the project — `xtf train`, `xtf experiment` (and `npm start`,
// which is the experiment with two filters), the reference model of SLM / Token Cleaning, the browser demo
// — goes through finetune() with a FinetuneConfig, so a comparison differs only in what it means to
// compare (the loss mask), never in a default that one caller spelled differently.
//
// Model selection is clean: the examples given are split (seeded by id) into training and validation;
// validation measures every label token (the tokens a run is judged by, whatever the filter kept) and
// alone picks the best checkpoint and stops early. A set that is reported (held out by the caller) may
// be drawn as a curve (`reportBatches`) but never chooses anything.
import { batchOf, makeBatches, type TokenBatch } from '../data/batch.ts';
import { splitTrainValidation } from '../data/tasks.ts';
import { firstInLoss, inLoss, type TrainingExample } from '../data/tokenize.ts';
import type { LlamaModel } from '../model/llama.ts';
import { LORA_DEFAULTS, validateLoraConfig, type LoraConfig } from '../model/lora.ts';
import { checkMemoryPlan, memoryReport } from '../model/memory.ts';
import type { CheckpointStorage } from './checkpoint.ts';
import { shuffledSteps, train, TRAIN_DEFAULTS, type TrainArgs, type TrainOptions, type TrainResult } from './trainer.ts';

type RecipeOptions = 'steps' | 'epochs' | 'lr' | 'schedule' | 'warmupSteps' | 'minLrRatio' | 'maxGradNorm' | 'weightDecay' | 'seed' | 'evalEvery' | 'patience' | 'restoreBest';

export interface FinetuneConfig extends Pick<TrainOptions, RecipeOptions> {
  /** LoRA adapters on the frozen model, or every weight. */
  method: 'lora' | 'full';
  lora: LoraConfig;
  /** Examples per micro-batch. */
  batchSize: number;
  /** Micro-batches per optimiser step. */
  gradientAccumulation: number;
  /** Share of the examples held out (seeded by id) for validation: best checkpoint and early stopping. */
  validationFraction: number;
}

/** The one set of defaults (LoRA r 8 / alpha 16 on every projection, AdamW, cosine, lr 2e-4 as PEFT and TRL use). */
export const FINETUNE_DEFAULTS: FinetuneConfig = {
  method: 'lora',
  lora: LORA_DEFAULTS,
  steps: undefined,
  epochs: undefined,
  lr: TRAIN_DEFAULTS.lr,
  schedule: TRAIN_DEFAULTS.schedule,
  warmupSteps: TRAIN_DEFAULTS.warmupSteps,
  minLrRatio: TRAIN_DEFAULTS.minLrRatio,
  maxGradNorm: TRAIN_DEFAULTS.maxGradNorm,
  weightDecay: TRAIN_DEFAULTS.weightDecay,
  seed: TRAIN_DEFAULTS.seed,
  evalEvery: TRAIN_DEFAULTS.evalEvery,
  patience: TRAIN_DEFAULTS.patience,
  restoreBest: TRAIN_DEFAULTS.restoreBest,
  batchSize: 8,
  gradientAccumulation: 1,
  validationFraction: 0.1,
};

export type FinetuneOverrides = Partial<Omit<FinetuneConfig, 'lora'>> & { lora?: Partial<LoraConfig> };

/** A recipe: `base` (the defaults, or a preset) with some overrides; undefined overrides are ignored and
 *  lora merges field by field. Checked. */
export function finetuneConfig(overrides: FinetuneOverrides = {}, base: FinetuneConfig = FINETUNE_DEFAULTS): FinetuneConfig {
  const given = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) as Partial<FinetuneConfig>;
  const lora = Object.fromEntries(Object.entries(overrides.lora ?? {}).filter(([, v]) => v !== undefined));
  return checkFinetuneConfig({ ...base, ...given, lora: { ...base.lora, ...lora } });
}

/** Checks what the trainer does not: throws a RangeError naming the field. */
export function checkFinetuneConfig(c: FinetuneConfig): FinetuneConfig {
  const bad = (field: string, value: unknown, rule: string): never => {
    throw new RangeError(`fine-tune option ${field} must be ${rule}, got ${JSON.stringify(value)}`);
  };
  if (c.method !== 'lora' && c.method !== 'full') bad('method', c.method, "'lora' or 'full'");
  if (c.schedule !== 'cosine' && c.schedule !== 'constant') bad('schedule', c.schedule, "'cosine' or 'constant'");
  for (const [field, v] of [['steps', c.steps], ['epochs', c.epochs]] as const) if (v !== undefined && !(Number.isInteger(v) && v >= 1)) bad(field, v, 'a whole number >= 1');
  if (!(Number.isInteger(c.warmupSteps) && c.warmupSteps >= 0)) bad('warmupSteps', c.warmupSteps, 'a whole number >= 0');
  if (!(c.maxGradNorm > 0)) bad('maxGradNorm', c.maxGradNorm, '> 0');
  if (!(c.weightDecay >= 0)) bad('weightDecay', c.weightDecay, '>= 0');
  if (!(Number.isInteger(c.batchSize) && c.batchSize >= 1)) bad('batchSize', c.batchSize, 'a whole number >= 1');
  if (!(Number.isInteger(c.gradientAccumulation) && c.gradientAccumulation >= 1)) bad('gradientAccumulation', c.gradientAccumulation, 'a whole number >= 1');
  if (!(c.lr > 0 && Number.isFinite(c.lr))) bad('lr', c.lr, 'a finite number > 0');
  if (!(c.validationFraction >= 0 && c.validationFraction < 1)) bad('validationFraction', c.validationFraction, 'in [0, 1)');
  if (c.method === 'lora') validateLoraConfig(c.lora);
  return c;
}

export interface FinetuneArgs {
  model: LlamaModel;
  config: FinetuneConfig;
  /** Every example with the mask it trains on (`train`) and all its label tokens (`labels`, for validation). */
  examples: readonly TrainingExample[];
  /** Padding id of the batches (never trained): the tokenizer's EOS. */
  padId: number;
  /** A set that is reported: its loss is drawn at each validation, never used to choose. */
  reportBatches?: TokenBatch[];
  storage?: CheckpointStorage;
  checkpointName?: string;
  checkpointEvery?: number;
  resume?: boolean;
  signal?: AbortSignal;
  onProgress?: TrainArgs['onProgress'];
  onMetrics?: TrainArgs['onMetrics'];
  selectTokens?: TrainArgs['selectTokens'];
  /** Extra trainer options that are not part of the recipe (logging, resume mechanics). */
  loop?: Pick<Partial<TrainOptions>, 'logEvery' | 'minDelta'>;
  /** What else determines the run (e.g. the filter that chose the mask), checked on resume with the recipe and the data. */
  identity?: Record<string, string>;
  onStart?: TrainArgs['onStart'];
}

export interface FinetuneResult extends TrainResult {
  /** Ids of the examples trained on and of those that validated. */
  trainIds: string[];
  validationIds: string[];
  /** Label tokens in the loss per epoch (what the mask keeps). */
  tokensPerEpoch: number;
}

/** Splits the examples, attaches fresh adapters (seeded: the same initialisation for every run of a seed)
 *  or prepares full fine-tuning, checks the memory plan, then trains. The adapters stay attached: the
 *  caller evaluates, exports and removes them. */
export async function finetune(args: FinetuneArgs): Promise<FinetuneResult> {
  const { model, padId } = args;
  const c = checkFinetuneConfig(args.config);
  // An example with no label token a target can reach (e.g. an empty answer) can neither train nor validate.
  const usable = args.examples.filter((e) => firstInLoss(e.labels.lossMask) >= 0);
  if (usable.length === 0) throw new RangeError(`none of the ${args.examples.length} examples has a label token to train on`);
  const { train: trainItems, validation } = splitForValidation(usable, c);
  if (trainItems.length === 0) throw new RangeError(`no training examples left after holding out ${validation.length} for validation (validationFraction ${c.validationFraction})`);
  const trainRecords = trainItems.map((t) => t.train);
  // Refuse a plan the device cannot hold before anything big is allocated.
  const longest = Math.max(...usable.map((t) => t.train.tokens.length));
  const plan = { batch: c.batchSize, seqLen: longest, mode: c.method };
  checkMemoryPlan(model.rt, memoryReport(model.config, plan, c.method === 'lora' ? c.lora : null, model.baseDtypes()), plan);
  if (c.method === 'lora') model.addLora(c.lora, c.seed);
  else model.dropoutSeed = c.seed;
  const validationBatches = makeBatches(validation.map((v) => v.labels), { batchSize: c.batchSize, padId });
  const options: Partial<TrainOptions> = {
    steps: c.steps, epochs: c.epochs, lr: c.lr, schedule: c.schedule, warmupSteps: c.warmupSteps, minLrRatio: c.minLrRatio,
    maxGradNorm: c.maxGradNorm, weightDecay: c.weightDecay, seed: c.seed, evalEvery: c.evalEvery, patience: c.patience,
    restoreBest: c.restoreBest, checkpointEvery: args.checkpointEvery ?? 0, ...args.loop,
  };
  const result = await train({
    model,
    set: c.method,
    trainBatches: (_epoch, random) => shuffledSteps(trainRecords, random, { microBatchSize: c.batchSize, gradientAccumulation: c.gradientAccumulation, keepLast: true }, (rs) => batchOf(rs, padId)),
    validationBatches,
    reportBatches: args.reportBatches,
    options,
    storage: args.storage,
    checkpointName: args.checkpointName,
    resume: args.resume,
    signal: args.signal,
    onProgress: args.onProgress,
    onMetrics: args.onMetrics,
    selectTokens: args.selectTokens,
    // A resume continues only the very same run: every recipe setting but the budget, and the data as tokenized and masked.
    identity: { ...recipeIdentity(c), data: examplesFingerprint(usable), ...args.identity },
    onStart: args.onStart,
  });
  return {
    ...result,
    trainIds: trainItems.map((t) => t.id),
    validationIds: validation.map((v) => v.id),
    tokensPerEpoch: trainRecords.reduce((s, r) => s + r.lossMask.filter((_, i) => inLoss(r.lossMask, i)).length, 0),
  };
}

/** The recipe's split: round(validationFraction · n) examples by a seeded hash of their ids. */
export function splitForValidation<T extends { id: string }>(items: readonly T[], c: Pick<FinetuneConfig, 'validationFraction' | 'seed'>): { train: T[]; validation: T[] } {
  return splitTrainValidation(items, { validationFraction: c.validationFraction, seed: c.seed });
}

/** The recipe's settings that make a run what it is (the step / epoch budget may grow on resume). */
function recipeIdentity(c: FinetuneConfig): Record<string, string> {
  const { steps: _s, epochs: _e, ...rest } = c;
  return Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, JSON.stringify(v)]));
}

/** FNV-1a over every example's id, tokens, trained mask and labels: the data, its token path and its filter. */
export function examplesFingerprint(examples: readonly TrainingExample[]): string {
  let h = 0x811c9dc5;
  const mix = (x: number) => (h = Math.imul(h ^ x, 0x01000193) >>> 0);
  for (const e of examples) {
    for (let i = 0; i < e.id.length; i++) mix(e.id.charCodeAt(i));
    for (const t of e.train.tokens) mix(t);
    for (const m of e.train.lossMask) mix(m ? 1 : 2);
    for (const m of e.labels.lossMask) mix(m ? 3 : 4);
    mix(0xffffffff);
  }
  return `${examples.length} examples, fnv1a ${h.toString(16).padStart(8, '0')}`;
}
