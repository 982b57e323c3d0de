// The flag blocks every command that trains or scores shares: one spelling, one parser, one usage text
// each, so `xtf train`, `xtf score`, `xtf experiment` and `xtf pipeline` cannot drift apart. The model
// block (--model, --tokenizer, --adapter) is in model-args.ts. Every value is checked here, before a
// command reads or writes anything.
import { LORA_TARGETS, type LoraTarget } from '../model/lora.ts';
import { finetuneConfig, type FinetuneConfig } from '../train/finetune.ts';
import type { ScheduleKind } from '../train/schedule.ts';
import { baselineOptions, XTF_DEFAULTS, XTF_RULES, xtfOptions, type BaselineOptions, type XtfOptions } from '../xtf/options.ts';
import { numberFlag } from './flags.ts';

type Values = Record<string, string | boolean | undefined>;
const str = (v: Values, k: string) => (typeof v[k] === 'string' ? (v[k] as string) : undefined);
const num = (v: Values, k: string) => numberFlag(k, v[k]);

function oneOf<T extends string>(v: Values, k: string, allowed: readonly T[]): T | undefined {
  const s = str(v, k);
  if (s !== undefined && !allowed.includes(s as T)) throw new RangeError(`--${k} must be one of ${allowed.join(', ')}, got '${s}'`);
  return s as T | undefined;
}

function wholeNumber(v: Values, k: string, min: number): number | undefined {
  const n = num(v, k);
  if (n !== undefined && !(Number.isInteger(n) && n >= min)) throw new RangeError(`--${k} must be a whole number >= ${min}, got '${v[k]}'`);
  return n;
}

// ---- training ------------------------------------------------------------------------------------------

export const TRAINING_OPTIONS = {
  full: { type: 'boolean' },
  'lora-rank': { type: 'string' },
  'lora-alpha': { type: 'string' },
  'lora-dropout': { type: 'string' },
  targets: { type: 'string' },
  steps: { type: 'string' },
  epochs: { type: 'string' },
  'batch-size': { type: 'string' },
  'grad-accum': { type: 'string' },
  lr: { type: 'string' },
  warmup: { type: 'string' },
  schedule: { type: 'string' },
  'weight-decay': { type: 'string' },
  'max-grad-norm': { type: 'string' },
  'val-fraction': { type: 'string' },
  'eval-every': { type: 'string' },
  patience: { type: 'string' },
  seed: { type: 'string' },
} as const;

/** The training block's usage, with the defaults of the command (`base`: the recipe it starts from). */
export function trainingUsage(base: FinetuneConfig): string {
  return `  --full               full fine-tuning instead of LoRA
  --lora-rank R (${base.lora.rank})  --lora-alpha A (${base.lora.alpha})  --lora-dropout P (${base.lora.dropout})  --targets ${LORA_TARGETS.slice(0, 2).join(',')},... (all)
  --steps N            optimiser steps (${base.steps ?? 'none: by epochs'})   --epochs E (${base.epochs ?? 1})
  --batch-size B (${base.batchSize})   --grad-accum G (${base.gradientAccumulation})
  --lr LR (${base.lr})  --warmup N (${base.warmupSteps})  --schedule cosine|constant (${base.schedule})  --weight-decay W (${base.weightDecay})  --max-grad-norm C (${base.maxGradNorm})
  --val-fraction F     share of the training examples held out for validation, which alone picks the
                       best checkpoint (${base.validationFraction})   --eval-every N (${base.evalEvery || 'at the end'})   --patience N (${base.patience || 'none'})
  --seed S (${base.seed})       adapter initialisation, data order, validation split`;
}

