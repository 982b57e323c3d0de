// The baselines XTF is compared against (../../shared/XTF.md, "Baselines"), as pure selection rules over
// per-token scores: each returns a per-token loss mask (1 kept label token, 0 masked or prompt) and one mask.
// Defaults: BASELINE_DEFAULTS in ./options.ts.
//
// Conventions:
// - "Keep k%" keeps floor(k·n + 1e-9) of the n ranked label tokens (Token Cleaning's scripts use
//   int(n · data_prop)); ties at the cut are broken by position (earlier example, then earlier token
//   first), as a stable sort in the authors' scripts would.
// - A label token whose score is null or not finite is not ranked and is kept (never masked); n counts
//   only the ranked tokens.
// - Token Cleaning: Pang et al. define the influence of a token as loss_ref − loss_base (negative = the
//   reference model learned it) and their scripts (generate_token_label.py, reverse_loss = false) keep the
//   tokens with the HIGHEST loss_base − loss_ref, i.e. the most negative influence. That is the default
//   here; `reverse: true` keeps the highest loss_ref − loss_base instead.

import { BASELINE_DEFAULTS, type BaselineOptions } from './options.ts';
import { seededRandom } from '../model/random.ts';
import type { Attribute, ScoredExample } from './types.ts';

export type BaselineMethod = 'stm' | 'slm' | 'token-cleaning' | 'random';

export interface BaselineSelection {
  method: BaselineMethod;
  /** Per example, per token: true when the baseline masks this label token. */
  masked: boolean[][];
  /** Per example, per token: 1 kept label token, 0 masked label token or prompt token. */
  lossMask: number[][];
  labelTokens: number;
  /** Masked label tokens / label tokens. */
  maskedFraction: number;
}

type Scores = (number | null)[];
const finite = (v: number | null | undefined): v is number => typeof v === 'number' && Number.isFinite(v);

/** The project's seeded generator (mulberry32), under the name the baselines use. */
export const mulberry32 = seededRandom;

/** How many of n ranked tokens "keep the top k" keeps. */
export function keepCount(n: number, keepFraction: number): number {
  return Math.min(n, Math.max(0, Math.floor(keepFraction * n + 1e-9)));
}

/** Consecutive batches of example indices: [[0..size-1], [size..2size-1], ...]. */
export function sequentialBatches(examples: number, size: number): number[][] {
  if (!(Number.isInteger(size) && size >= 1)) throw new RangeError(`batch size must be a positive integer, got ${size}`);
  const out: number[][] = [];
  for (let s = 0; s < examples; s += size) out.push(Array.from({ length: Math.min(size, examples - s) }, (_, i) => s + i));
  return out;
}

/** Mask of the `keep` highest scores; ties at the cut go to the earliest positions. */
export function topMask(scores: Float64Array, keep: number): Uint8Array {
  const n = scores.length, kept = new Uint8Array(n);
  if (keep <= 0) return kept;
  if (keep >= n) return kept.fill(1);
  const v = scores.slice().sort()[n - keep]; // the keep-th largest
  let above = 0;
  for (let i = 0; i < n; i++) if (scores[i] > v) above++;
  let ties = keep - above;
  for (let i = 0; i < n; i++) {
    if (scores[i] > v) kept[i] = 1;
    else if (scores[i] === v && ties > 0) { kept[i] = 1; ties--; }
  }
  return kept;
}

function result(method: BaselineMethod, labels: readonly boolean[][], masked: boolean[][]): BaselineSelection {
  let labelTokens = 0, nMasked = 0;
  const lossMask = labels.map((label, e) => label.map((isLabel, i) => {
    if (!isLabel) return 0;
    labelTokens++;
    if (masked[e][i]) { nMasked++; return 0; }
    return 1;
  }));
  return { method, masked, lossMask, labelTokens, maskedFraction: labelTokens ? nMasked / labelTokens : 0 };
}

function checkShape(examples: readonly { label: boolean[] }[], name: string, get: (e: number) => Scores): void {
  examples.forEach((ex, e) => {
    if (get(e).length !== ex.label.length) throw new RangeError(`example ${e}: ${name} has ${get(e).length} entries for ${ex.label.length} tokens`);
  });
}

/** STM: mask label tokens whose base-model perplexity exp(CE), CE = −log p, is above maxPerplexity. */
export function selectStm(examples: readonly { label: boolean[]; p: Scores }[], options: BaselineOptions['stm'] = BASELINE_DEFAULTS.stm): BaselineSelection {
  checkShape(examples, 'p', (e) => examples[e].p);
  const masked = examples.map(({ label, p }) => label.map((isLabel, i) => {
    const v = p[i];
    return isLabel && finite(v) && Math.exp(-Math.log(v)) > options.maxPerplexity;
  }));
  return result('stm', examples.map((x) => x.label), masked);
}

