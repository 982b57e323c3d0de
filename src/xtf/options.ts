// Every XTF option with its default, in one place (../shared/XTF.md): the CLI, the library and the
// demo all read these.
import { RELEASED_DEFAULTS } from './released.ts';
import type { XtfRules } from './types.ts';

export type { XtfRules } from './types.ts';
/** The rule sets: 'released' (the authors' published code, ./released.ts) and 'paper' (the paper's text, ./select.ts). */
export const XTF_RULES: readonly XtfRules[] = ['released', 'paper'];

export type LayerSelection = 'all' | 'last' | number[];

export interface ReasoningImportanceOptions {
  /** Which layers' attention counts (default all). */
  layers: LayerSelection;
  /** How heads are combined (default mean). */
  headReduction: 'mean' | 'max';
  /** Which query positions count: every later position, or later label (output) positions only. */
  queries: 'all' | 'output';
  /** Tukey fence constant: noisy when S_RI < Q1 − r·(Q3 − Q1), per example (default 1.0). */
  fenceR: number;
}

export interface KnowledgeNoveltyOptions {
  /** Noisy when S_KN = 1 − p(token) is below this, i.e. p > 1 − threshold (default 0.05). */
  threshold: number;
}

export interface TaskRelevanceOptions {
  /** Distance between a token's embedding and the domain vector (default cosine). */
  distance: 'cosine' | 'euclidean';
  /** Multi-Otsu classes over S_TR (default 3): the lowest class is skipped, the second-lowest is noisy. */
  classes: number;
  /** Histogram bins for Multi-Otsu. */
  bins: number;
  /** Domain vector from these words instead of every label token occurrence. */
  expertWords: string[] | null;
}

/** Per-answer caps of the released rules: the largest share of an answer's tokens each rule may mask. */
export interface XtfCaps {
  ri: number;
  kn: number;
  tr: number;
}

export interface XtfOptions {
  /** Which rule set selects the noisy tokens: 'released' (the authors' code: per-answer caps, TR from last
   *  hidden states and domain words) or 'paper' (the paper's text). Under 'released', ri.layers /
   *  headReduction / queries still shape the RI score; ri.fenceR, kn, tr and tr.expertWords are the
   *  paper's and are not used. */
  rules: XtfRules;
  /** Released rules: per-answer caps (the authors' documented command: 0.05, 0.10, 0.05). */
  caps: XtfCaps;
  /** Released rules: the TR domain words; null = the task's default list where the caller knows the task
   *  (ScoreOptions.task), else the label-mean fallback (named in the summary). */
  domainWords: string[] | null;
  ri: ReasoningImportanceOptions;
  kn: KnowledgeNoveltyOptions;
  tr: TaskRelevanceOptions;
  /** Which attributes take part in the union (ablations switch some off). */
  attributes: { ri: boolean; kn: boolean; tr: boolean };
  /** Examples per scoring batch (memory is bounded by batch x sequence length). */
  batchSize: number;
  /** Longest example in tokens; longer ones are truncated (and counted). Default: the model's context. */
  maxSeqLen: number | null;
}

export const XTF_DEFAULTS: XtfOptions = {
  // 'released': what the authors' code ran to produce the paper's tables (./released.ts); 'paper' (the
  // text's rules, ./select.ts) stays one option away.
  rules: 'released',
  caps: { ri: RELEASED_DEFAULTS.riMax, kn: RELEASED_DEFAULTS.knMax, tr: RELEASED_DEFAULTS.trMax },
  domainWords: null,
  ri: { layers: 'all', headReduction: 'mean', queries: 'all', fenceR: 1.0 },
  kn: { threshold: 0.05 },
  tr: { distance: 'cosine', classes: 3, bins: 256, expertWords: null },
  attributes: { ri: true, kn: true, tr: true },
  batchSize: 8,
  maxSeqLen: null,
};

