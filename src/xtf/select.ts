// XTF's selection rules (../../shared/XTF.md): from the three per-token scores to flags and the loss mask.
// Pure functions, no GPU: the demo re-runs them interactively when thresholds change.
//
// Conventions:
// - Reasoning importance, per example over its label tokens with a finite S_RI: Q1 and Q3 are the 25th
//   and 75th percentiles with numpy's default 'linear' interpolation (sorted x, h = (n−1)·q,
//   x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋])); fence = Q1 − r·(Q3 − Q1); noisy when S_RI < fence (strict).
//   An example with fewer than RI_MIN_LABEL_TOKENS such tokens gets no fence (null) and no RI flags.
// - Knowledge novelty, global: noisy when S_KN < kn.threshold (strict).
// - Task relevance, global over token TYPES: Multi-Otsu (./multi-otsu.ts) over the distinct label token
//   types' S_TR values, one value per type (not weighted by occurrences). Classes are ordered by position,
//   which for contiguous classes on one axis is the order of their means: the lowest class (v < cuts[0])
//   is skipped, the second-lowest (cuts[0] <= v < cuts[1]; v >= cuts[0] when classes = 2) is noisy. The
//   cuts are the upper edges of the threshold bins (multi-otsu.ts explains why not scikit-image's bin
//   centres), so the flags are exactly the histogram partition Multi-Otsu optimised. When the types'
//   values fall in fewer histogram bins than classes (e.g. all equal) there are no cuts and no TR flags.
// - A label token whose score for an attribute is null or not finite is never flagged by that attribute.
// - Union: a label token's flags are the enabled attributes (options.attributes) that call it noisy, in the
//   order ri, kn, tr; weight 0 when any flag, else 1; prompt tokens have no flags and weight 0.
// - Thresholds are computed for all three attributes even when some are disabled (so a report can show
//   them); options.attributes only decides which flags take part.
// - The flag arrays are shared, frozen constants (one per combination): treat them as read-only.

import type { XtfOptions } from './options.ts';
import type { Attribute, ScoredExample, SelectionThresholds } from './types.ts';
import { classOf, multiOtsu } from './multi-otsu.ts';

/** Examples with fewer label tokens (with a finite S_RI) than this get no RI fence and no RI flags:
 *  quartiles of 1–3 values do not describe a distribution. */
export const RI_MIN_LABEL_TOKENS = 4;

/** The per-token scores selection needs (a ScoredExample has all of them). */
export interface ScoredExampleScores {
  id: string;
  /** Token ids: the token TYPE behind S_TR. */
  tokens: number[];
  label: boolean[];
  ri: (number | null)[];
  kn: (number | null)[];
  tr: (number | null)[];
}

export interface Selection {
  /** Per example, per token: the attributes that call the token noisy (shared read-only arrays). */
  flags: Attribute[][][];
  /** Per example, per token: 1 kept label token, 0 masked label token or prompt token. */
  lossMask: number[][];
  thresholds: SelectionThresholds;
}

/** Manual thresholds (the demo drags them): used instead of the computed ones. */
export interface SelectionOverrides {
  /** Ascending S_TR cut values replacing the Multi-Otsu ones ([] = no TR flags). */
  trCuts?: number[];
}

const RI = 1, KN = 2, TR = 4;
/** FLAG_SETS[bits] with bits = ri | kn << 1 | tr << 2. */
const FLAG_SETS: readonly Attribute[][] = Array.from({ length: 8 }, (_, bits) =>
  Object.freeze((['ri', 'kn', 'tr'] as const).filter((_, i) => bits & (1 << i))) as Attribute[]);
const NO_FLAGS = FLAG_SETS[0];

/** The q-quantile (0..1) of ascending sorted values with numpy's default 'linear' method
 *  (numpy.quantile(x, q) / numpy.percentile(x, 100q)), including numpy's lerp form. */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const h = (n - 1) * q;
  const lo = Math.floor(h), hi = Math.min(lo + 1, n - 1), g = h - lo;
  const a = sorted[lo], b = sorted[hi], d = b - a;
  return g >= 0.5 ? b - d * (1 - g) : a + d * g;
}

