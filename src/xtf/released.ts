// The "released" selection rules: how the authors' published script (github.com/EonHao/XTF,
// XTF_script.py, MIT) picks noisy tokens, restated here as pure functions (no GPU, no model). The rules
// were read from that script; this file is our own formulation of them, not a port of its code. The
// paper's text (../../shared/XTF.md §1–3, implemented in ./select.ts) differs; each rule says how.
//
// Common to all three rules:
// - They work per ANSWER (one example's label tokens), except task relevance's dataset-level cut.
// - Each is capped per answer by a share (the script's `--percentage_interest`; the README's commands and
//   main.py's default use 0.05, 0.1, 0.05 for RI, KN, TR): a token is only masked when it also lies
//   beyond the answer's sorted score at index floor(n·share) (see floorIndex). The paper has no caps.
// - Tokens whose score is null or not finite are never flagged and do not count in n (the answer's
//   length for percentiles, shares and sorted indices). The script has no missing scores (every token
//   is scored); a NaN there would poison np.percentile (RI then masks the whole answer) and leave
//   sorted() in an undefined order, so there is nothing sensible to match.
// - Comparisons keep their strictness: masked means strictly below (RI, TR) or strictly above (KN) the
//   cuts, so a score equal to a cut is kept. All arithmetic is float64 in the script's order of
//   operations, so the indices and cuts are bit-identical to the script's (the one exception: scikit-image
//   runs its Multi-Otsu search in float32, which can break a near-tie between thresholds differently).
//
// The script's absolute floors (`--value_interest`, default 0 0 0 and never set by main.py) are left out:
// only RI uses its floor (masked when the score < 0), which cannot bind on an attention score (>= 0).

import { multiOtsu, type MultiOtsuConvention } from './multi-otsu.ts';
import { quantileSorted } from './select.ts';
import type { Attribute } from './types.ts';

/** The script's defaults as the documented command runs it. */
export const RELEASED_DEFAULTS = Object.freeze({
  /** Per-answer caps (shares of the answer's tokens): RI, KN, TR. */
  riMax: 0.05,
  knMax: 0.1,
  trMax: 0.05,
  /** RI's fence: Q1 − 1.5·IQR (the paper's text leaves the factor open; the project's default is 1.0). */
  iqrFactor: 1.5,
  /** KN: only tokens the model predicts with p above this can be masked. */
  knFloor: 0.95,
  /** TR: Multi-Otsu classes and histogram bins (skimage.filters.threshold_multiotsu's nbins default). */
  trClasses: 5,
  trBins: 256,
  /** TR: the cumulative-share limit (the script compares with the TR weight, 1.0 in the documented command). */
  shareLimit: 1,
});

const finite = (v: number | null | undefined): v is number => typeof v === 'number' && Number.isFinite(v);

function checkShare(name: string, share: number): void {
  if (!(share >= 0 && share <= 1)) throw new RangeError(`${name} must be a share in [0, 1], got ${share}`);
}

/** The finite scores, ascending. */
function sortedFinite(values: ArrayLike<number | null>): Float64Array {
  const out: number[] = [];
  for (let i = 0; i < values.length; i++) { const v = values[i]; if (finite(v)) out.push(v); }
  return Float64Array.from(out).sort();
}

// ---------------------------------------------------------------------------------------------------
// numpy / Python semantics

/** np.percentile(x, q) of ascending `sorted` values, q in PERCENT (0..100), with numpy's default
 *  'linear' method: h = (n − 1)·q/100, the value between sorted[⌊h⌋] and sorted[⌊h⌋ + 1] at fraction
 *  h − ⌊h⌋ (numpy's two-sided lerp form, so results are bit-identical). NaN for no values (numpy raises). */
export function percentileLinear(sorted: ArrayLike<number>, q: number): number {
  if (!(q >= 0 && q <= 100)) throw new RangeError(`percentile must be in [0, 100], got ${q}`);
  return quantileSorted(sorted, q / 100);
}

/** The script's sorted index: int(n·share), computed as that float64 product and truncated (so
 *  floorIndex(90, 1 − 0.3) is 62, not 63: 90·(1 − 0.3) rounds to 62.99…), then clamped to [0, n − 1].
 *  The clamp only matters at n·share = n (share 1, or KN's 1 − knMax with knMax = 0): the script raises
 *  IndexError there (when the comparison is reached); we use the last element, the maximum. */
export function floorIndex(n: number, share: number): number {
  checkShare('share', share);
  if (!(Number.isInteger(n) && n >= 1)) throw new RangeError(`n must be a positive integer, got ${n}`);
  return Math.min(Math.floor(n * share), n - 1);
}