/** Rank label tokens by score within each group of examples and mask all but the top keepFraction. */
function keepTopPerGroup(examples: readonly { label: boolean[] }[], score: (e: number, i: number) => number | null, groups: readonly (readonly number[])[], keepFraction: number): boolean[][] {
  const masked = examples.map((x) => new Array<boolean>(x.label.length).fill(false));
  const seen = new Uint8Array(examples.length);
  for (const group of groups) {
    const where: number[] = [], values: number[] = [];
    for (const e of group) {
      if (!(Number.isInteger(e) && e >= 0 && e < examples.length)) throw new RangeError(`batch index ${e} is not an example index`);
      if (seen[e]++) throw new RangeError(`example ${e} is in more than one batch`);
      const { label } = examples[e];
      for (let i = 0; i < label.length; i++) {
        const v = label[i] ? score(e, i) : null;
        if (finite(v)) { where.push(e, i); values.push(v); }
      }
    }
    const kept = topMask(Float64Array.from(values), keepCount(values.length, keepFraction));
    for (let k = 0; k < values.length; k++) if (!kept[k]) masked[where[2 * k]][where[2 * k + 1]] = true;
  }
  const missing = seen.indexOf(0);
  if (missing >= 0) throw new RangeError(`example ${missing} is in no batch`);
  return masked;
}

/** SLM / Rho-1: excess loss = lossCurrent − lossRef per label token; keep the top keepFraction per batch.
 *  batches: groups of example indices covering every example once (default: one batch of all examples;
 *  sequentialBatches builds consecutive ones). */
export function selectSlm(
  examples: readonly { label: boolean[]; lossCurrent: Scores; lossRef: Scores }[],
  batches?: readonly (readonly number[])[],
  options: BaselineOptions['slm'] = BASELINE_DEFAULTS.slm,
): BaselineSelection {
  checkShape(examples, 'lossCurrent', (e) => examples[e].lossCurrent);
  checkShape(examples, 'lossRef', (e) => examples[e].lossRef);
  const groups = batches ?? [examples.map((_, e) => e)];
  const masked = keepTopPerGroup(examples, (e, i) => {
    const a = examples[e].lossCurrent[i], b = examples[e].lossRef[i];
    return finite(a) && finite(b) ? a - b : null;
  }, groups, options.keepFraction);
  return result('slm', examples.map((x) => x.label), masked);
}

/** Token Cleaning: rank all label tokens of the dataset by loss_base − loss_ref (reverse: the opposite)
 *  and keep the top keepFraction. */
export function selectTokenCleaning(
  examples: readonly { label: boolean[]; lossBase: Scores; lossRef: Scores }[],
  options: BaselineOptions['tokenCleaning'] = BASELINE_DEFAULTS.tokenCleaning,
): BaselineSelection {
  checkShape(examples, 'lossBase', (e) => examples[e].lossBase);
  checkShape(examples, 'lossRef', (e) => examples[e].lossRef);
  const sign = options.reverse ? -1 : 1;
  const masked = keepTopPerGroup(examples, (e, i) => {
    const base = examples[e].lossBase[i], ref = examples[e].lossRef[i];
    return finite(base) && finite(ref) ? sign * (base - ref) : null;
  }, [examples.map((_, e) => e)], options.keepFraction);
  return result('token-cleaning', examples.map((x) => x.label), masked);
}

/** Random control: mask round(fraction · label tokens) label tokens chosen uniformly without replacement
 *  (partial Fisher–Yates driven by mulberry32(seed)); the same seed gives the same mask. */
export function selectRandom(
  examples: readonly { label: boolean[] }[],
  fraction: number,
  options: BaselineOptions['random'] = BASELINE_DEFAULTS.random,
): BaselineSelection {
  if (!(fraction >= 0 && fraction <= 1)) throw new RangeError(`fraction must be in [0, 1], got ${fraction}`);
  let n = 0;
  for (const { label } of examples) for (const l of label) if (l) n++;
  const where = new Uint32Array(2 * n);
  let k = 0;
  examples.forEach(({ label }, e) => label.forEach((l, i) => { if (l) { where[2 * k] = e; where[2 * k + 1] = i; k++; } }));
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const m = Math.round(fraction * n), rand = mulberry32(options.seed);
  for (let i = 0; i < m; i++) {
    const j = i + Math.floor(rand() * (n - i));
    const t = order[i]; order[i] = order[j]; order[j] = t;
  }
  const masked = examples.map((x) => new Array<boolean>(x.label.length).fill(false));
  for (let i = 0; i < m; i++) masked[where[2 * order[i]]][where[2 * order[i] + 1]] = true;
  return result('random', examples.map((x) => x.label), masked);
}

/** New ScoredExamples carrying a baseline's loss mask (no XTF flags: a baseline's reason is its method). */
export function applyBaseline(scored: readonly ScoredExample[], selection: BaselineSelection): ScoredExample[] {
  return scored.map((ex, e) => ({ ...ex, flags: ex.label.map((): Attribute[] => []), lossMask: selection.lossMask[e] }));
}