/** Deep-merge user options over the defaults, checking every value. */
export function xtfOptions(partial: DeepPartial<XtfOptions> = {}): XtfOptions {
  const o: XtfOptions = {
    rules: partial.rules ?? XTF_DEFAULTS.rules,
    caps: { ...XTF_DEFAULTS.caps, ...defined(partial.caps) },
    domainWords: partial.domainWords === undefined ? XTF_DEFAULTS.domainWords : Array.isArray(partial.domainWords) ? [...partial.domainWords] : partial.domainWords,
    ri: { ...XTF_DEFAULTS.ri, ...defined(partial.ri) } as ReasoningImportanceOptions,
    kn: { ...XTF_DEFAULTS.kn, ...defined(partial.kn) },
    tr: { ...XTF_DEFAULTS.tr, ...defined(partial.tr) } as TaskRelevanceOptions,
    attributes: { ...XTF_DEFAULTS.attributes, ...defined(partial.attributes) },
    batchSize: partial.batchSize ?? XTF_DEFAULTS.batchSize,
    maxSeqLen: partial.maxSeqLen ?? XTF_DEFAULTS.maxSeqLen,
  };
  const bad = (field: string, value: unknown, rule: string): never => {
    throw new RangeError(`XTF option ${field} must be ${rule}, got ${JSON.stringify(value)}`);
  };
  if (!XTF_RULES.includes(o.rules)) bad('rules', o.rules, XTF_RULES.map((r) => `'${r}'`).join(' or '));
  for (const a of ['ri', 'kn', 'tr'] as const) {
    const c = o.caps[a];
    if (!(typeof c === 'number' && c >= 0 && c <= 1)) bad(`caps.${a}`, c, 'a share in [0, 1]');
  }
  if (o.domainWords !== null && !(Array.isArray(o.domainWords) && o.domainWords.length > 0 && o.domainWords.every((w) => typeof w === 'string'))) {
    bad('domainWords', o.domainWords, 'null or a non-empty list of words');
  }
  if (!(o.ri.fenceR >= 0)) bad('ri.fenceR', o.ri.fenceR, '>= 0');
  if (!['mean', 'max'].includes(o.ri.headReduction)) bad('ri.headReduction', o.ri.headReduction, "'mean' or 'max'");
  if (!['all', 'output'].includes(o.ri.queries)) bad('ri.queries', o.ri.queries, "'all' or 'output'");
  if (!(o.ri.layers === 'all' || o.ri.layers === 'last' || (Array.isArray(o.ri.layers) && o.ri.layers.every((l) => Number.isInteger(l) && l >= 0)))) {
    bad('ri.layers', o.ri.layers, "'all', 'last' or a list of layer indices");
  }
  if (!(o.kn.threshold > 0 && o.kn.threshold < 1)) bad('kn.threshold', o.kn.threshold, 'in (0, 1)');
  if (!['cosine', 'euclidean'].includes(o.tr.distance)) bad('tr.distance', o.tr.distance, "'cosine' or 'euclidean'");
  if (!(Number.isInteger(o.tr.classes) && o.tr.classes >= 2 && o.tr.classes <= 5)) bad('tr.classes', o.tr.classes, 'an integer from 2 to 5');
  if (!(Number.isInteger(o.tr.bins) && o.tr.bins >= 16 && o.tr.bins <= 4096)) bad('tr.bins', o.tr.bins, 'an integer from 16 to 4096');
  if (!(Number.isInteger(o.batchSize) && o.batchSize >= 1)) bad('batchSize', o.batchSize, 'a positive integer');
  if (o.maxSeqLen !== null && !(Number.isInteger(o.maxSeqLen) && o.maxSeqLen >= 2)) bad('maxSeqLen', o.maxSeqLen, 'an integer >= 2 or null');
  return o;
}

/** The object without its undefined fields, so that absent options keep their defaults. */
function defined<T extends object>(o: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? (T[K] extends unknown[] ? T[K] : DeepPartial<T[K]>) : T[K] };

// Baselines the paper compares against (XTF.md, "Baselines"); each produces the same per-token mask.
export interface BaselineOptions {
  /** STM (arXiv 2501.14315): mask label tokens whose base-model perplexity exp(CE), CE = −log p, exceeds this. */
  stm: { maxPerplexity: number };
  /** SLM / Rho-1: keep this fraction of label tokens per batch, those with the highest excess loss
   *  (loss under the current model − loss under the reference model). */
  slm: { keepFraction: number };
  /** Token Cleaning: keep this fraction of all label tokens, ranked over the whole dataset by
   *  loss_base − loss_ref (the authors' scripts: data_prop = 0.6, reverse_loss = false); reverse ranks by
   *  loss_ref − loss_base instead. */
  tokenCleaning: { keepFraction: number; reverse: boolean };
  /** Random control: mask a given fraction of label tokens, chosen by a PRNG with this seed. */
  random: { seed: number };
}

export const BASELINE_DEFAULTS: BaselineOptions = {
  stm: { maxPerplexity: 2.5 },
  slm: { keepFraction: 0.6 },
  tokenCleaning: { keepFraction: 0.6, reverse: false },
  random: { seed: 0 },
};

/** Deep-merge baseline options over BASELINE_DEFAULTS, checking every value. */
export function baselineOptions(partial: DeepPartial<BaselineOptions> = {}): BaselineOptions {
  const o: BaselineOptions = {
    stm: { ...BASELINE_DEFAULTS.stm, ...defined(partial.stm) },
    slm: { ...BASELINE_DEFAULTS.slm, ...defined(partial.slm) },
    tokenCleaning: { ...BASELINE_DEFAULTS.tokenCleaning, ...defined(partial.tokenCleaning) },
    random: { ...BASELINE_DEFAULTS.random, ...defined(partial.random) },
  };
  const bad = (field: string, value: unknown, rule: string): never => {
    throw new RangeError(`baseline option ${field} must be ${rule}, got ${JSON.stringify(value)}`);
  };
  if (!(o.stm.maxPerplexity >= 1)) bad('stm.maxPerplexity', o.stm.maxPerplexity, '>= 1');
  if (!(o.slm.keepFraction >= 0 && o.slm.keepFraction <= 1)) bad('slm.keepFraction', o.slm.keepFraction, 'in [0, 1]');
  if (!(o.tokenCleaning.keepFraction >= 0 && o.tokenCleaning.keepFraction <= 1)) bad('tokenCleaning.keepFraction', o.tokenCleaning.keepFraction, 'in [0, 1]');
  if (typeof o.tokenCleaning.reverse !== 'boolean') bad('tokenCleaning.reverse', o.tokenCleaning.reverse, 'a boolean');
  if (!(Number.isInteger(o.random.seed) && o.random.seed >= 0 && o.random.seed < 2 ** 32)) bad('random.seed', o.random.seed, 'an integer in [0, 2^32)');
  return o;
}