/** The Tukey lower fence Q1 − r·(Q3 − Q1) of the values, or null with fewer than RI_MIN_LABEL_TOKENS. */
export function tukeyLowerFence(values: ArrayLike<number>, r: number): number | null {
  if (values.length < RI_MIN_LABEL_TOKENS) return null;
  const s = Float64Array.from(values).sort();
  const q1 = quantileSorted(s, 0.25), q3 = quantileSorted(s, 0.75);
  return q1 - r * (q3 - q1);
}

const finite = (v: number | null | undefined): v is number => typeof v === 'number' && Number.isFinite(v);

/** Rearrange a[lo..hi] (inclusive) so that a[k] is the value a sort would put there, smaller-or-equal
 *  values before it and greater-or-equal after it (Hoare quickselect, median-of-three pivot). */
function selectKth(a: Float64Array, lo: number, hi: number, k: number): void {
  while (hi > lo) {
    const mid = (lo + hi) >>> 1;
    // Median of three into a[mid].
    if (a[mid] < a[lo]) { const t = a[mid]; a[mid] = a[lo]; a[lo] = t; }
    if (a[hi] < a[lo]) { const t = a[hi]; a[hi] = a[lo]; a[lo] = t; }
    if (a[hi] < a[mid]) { const t = a[hi]; a[hi] = a[mid]; a[mid] = t; }
    const pivot = a[mid];
    let i = lo, j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) { const t = a[i]; a[i] = a[j]; a[j] = t; i++; j--; }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return;
  }
}

/** min of a[lo..hi]. */
function minOf(a: Float64Array, lo: number, hi: number): number {
  let m = a[lo];
  for (let i = lo + 1; i <= hi; i++) if (a[i] < m) m = a[i];
  return m;
}

/** numpy-linear quantile q of a[0..m-1] (rearranged in place), from order statistics only; `from` is the
 *  first index still unordered (everything before it is <= everything from it on, in sorted place). */
function quantileInPlace(a: Float64Array, m: number, q: number, from: number): { value: number; next: number } {
  const h = (m - 1) * q, k = Math.floor(h), g = h - k;
  selectKth(a, from, m - 1, k);
  const x = a[k];
  const y = k + 1 < m ? minOf(a, k + 1, m - 1) : x;
  const d = y - x;
  return { value: g >= 0.5 ? y - d * (1 - g) : x + d * g, next: k + 1 };
}

/** The Multi-Otsu cuts over the S_TR values of the distinct label token types ([] when not thresholdable). */
export function taskRelevanceCuts(examples: readonly ScoredExampleScores[], options: XtfOptions): number[] {
  // One value per token type (the first seen). Token ids index a typed array when they are small
  // (vocabularies are), else a Map.
  let maxId = -1, small = true;
  for (const ex of examples) {
    for (let i = 0; i < ex.label.length; i++) {
      const t = ex.tokens[i];
      if (!(Number.isInteger(t) && t >= 0 && t < 1 << 24)) { small = false; break; }
      if (t > maxId) maxId = t;
    }
    if (!small) break;
  }
  const out: number[] = [];
  if (small) {
    const seen = new Uint8Array(maxId + 1);
    for (const { tokens, label, tr } of examples) {
      for (let i = 0; i < label.length; i++) {
        const v = tr[i];
        if (label[i] && finite(v) && !seen[tokens[i]]) { seen[tokens[i]] = 1; out.push(v); }
      }
    }
  } else {
    const seen = new Set<number>();
    for (const { tokens, label, tr } of examples) {
      for (let i = 0; i < label.length; i++) {
        const v = tr[i];
        if (label[i] && finite(v) && !seen.has(tokens[i])) { seen.add(tokens[i]); out.push(v); }
      }
    }
  }
  return taskRelevanceCutsOf(out, options);
}