/** The recipe the flags give, over `base` (FINETUNE_DEFAULTS, or a command's preset). */
export function finetuneConfigFromFlags(v: Values, base: FinetuneConfig): FinetuneConfig {
  const targets = str(v, 'targets')?.split(',').map((t) => t.trim()).filter(Boolean);
  const bad = targets?.find((t) => !(LORA_TARGETS as readonly string[]).includes(t));
  if (bad !== undefined) throw new RangeError(`--targets: unknown target '${bad}'; the targets are ${LORA_TARGETS.join(', ')}`);
  const valFraction = num(v, 'val-fraction');
  if (valFraction !== undefined && !(valFraction >= 0 && valFraction < 1)) throw new RangeError(`--val-fraction must be in [0, 1), got '${v['val-fraction']}'`);
  return finetuneConfig({
    method: v.full ? 'full' : undefined,
    lora: { rank: wholeNumber(v, 'lora-rank', 1), alpha: num(v, 'lora-alpha'), dropout: num(v, 'lora-dropout'), targets: targets as LoraTarget[] | undefined },
    steps: wholeNumber(v, 'steps', 1),
    epochs: wholeNumber(v, 'epochs', 1),
    batchSize: wholeNumber(v, 'batch-size', 1),
    gradientAccumulation: wholeNumber(v, 'grad-accum', 1),
    lr: num(v, 'lr'),
    warmupSteps: wholeNumber(v, 'warmup', 0),
    schedule: oneOf<ScheduleKind>(v, 'schedule', ['cosine', 'constant']),
    weightDecay: num(v, 'weight-decay'),
    maxGradNorm: num(v, 'max-grad-norm'),
    validationFraction: valFraction,
    evalEvery: wholeNumber(v, 'eval-every', 0),
    patience: wholeNumber(v, 'patience', 0),
    seed: wholeNumber(v, 'seed', 0),
  }, base);
}

// ---- XTF and the baselines ---------------------------------------------------------------------------------

export const XTF_FLAG_OPTIONS = {
  rules: { type: 'string' },
  'ri-max': { type: 'string' },
  'kn-max': { type: 'string' },
  'tr-max': { type: 'string' },
  'domain-words': { type: 'string' },
  'score-batch': { type: 'string' },
  'max-len': { type: 'string' },
  'ri-layers': { type: 'string' },
  'ri-heads': { type: 'string' },
  'ri-queries': { type: 'string' },
  'ri-r': { type: 'string' },
  'kn-threshold': { type: 'string' },
  'tr-distance': { type: 'string' },
  'tr-classes': { type: 'string' },
  'expert-words': { type: 'string' },
  attributes: { type: 'string' },
  keep: { type: 'string' },
} as const;

export const XTF_USAGE = `  --rules R            released | paper (default ${XTF_DEFAULTS.rules}): XTF as its authors' released code selects
                       (per-answer caps; TR from last hidden states and domain words) or as the paper's text does
  released rules:
  --ri-max S  --kn-max S  --tr-max S   the largest share of each answer a rule may mask, in [0, 1]
                       (defaults ${XTF_DEFAULTS.caps.ri}, ${XTF_DEFAULTS.caps.kn}, ${XTF_DEFAULTS.caps.tr}: the authors' documented command)
  --domain-words W     comma-separated TR domain words, e.g. 1,2,+ (write --domain-words=-,+ when the list starts
                       with -); default: the task's list where the command knows the task, else the label mean
  paper rules: --ri-r, --kn-threshold, --tr-distance, --tr-classes, --expert-words
  --max-len T          tokens per example (default: the model's context; the prompt's start is cut first)
  --score-batch N      examples per scoring batch on the GPU (default 8)
  --ri-layers L        all | last | comma list (default all)     --ri-heads H  mean | max (default mean)
  --ri-queries Q       all | output (default all)                --ri-r R      Tukey fence constant (default 1.0; paper)
  --kn-threshold T     S_KN threshold (default 0.05; paper)
  --tr-distance D      cosine | euclidean (default cosine; paper) --tr-classes K Multi-Otsu classes (default 3; paper)
  --expert-words W     comma-separated domain words for the paper's TR domain vector
  --attributes A       which attributes take part, e.g. ri,kn (default ri,kn,tr)
  --keep K             keep fraction of SLM / Token Cleaning (default 0.6)`;

const ATTRIBUTE_NAMES = ['ri', 'kn', 'tr'] as const;
/** Flags that only one rule set reads: giving one under the other rule set is an error, not a silent no-op. */
const RELEASED_ONLY = ['ri-max', 'kn-max', 'tr-max', 'domain-words'] as const;
const PAPER_ONLY = ['ri-r', 'kn-threshold', 'tr-distance', 'tr-classes', 'expert-words'] as const;