/** np.sort(values)[floorIndex(n, share)]: the answer's sorted value the script's caps compare with.
 *  `values` need not be sorted (a sorted copy is taken); they should be finite. NaN for no values. */
export function sortedAt(values: ArrayLike<number>, share: number): number {
  checkShare('share', share);
  if (values.length === 0) return NaN;
  const s = Float64Array.from(values).sort();
  return s[floorIndex(s.length, share)];
}

// ---------------------------------------------------------------------------------------------------
// Reasoning importance

export interface ReleasedRi {
  /** Per token: masked by RI. */
  mask: boolean[];
  /** The cut in force: masked when score < cut. null when the answer has no scored token. */
  cut: number | null;
  /** The Tukey fence Q1 − iqrFactor·IQR (null without scored tokens). */
  fence: number | null;
  /** true when more than riMax of the tokens fell below the fence, so the cap replaced it. */
  capped: boolean;
  /** Scored tokens (the n of the percentiles and the index). */
  n: number;
}

/** Released RI rule, per answer. With the answer's scores (n of them, ascending s):
 *  fence = Q1 − 1.5·(Q3 − Q1), quartiles by np.percentile (linear). If the share of scores strictly
 *  below the fence is MORE than riMax (count/n > riMax; exactly riMax keeps the fence), the cut becomes
 *  s[floorIndex(n, riMax)], else it is the fence. Masked: score < cut.
 *  Either way at most floor(n·riMax) tokens are masked: none at all for n < 1/riMax (20 at 0.05, where
 *  a single token below the fence is already more than the cap), n = 1 or all-equal scores (IQR 0,
 *  fence = the value).
 *  Paper's text: fence factor r (project default 1.0), no cap; select.ts also gives answers with fewer
 *  than 4 scored tokens no fence, where this rule (like the script) fences any n >= 1. */
export function releasedRi(scores: ArrayLike<number | null>, riMax: number = RELEASED_DEFAULTS.riMax, iqrFactor: number = RELEASED_DEFAULTS.iqrFactor): ReleasedRi {
  checkShare('riMax', riMax);
  const s = sortedFinite(scores);
  const n = s.length;
  const mask = new Array<boolean>(scores.length).fill(false);
  if (n === 0) return { mask, cut: null, fence: null, capped: false, n };
  const q1 = percentileLinear(s, 25), q3 = percentileLinear(s, 75);
  const iqr = q3 - q1;
  const fence = q1 - iqrFactor * iqr;
  let below = 0;
  for (let i = 0; i < n; i++) if (s[i] < fence) below++;
  const capped = below / n > riMax;
  const cut = capped ? s[floorIndex(n, riMax)] : fence;
  for (let i = 0; i < scores.length; i++) { const v = scores[i]; mask[i] = finite(v) && v < cut; }
  return { mask, cut, fence, capped, n };
}

// ---------------------------------------------------------------------------------------------------
// Knowledge novelty

export interface ReleasedKn {
  /** Per token: masked by KN. */
  mask: boolean[];
  /** The answer's sorted p at index floorIndex(n, 1 − knMax): masked only above it. null without scored tokens. */
  cap: number | null;
  /** The fixed floor (0.95): masked only above it too. */
  floor: number;
  n: number;
}

/** Released KN rule, per answer, on p = the teacher-forced probability of each label token (the
 *  project's S_KN is 1 − p). Masked: p > 0.95 AND p > s[floorIndex(n, 1 − knMax)], s the answer's p
 *  ascending; the index is int(n·(1 − knMax)) with that float64 subtraction first, as the script has it.
 *  Tokens tied with the cap are kept, so at most n − 1 − floorIndex(n, 1 − knMax) are masked: none for
 *  n <= 10 at knMax 0.1 (the index is n − 1, the maximum), one at n = 20 (5%, not 10%); none for n = 1
 *  or all-equal p.
 *  Paper's text: global rule S_KN < 0.05 (p > 0.95) with no per-answer cap. */
export function releasedKn(p: ArrayLike<number | null>, knMax: number = RELEASED_DEFAULTS.knMax, floor: number = RELEASED_DEFAULTS.knFloor): ReleasedKn {
  checkShare('knMax', knMax);
  const s = sortedFinite(p);
  const n = s.length;
  const mask = new Array<boolean>(p.length).fill(false);
  if (n === 0) return { mask, cap: null, floor, n };
  const cap = s[floorIndex(n, 1 - knMax)];
  for (let i = 0; i < p.length; i++) { const v = p[i]; mask[i] = finite(v) && v > floor && v > cap; }
  return { mask, cap, floor, n };
}

// ---------------------------------------------------------------------------------------------------
// Task relevance

