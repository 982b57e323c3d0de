// Multi-Otsu thresholding (Liao, Chen & Chung 2001) with scikit-image's conventions
// (skimage.filters.threshold_multiotsu), for XTF's task-relevance selection (../../shared/XTF.md §3).
//
// Conventions, matching scikit-image:
// - The histogram spans [min, max] of the values with `bins` equal-width bins, binned exactly like
//   numpy.histogram(values, bins, range=(min, max)): bin i is [edge_i, edge_{i+1}), the last bin is closed.
// - Thresholds are chosen among bin indices t_1 < ... < t_{K-1} <= bins-2; class 0 is bins [0, t_1],
//   class k is bins (t_k, t_{k+1}], the last class is (t_{K-1}, bins-1]. Every class spans at least one bin.
// - The objective is the between-class variance sum_k P_k mu_k^2 (equivalently sum_k S_k^2 / P_k with
//   S_k, P_k the first and zeroth moments of class k); an empty class contributes 0.
// - scikit-image reports the centres of the threshold bins as threshold values (`centres` here). A value
//   compared with a bin centre can land in the other class than its bin (values in the upper half of a
//   threshold bin: with clusters {0, .1, .2}, {5, 5.1, 5.2}, {10, 10.1, 10.2} and 256 bins, 5.2 sits above
//   its bin's centre and np.digitize(5.2, thresholds) puts it with the top cluster). So the cut values
//   used to classify (`cuts`) are the UPPER EDGES of the threshold bins, and v < cuts[0] is class 0,
//   cuts[k-1] <= v < cuts[k] class k, v >= the last cut the top class (np.digitize order, see classOf):
//   exactly the partition of the histogram the thresholds were optimised on.
// - When exactly K bins are non-empty the thresholds are the first K-1 non-empty bins (as scikit-image);
//   with fewer non-empty bins than classes there is no thresholding (null; scikit-image raises).
// - Among equally good threshold sets the lexicographically smallest one wins (scikit-image's recursive
//   search keeps the first strict maximum in that order); "equal" allows a relative 1e-12 for rounding.
// One deliberate difference: scikit-image's moment tables (_multiotsu.pyx, checked on 0.19.3 and its
// current source) start with first_moment[0] = prob[0], i.e. they give bin 0 the value 1 instead of 0,
// and leave the class term of bins [0, 0] at 0. Its thresholds are then not always the maximal
// between-class variance ones: on random inputs about 15% differ, mostly the first threshold by one bin
// (an exhaustive float64 search agrees with the default 'exact' convention here). convention 'skimage'
// reproduces that moment table, and with it scikit-image's thresholds (up to its float32 rounding).
//
// The search is a dynamic programme over bins, O(K * bins^2) time and O(K * bins) memory (scikit-image
// enumerates all O(bins^(K-1)) combinations).

export interface Histogram {
  counts: Float64Array;
  /** bins + 1 edges; edges[0] = min, edges[bins] = max. */
  edges: Float64Array;
  centres: Float64Array;
  min: number;
  max: number;
}

export interface MultiOtsuResult {
  /** Threshold bin indices, ascending (classes − 1 of them): class 0 is bins [0, indices[0]], ... */
  indices: number[];
  /** Cut values: the upper edges of the threshold bins; classify with classOf. */
  cuts: number[];
  /** The centres of the threshold bins: what scikit-image's threshold_multiotsu returns. */
  centres: number[];
  histogram: Histogram;
}

/** Relative tolerance under which two objective values count as a tie. */
export const TIE_TOLERANCE = 1e-12;

/** numpy.histogram(values, bins, range=(min, max)) with the bin centres scikit-image reports. Non-finite
 *  values are ignored. Returns null when there is no finite value. */
export function histogram(values: ArrayLike<number>, bins: number): Histogram | null {
  let min = Infinity, max = -Infinity, n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) continue;
    n++;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (n === 0) return null;
  let lo = min, hi = max;
  if (lo === hi) { lo -= 0.5; hi += 0.5; } // numpy widens an empty range the same way
  const edges = new Float64Array(bins + 1);
  const step = (hi - lo) / bins;
  for (let i = 0; i < bins; i++) edges[i] = lo + i * step;
  edges[bins] = hi;
  const counts = new Float64Array(bins);
  const norm = bins / (hi - lo);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) continue;
    let b = Math.floor((v - lo) * norm);
    if (b >= bins) b = bins - 1;
    if (b < 0) b = 0;
    // numpy's correction: keep edges[b] <= v < edges[b + 1] exact despite rounding in (v - lo) * norm.
    if (v < edges[b]) b--;
    else if (b < bins - 1 && v >= edges[b + 1]) b++;
    counts[b]++;
  }
  const centres = new Float64Array(bins);
  for (let i = 0; i < bins; i++) centres[i] = (edges[i] + edges[i + 1]) / 2;
  return { counts, edges, centres, min, max };
}

/** 'exact': the maximal between-class variance; 'skimage': scikit-image's moment table (see above). */
export type MultiOtsuConvention = 'exact' | 'skimage';