function share(v: Values, k: string): number | undefined {
  const n = num(v, k);
  if (n !== undefined && !(n >= 0 && n <= 1)) throw new RangeError(`--${k} must be a share in [0, 1], got '${v[k]}'`);
  return n;
}

/** A comma-separated word list; an empty one (nothing but commas and spaces) is an error naming the flag. */
function wordList(v: Values, k: string): string[] | undefined {
  const words = str(v, k)?.split(',').map((w) => w.trim()).filter(Boolean);
  if (words && words.length === 0) throw new RangeError(`--${k} is empty: give comma-separated domain words`);
  return words;
}

/** XTF's options from the flags, over `base` (the defaults, or an experiment's saved settings). */
export function xtfOptionsFromFlags(v: Values, base?: XtfOptions): XtfOptions {
  const layers = str(v, 'ri-layers');
  const attrs = str(v, 'attributes')?.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = attrs?.find((a) => !(ATTRIBUTE_NAMES as readonly string[]).includes(a));
  if (attrs && (attrs.length === 0 || unknown !== undefined)) throw new RangeError(`--attributes must list some of ${ATTRIBUTE_NAMES.join(', ')}, got '${v.attributes}'`);
  if (layers !== undefined && layers !== 'all' && layers !== 'last' && !/^\d+(,\d+)*$/.test(layers)) throw new RangeError(`--ri-layers must be all, last or a comma list of layer indices, got '${layers}'`);
  const words = wordList(v, 'expert-words');
  const rules = oneOf(v, 'rules', XTF_RULES) ?? base?.rules ?? XTF_DEFAULTS.rules;
  const domainWords = wordList(v, 'domain-words');
  const caps = { ri: share(v, 'ri-max'), kn: share(v, 'kn-max'), tr: share(v, 'tr-max') };
  const misplaced = (rules === 'paper' ? RELEASED_ONLY : PAPER_ONLY).find((k) => v[k] !== undefined);
  if (misplaced !== undefined) {
    throw new RangeError(`--${misplaced} applies only with --rules ${rules === 'paper' ? 'released' : 'paper'} (the rules in force are ${rules}${v.rules === undefined ? ', the default' : ''})`);
  }
  return xtfOptions({
    ...base,
    rules,
    caps: { ri: caps.ri ?? base?.caps?.ri, kn: caps.kn ?? base?.caps?.kn, tr: caps.tr ?? base?.caps?.tr },
    domainWords: domainWords ?? base?.domainWords,
    batchSize: wholeNumber(v, 'score-batch', 1) ?? base?.batchSize,
    maxSeqLen: wholeNumber(v, 'max-len', 2) ?? base?.maxSeqLen ?? undefined,
    ri: {
      ...base?.ri,
      layers: layers === undefined ? base?.ri.layers : layers === 'all' || layers === 'last' ? layers : layers.split(',').map(Number),
      headReduction: oneOf(v, 'ri-heads', ['mean', 'max'] as const) ?? base?.ri.headReduction,
      queries: oneOf(v, 'ri-queries', ['all', 'output'] as const) ?? base?.ri.queries,
      fenceR: num(v, 'ri-r') ?? base?.ri.fenceR,
    },
    kn: { threshold: num(v, 'kn-threshold') ?? base?.kn.threshold },
    tr: {
      ...base?.tr,
      distance: oneOf(v, 'tr-distance', ['cosine', 'euclidean'] as const) ?? base?.tr.distance,
      classes: num(v, 'tr-classes') ?? base?.tr.classes,
      expertWords: words ?? base?.tr.expertWords,
    },
    attributes: attrs ? { ri: attrs.includes('ri'), kn: attrs.includes('kn'), tr: attrs.includes('tr') } : base?.attributes,
  });
}

/** The baselines' options (SLM / Token Cleaning keep fraction; random seeded by `seed`). */
export function baselineOptionsFromFlags(v: Values, seed: number, base?: BaselineOptions): BaselineOptions {
  const keep = num(v, 'keep');
  return baselineOptions({
    ...base,
    slm: { keepFraction: keep ?? base?.slm.keepFraction },
    tokenCleaning: { ...base?.tokenCleaning, keepFraction: keep ?? base?.tokenCleaning.keepFraction },
    random: { seed },
  });
}