/** The script's cumulative-share rule over Multi-Otsu thresholds t_0 < … < t_{m−1} and shares
 *  P_j = share of values >= t_j: walk j = 0, 1, …, summing P_j; at the first i where the running sum is
 *  MORE than `limit` (strict; a sum of exactly 1 does not stop), the cut is t_{i−1} (t_0 when i = 0);
 *  when the sum never exceeds the limit, the cut is the last threshold. `exceededAt` is that i (null
 *  when none). The sum is accumulated left to right in float64, as the script does.
 *  The issue's reading ("> 1") is the script's rule with the limit it uses: the script compares with the
 *  task-relevance WEIGHT (`--score_weights`' third value, 1.0 in the documented command), not with a
 *  literal 1; `limit` stands for it. With limit 1 the i = 0 branch never fires (P_0 <= 1), so the cut is
 *  t_0 (i = 1), t_1, t_2 or t_3 (none); since the shares fall with j, P_0 + P_1 > 1 is usual: t_0. */
export function cumulativeShareCut(thresholds: readonly number[], shares: readonly number[], limit: number = RELEASED_DEFAULTS.shareLimit): { cut: number; exceededAt: number | null } {
  if (thresholds.length === 0 || thresholds.length !== shares.length) {
    throw new RangeError(`need one share per threshold (at least one), got ${thresholds.length} thresholds and ${shares.length} shares`);
  }
  let sum = 0;
  for (let i = 0; i < shares.length; i++) {
    sum += shares[i];
    if (sum > limit) return { cut: thresholds[i > 0 ? i - 1 : 0], exceededAt: i };
  }
  return { cut: thresholds[thresholds.length - 1], exceededAt: null };
}

export interface ReleasedTrCut {
  /** The dataset-level cut (null when the values cannot be split into `classes` classes). */
  cut: number | null;
  /** Multi-Otsu thresholds as scikit-image returns them (bin centres), ascending. */
  thresholds: number[];
  /** Per threshold: the share of the values >= it. */
  shares: number[];
  /** See cumulativeShareCut. */
  exceededAt: number | null;
  /** Values the cut was computed over (finite ones). */
  n: number;
}

export interface ReleasedTrCutOptions {
  classes?: number;
  bins?: number;
  shareLimit?: number;
  /** multi-otsu.ts's convention; 'skimage' (default) reproduces scikit-image's thresholds, whose
   *  moment table the script inherits (up to scikit-image's float32 rounding on near-ties). */
  convention?: MultiOtsuConvention;
}

/** Released TR, dataset level. `similarities`: ONE VALUE PER TOKEN OCCURRENCE of every scored sequence,
 *  prompt tokens included (the script counts each decoded, whitespace-stripped token text once per
 *  occurrence in the training set, and every occurrence of that text shares one similarity).
 *  Multi-Otsu with 5 classes as skimage.filters.threshold_multiotsu(values, classes=5) computes it: a
 *  256-bin histogram over [min, max] (nbins's default) and its thresholds reported as BIN CENTRES (the
 *  script compares raw similarities with them; select.ts uses the bins' upper edges instead). Then
 *  P_j = (values >= t_j)/n and cumulativeShareCut picks the cut.
 *  Where no 5-class split exists (fewer than 5 occupied bins: all-equal, a single value, none) the cut is
 *  null and TR masks nothing. The script differs there: with at most one value it keeps its initial
 *  cut 0.0, otherwise scikit-image raises and the run stops.
 *  Paper's text: Multi-Otsu (K = 3) over one value per token TYPE, the second-lowest class is noisy. */
export function releasedTrCut(similarities: ArrayLike<number | null>, options: ReleasedTrCutOptions = {}): ReleasedTrCut {
  const classes = options.classes ?? RELEASED_DEFAULTS.trClasses;
  const bins = options.bins ?? RELEASED_DEFAULTS.trBins;
  const limit = options.shareLimit ?? RELEASED_DEFAULTS.shareLimit;
  const values: number[] = [];
  for (let i = 0; i < similarities.length; i++) { const v = similarities[i]; if (finite(v)) values.push(v); }
  const n = values.length;
  const res = multiOtsu(values, classes, bins, options.convention ?? 'skimage');
  if (!res) return { cut: null, thresholds: [], shares: [], exceededAt: null, n };
  const thresholds = res.centres;
  const shares = thresholds.map((t) => {
    let c = 0;
    for (const v of values) if (v >= t) c++;
    return c / n;
  });
  const { cut, exceededAt } = cumulativeShareCut(thresholds, shares, limit);
  return { cut, thresholds, shares, exceededAt, n };
}