/** The between-class term S^2 / P of bins [i, j], from prefix sums of the counts (index as the value). */
function terms(counts: ArrayLike<number>, convention: MultiOtsuConvention): (i: number, j: number) => number {
  const n = counts.length;
  const P0 = new Float64Array(n + 1), S0 = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) {
    P0[i + 1] = P0[i] + counts[i];
    S0[i + 1] = S0[i] + (i === 0 && convention === 'skimage' ? 1 : i) * counts[i];
  }
  const skimage = convention === 'skimage';
  return (i, j) => {
    if (skimage && j === 0) return 0;
    const p = P0[j + 1] - P0[i];
    if (p <= 0) return 0;
    const s = S0[j + 1] - S0[i];
    return (s * s) / p;
  };
}

/** The objective sum_k S_k^2 / P_k of a threshold set over a histogram (bin index as the value). */
export function betweenClassVariance(counts: ArrayLike<number>, indices: readonly number[], convention: MultiOtsuConvention = 'exact'): number {
  const term = terms(counts, convention);
  let sigma = 0, start = 0;
  for (const t of indices) { sigma += term(start, t); start = t + 1; }
  return sigma + term(start, counts.length - 1);
}

/** Threshold bin indices maximising the between-class variance of a histogram, for `classes` classes.
 *  Requires bins >= classes. Ties go to the lexicographically smallest indices. */
export function multiOtsuIndices(counts: ArrayLike<number>, classes: number, convention: MultiOtsuConvention = 'exact'): number[] {
  const n = counts.length, m = classes - 1;
  if (!(Number.isInteger(classes) && classes >= 2)) throw new RangeError(`classes must be an integer >= 2, got ${classes}`);
  if (n < classes) throw new RangeError(`${classes} classes need at least ${classes} bins, got ${n}`);
  const term = terms(counts, convention);
  // f[k][i]: best objective splitting bins [i, n-1] into k classes (k = 1..classes), each >= 1 bin.
  const f: Float64Array[] = [new Float64Array(0)];
  const f1 = new Float64Array(n);
  for (let i = 0; i < n; i++) f1[i] = term(i, n - 1);
  f.push(f1);
  for (let k = 2; k <= classes; k++) {
    const fk = new Float64Array(n).fill(-Infinity), prev = f[k - 1];
    // i is the first bin of the last k classes (the classes before them take >= 1 bin each); the first of
    // the k ends at bin j, leaving n-1-j >= k-1 bins for the others.
    const iLow = classes - k, iHigh = k === classes ? 0 : n - k;
    for (let i = iHigh; i >= iLow; i--) {
      let best = -Infinity;
      for (let j = i; j <= n - k; j++) {
        const v = term(i, j) + prev[j + 1];
        if (v > best) best = v;
      }
      fk[i] = best;
    }
    f.push(fk);
  }
  // Greedy reconstruction: the smallest threshold that still reaches the optimum, class by class.
  const total = f[classes][0];
  const tol = Math.abs(total) * TIE_TOLERANCE;
  const indices: number[] = [];
  let start = 0, acc = 0;
  for (let c = 0; c < m; c++) {
    const rest = classes - c - 1; // classes still to place after this one
    const prev = f[rest];
    let chosen = -1;
    for (let j = start; j <= n - 1 - rest; j++) {
      const v = acc + term(start, j) + prev[j + 1];
      if (v >= total - tol) { chosen = j; break; }
    }
    if (chosen < 0) throw new Error('multi-Otsu reconstruction failed'); // unreachable
    indices.push(chosen);
    acc += term(start, chosen);
    start = chosen + 1;
  }
  return indices;
}

/** skimage.filters.threshold_multiotsu(values, classes, nbins=bins) in float64: threshold bins, their
 *  centres (scikit-image's values) and upper edges (the cuts), or null when the values (after binning)
 *  occupy fewer bins than classes — including when all values are equal or there are none. */
export function multiOtsu(values: ArrayLike<number>, classes: number, bins: number, convention: MultiOtsuConvention = 'exact'): MultiOtsuResult | null {
  const h = histogram(values, bins);
  if (!h) return null;
  const nonEmpty: number[] = [];
  for (let i = 0; i < bins; i++) if (h.counts[i] > 0) nonEmpty.push(i);
  if (nonEmpty.length < classes) return null;
  const indices = nonEmpty.length === classes ? nonEmpty.slice(0, -1) : multiOtsuIndices(h.counts, classes, convention);
  return { indices, cuts: indices.map((i) => h.edges[i + 1]), centres: indices.map((i) => h.centres[i]), histogram: h };
}

/** Class of a value given ascending cut values (np.digitize): 0 for v < cuts[0], k for
 *  cuts[k-1] <= v < cuts[k], cuts.length for v >= the last cut. (Positional order is also the order of
 *  the class means.) */
export function classOf(v: number, cuts: readonly number[]): number {
  let k = 0;
  while (k < cuts.length && v >= cuts[k]) k++;
  return k;
}
