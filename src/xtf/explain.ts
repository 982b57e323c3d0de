// The numbers behind the XTF explanation page (drawn by src/report/xtf-explain.ts): which examples to show,
// a summary from the records alone, every label token's scores per attribute, the RI fence statistics and
// the histogram bins. No HTML here.
import { ATTRIBUTES } from './scorefile.ts';
import { summarize } from './summary.ts';
import type { Attribute, DatasetSummary, ScoredExample, SelectionThresholds, XtfRules } from './types.ts';

export const DEFAULT_EXPLAIN_EXAMPLES = 20;

/**
 * The fractions, overlaps and most-flagged types of a score file's records (summary.ts's summarize), for
 * a score file without its summary: thresholds and scoring speed unknown.
 */
export function summaryFromRecords(scored: readonly ScoredExample[]): DatasetSummary {
  return { ...summarize(scored, { method: 'unknown (no summary file; computed from the records)', thresholds: null }), tokensPerSecond: NaN, seconds: NaN };
}

/** The rule set behind a selection: the summary's, else 'released' when the records carry per-answer
 *  cuts (only the released rules write them), else 'paper' when the summary has the paper's thresholds;
 *  null when nothing says (records of old files, or of a baseline). */
export function selectionRules(summary: DatasetSummary | null, scored: readonly ScoredExample[]): XtfRules | null {
  if (summary?.rules) return summary.rules.rules;
  if (scored.some((ex) => ex.cuts !== undefined)) return 'released';
  return summary?.thresholds ? 'paper' : null;
}

/** The examples to draw: those with the given ids (in this order), or the first N (default 20). */
export function chooseExamples(scored: ScoredExample[], which: string[] | number | undefined): ScoredExample[] {
  if (Array.isArray(which)) {
    const byId = new Map(scored.map((e) => [e.id, e]));
    const missing = which.filter((id) => !byId.has(id));
    if (missing.length) throw new RangeError(`no example with id ${missing.map((m) => JSON.stringify(m)).join(', ')} in the score file`);
    return which.map((id) => byId.get(id)!);
  }
  const n = which ?? DEFAULT_EXPLAIN_EXAMPLES;
  if (!(Number.isInteger(n) && n >= 0)) throw new RangeError(`the number of examples must be a whole number >= 0, got ${n}`);
  return scored.slice(0, n);
}

/** Per attribute: the score of every label token that has one, over the whole file, and whether that attribute flagged it. */
export function labelScores(scored: readonly ScoredExample[]): { values: Record<Attribute, number[]>; flagged: Record<Attribute, boolean[]> } {
  const values: Record<Attribute, number[]> = { ri: [], kn: [], tr: [] };
  const flagged: Record<Attribute, boolean[]> = { ri: [], kn: [], tr: [] };
  for (const ex of scored) {
    for (let i = 0; i < ex.tokens.length; i++) {
      if (!ex.label[i]) continue;
      for (const a of ATTRIBUTES) {
        const v = ex[a][i];
        if (v === null || v === undefined) continue;
        values[a].push(v);
        flagged[a].push(ex.flags[i].includes(a));
      }
    }
  }
  return { values, flagged };
}

export interface FenceStats {
  /** The finite per-example RI fences, ascending (none without thresholds). */
  fences: number[];
  median: number;
  q1: number;
  q3: number;
  /** Examples without a fence (too few label tokens). */
  none: number;
}

/** The per-example RI fences of a selection and where they lie (NaN quantiles when there are none). */
export function fenceStats(th: SelectionThresholds | null): FenceStats {
  const fences = th ? Object.values(th.riFences).filter((f): f is number => typeof f === 'number' && Number.isFinite(f)).sort((a, b) => a - b) : [];
  return {
    fences,
    median: quantile(fences, 0.5),
    q1: quantile(fences, 0.25),
    q3: quantile(fences, 0.75),
    none: th ? Object.values(th.riFences).filter((f) => f === null).length : 0,
  };
}

export interface HistogramBins {
  /** The axis range: [lo, hi), cut into bins of binWidth. */
  lo: number;
  hi: number;
  binWidth: number;
  /** The axis stops at the 99th percentile (a long right tail); larger values are counted in the last bin. */
  clipped: boolean;
  /** Values per bin, and of those the flagged ones. */
  total: number[];
  flagged: number[];
  maxCount: number;
  /** One bin dwarfs the rest (12× the median non-empty bin): counts are better drawn on a square-root axis. */
  sqrt: boolean;
}

/**
 * Bins non-empty `values` (flagged[i] for each) for a histogram. The axis spans the values and the finite
 * `markers` (threshold lines), or `domain` when every value lies inside it; a long right tail is clipped at
 * the 99th percentile. `bins` defaults to 40.
 */
export function histogramBins(values: readonly number[], flagged: readonly boolean[], options: { markers: readonly number[]; domain?: [number, number]; bins?: number }): HistogramBins {
  const sorted = values.slice().sort((a, b) => a - b);
  let lo = sorted[0], hi = sorted[sorted.length - 1];
  // A long right tail (attention) would squeeze everything into the first bins: clip at the 99th percentile.
  const p99 = quantile(sorted, 0.99);
  let clipped = false;
  const domain = options.domain;
  if (domain && lo >= domain[0] && hi <= domain[1]) [lo, hi] = domain;
  else if (hi - lo > 0 && p99 - lo < 0.5 * (hi - lo)) {
    hi = p99;
    clipped = true;
  }
  for (const x of options.markers) if (Number.isFinite(x) && !clipped) [lo, hi] = [Math.min(lo, x), Math.max(hi, x)];
  for (const x of options.markers) if (Number.isFinite(x) && clipped && x < hi) lo = Math.min(lo, x);
  if (!(hi > lo)) [lo, hi] = [lo - 0.5, hi + 0.5];
  const bins = options.bins ?? 40, binWidth = (hi - lo) / bins;
  const total = new Array<number>(bins).fill(0), flag = new Array<number>(bins).fill(0);
  values.forEach((v, i) => {
    const b = Math.min(bins - 1, Math.max(0, Math.floor((v - lo) / binWidth)));
    total[b]++;
    if (flagged[i]) flag[b]++;
  });
  const maxCount = Math.max(...total);
  // One towering bin (S_KN near 1 on a small model) would flatten the rest: then a square-root count axis.
  const nonEmpty = total.filter((n) => n > 0).sort((a, b) => a - b);
  const sqrt = maxCount > 12 * quantile(nonEmpty, 0.5);
  return { lo, hi, binWidth, clipped, total, flagged: flag, maxCount, sqrt };
}

/** The q-quantile of ascending values, interpolating linearly; NaN when there are none. */
function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const at = (sorted.length - 1) * q, lo = Math.floor(at), hi = Math.ceil(at);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
}