export interface ReleasedTr {
  /** Per token: masked by TR. */
  mask: boolean[];
  /** The dataset-level cut this answer was judged with (null: TR masks nothing). */
  cut: number | null;
  /** The answer's sorted similarity at index floorIndex(n, trMax): masked only below it. null without scored tokens. */
  cap: number | null;
  n: number;
}

/** Released TR rule, per answer. Masked: similarity < cut (the dataset-level cut, releasedTrCut) AND
 *  similarity < s[floorIndex(n, trMax)], s the answer's similarities ascending. Ties with either are
 *  kept, so at most floor(n·trMax) tokens are masked: none for n < 1/trMax (20 at 0.05), n = 1 or
 *  all-equal similarities. */
export function releasedTr(similarities: ArrayLike<number | null>, cut: number | null, trMax: number = RELEASED_DEFAULTS.trMax): ReleasedTr {
  checkShare('trMax', trMax);
  const s = sortedFinite(similarities);
  const n = s.length;
  const mask = new Array<boolean>(similarities.length).fill(false);
  if (n === 0) return { mask, cut, cap: null, n };
  const cap = s[floorIndex(n, trMax)];
  if (cut !== null) {
    for (let i = 0; i < similarities.length; i++) { const v = similarities[i]; mask[i] = finite(v) && v < cut && v < cap; }
  }
  return { mask, cut, cap, n };
}

// ---------------------------------------------------------------------------------------------------
// Union

/** One answer's scores (its label tokens only, aligned): null where a token has no score. */
export interface ReleasedAnswer {
  /** Reasoning-importance scores. */
  ri: ArrayLike<number | null>;
  /** Teacher-forced probabilities p (not S_KN = 1 − p). */
  p: ArrayLike<number | null>;
  /** Task-relevance similarities. */
  tr: ArrayLike<number | null>;
}

export interface ReleasedOptions {
  riMax: number;
  knMax: number;
  trMax: number;
  /** Which rules take part in the union (the script's non-zero `--score_weights`); cuts are reported for all. */
  attributes: Record<Attribute, boolean>;
}

export interface ReleasedAnswerSelection {
  /** Per token: the rules that mask it, in the order ri, kn, tr (empty: kept). */
  flags: Attribute[][];
  /** Per token: masked by any enabled rule. */
  masked: boolean[];
  /** Each rule's cuts for this answer, for display. */
  cuts: {
    ri: { cut: number | null; fence: number | null; capped: boolean };
    kn: { cap: number | null; floor: number };
    tr: { cut: number | null; cap: number | null };
  };
}

export function releasedOptions(partial: Partial<Omit<ReleasedOptions, 'attributes'>> & { attributes?: Partial<Record<Attribute, boolean>> } = {}): ReleasedOptions {
  return {
    riMax: partial.riMax ?? RELEASED_DEFAULTS.riMax,
    knMax: partial.knMax ?? RELEASED_DEFAULTS.knMax,
    trMax: partial.trMax ?? RELEASED_DEFAULTS.trMax,
    attributes: { ri: true, kn: true, tr: true, ...partial.attributes },
  };
}

/** The released rules and their union over one answer: a token is masked when any enabled rule masks it
 *  (as the script, which keeps a token only when every enabled rule keeps it). `trCut` is the
 *  dataset-level cut from releasedTrCut. The three arrays must have the same length. */
export function releasedSelectAnswer(answer: ReleasedAnswer, trCut: number | null, options: ReleasedOptions = releasedOptions()): ReleasedAnswerSelection {
  const n = answer.ri.length;
  if (answer.p.length !== n || answer.tr.length !== n) {
    throw new RangeError(`answer arrays differ in length: ri ${n}, p ${answer.p.length}, tr ${answer.tr.length}`);
  }
  const ri = releasedRi(answer.ri, options.riMax);
  const kn = releasedKn(answer.p, options.knMax);
  const tr = releasedTr(answer.tr, trCut, options.trMax);
  const { ri: useRi, kn: useKn, tr: useTr } = options.attributes;
  const flags: Attribute[][] = new Array(n);
  const masked: boolean[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const f: Attribute[] = [];
    if (useRi && ri.mask[i]) f.push('ri');
    if (useKn && kn.mask[i]) f.push('kn');
    if (useTr && tr.mask[i]) f.push('tr');
    flags[i] = f;
    masked[i] = f.length > 0;
  }
  return {
    flags,
    masked,
    cuts: {
      ri: { cut: ri.cut, fence: ri.fence, capped: ri.capped },
      kn: { cap: kn.cap, floor: kn.floor },
      tr: { cut: tr.cut, cap: tr.cap },
    },
  };
}