/** The Multi-Otsu cuts over one S_TR value per label token type ([] when not thresholdable). */
export function taskRelevanceCutsOf(typeScores: ArrayLike<number>, options: XtfOptions): number[] {
  return multiOtsu(Float64Array.from(typeScores), options.tr.classes, options.tr.bins)?.cuts ?? [];
}

/** Apply XTF's three rules and their union to every label token. */
export function selectTokens(examples: readonly ScoredExampleScores[], options: XtfOptions, overrides: SelectionOverrides = {}): Selection {
  const r = options.ri.fenceR, knThreshold = options.kn.threshold;
  const trCuts = overrides.trCuts ? [...overrides.trCuts].sort((a, b) => a - b) : taskRelevanceCuts(examples, options);
  const { ri: useRi, kn: useKn, tr: useTr } = options.attributes;
  // TR noisy band: [lo, hi); none without cuts.
  const trLo = trCuts.length >= 1 ? trCuts[0] : Infinity;
  const trHi = trCuts.length >= 2 ? trCuts[1] : Infinity;

  const riFences: Record<string, number | null> = {};
  const flags: Attribute[][][] = new Array(examples.length);
  const lossMask: number[][] = new Array(examples.length);
  let buf = new Float64Array(256);
  for (let e = 0; e < examples.length; e++) {
    const { id, label, ri, kn, tr } = examples[e];
    const n = label.length;
    // Per-example RI fence over the finite label scores.
    let m = 0;
    for (let i = 0; i < n; i++) {
      if (!label[i]) continue;
      const v = ri[i];
      if (finite(v)) {
        if (m === buf.length) { const b = new Float64Array(buf.length * 2); b.set(buf); buf = b; }
        buf[m++] = v;
      }
    }
    let fence: number | null = null;
    if (m >= RI_MIN_LABEL_TOKENS) {
      // Order statistics by quickselect (a full sort per example dominated the run time).
      const q1 = quantileInPlace(buf, m, 0.25, 0);
      const q3 = quantileInPlace(buf, m, 0.75, q1.next).value;
      fence = q1.value - r * (q3 - q1.value);
    }
    riFences[id] = fence;
    const fenceValue = useRi && fence !== null ? fence : -Infinity;

    const f: Attribute[][] = [];
    const w: number[] = [];
    for (let i = 0; i < n; i++) {
      if (!label[i]) { f.push(NO_FLAGS); w.push(0); continue; }
      let bits = 0;
      const a = ri[i], b = kn[i], c = tr[i];
      // Non-finite scores never flag: null is excluded explicitly (it would compare as 0), NaN fails
      // every comparison, -Infinity is excluded explicitly and +Infinity can't be below a bound.
      if (a !== null && a < fenceValue && a !== -Infinity) bits |= RI;
      if (useKn && b !== null && b < knThreshold && b !== -Infinity) bits |= KN;
      if (useTr && c !== null && c >= trLo && c < trHi) bits |= TR;
      f.push(FLAG_SETS[bits]);
      w.push(bits === 0 ? 1 : 0);
    }
    flags[e] = f;
    lossMask[e] = w;
  }
  return { flags, lossMask, thresholds: { riFences, knThreshold, trCuts } };
}

/** New ScoredExamples carrying a selection's flags and loss mask (scores are shared, not copied). */
export function applySelection(scored: readonly ScoredExample[], selection: Selection): ScoredExample[] {
  return scored.map((ex, e) => ({ ...ex, flags: selection.flags[e], lossMask: selection.lossMask[e] }));
}

/** Re-run the selection on already scored examples with new options (no rescoring). */
export function reselect(scored: readonly ScoredExample[], options: XtfOptions, overrides: SelectionOverrides = {}): ScoredExample[] {
  return applySelection(scored, selectTokens(scored, options, overrides));
}

/** The TR class of an S_TR value under given cuts (0 = skipped, 1 = noisy, higher = kept). */
export { classOf as trClassOf };
