import { describe, expect, it } from 'vitest';
import { CODE_DOMAIN_WORDS, defaultDomainWords, MATH_DOMAIN_WORDS, MEDICINE_DOMAIN_WORDS } from '../../src/xtf/domain-words.ts';
import { histogram, TIE_TOLERANCE } from '../../src/xtf/multi-otsu.ts';
import {
  cumulativeShareCut, floorIndex, percentileLinear, RELEASED_DEFAULTS, releasedKn, releasedOptions, releasedRi,
  releasedSelectAnswer, releasedTr, releasedTrCut, sortedAt,
} from '../../src/xtf/released.ts';
import { rng } from '../helpers/random.ts';

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const rep = <T>(v: T, k: number): T[] => Array<T>(k).fill(v);
const flagged = (mask: boolean[]) => mask.flatMap((m, i) => (m ? [i] : []));

// Expected numbers below follow numpy's definitions by hand; the float ones (and the floor indices that
// float rounding moves) were printed once with numpy 2.4 / Python 3 and pasted as literals.

describe('numpy semantics', () => {
  it('percentileLinear = np.percentile (linear): h = (n-1) q/100, lerp between neighbours', () => {
    const s = Float64Array.from([3, 1, 4, 1, 5, 9, 2, 6]).sort(); // [1 1 2 3 4 5 6 9]
    expect(percentileLinear(s, 25)).toBe(1.75); // h = 1.75: 1 + .75 (2 - 1)
    expect(percentileLinear(s, 75)).toBe(5.25); // h = 5.25: 5 + .25 (6 - 5)
    expect(percentileLinear(s, 50)).toBe(3.5);
    expect(percentileLinear(s, 0)).toBe(1);
    expect(percentileLinear(s, 100)).toBe(9);
    // np.percentile([.1, .2, .3], [25, 50, 75]) = 0.15000000000000002, 0.2, 0.25 (h = .5: b - (b-a)(1-g))
    expect(percentileLinear([0.1, 0.2, 0.3], 25)).toBe(0.15000000000000002);
    expect(percentileLinear([0.1, 0.2, 0.3], 50)).toBe(0.2);
    expect(percentileLinear([0.1, 0.2, 0.3], 75)).toBe(0.25);
    // np.percentile([.1 .7 .2 .4 .9], [25, 75]) = 0.2, 0.7 (h = 1, 3: exact elements)
    const b = Float64Array.from([0.1, 0.7, 0.2, 0.4, 0.9]).sort();
    expect([percentileLinear(b, 25), percentileLinear(b, 75)]).toEqual([0.2, 0.7]);
    expect(percentileLinear([7], 25)).toBe(7);
    expect(percentileLinear([], 25)).toBeNaN();
    expect(() => percentileLinear([1], 101)).toThrow(RangeError);
  });

  it('floorIndex = int(n * share) in float64, clamped to n - 1 where Python would raise IndexError', () => {
    const cases: [number, number, number][] = [
      [20, 0.05, 1], [19, 0.05, 0], [40, 0.05, 2], [5, 0.05, 0], [1, 0.05, 0], [100, 0.07, 7],
      [10, 1 - 0.1, 9], [11, 1 - 0.1, 9], [20, 1 - 0.1, 18], [30, 1 - 0.1, 27], [1, 1 - 0.1, 0], [10, 1 - 0.3, 7],
      // float rounding: 90 (1 - 0.3) = 62.99..., so int() gives 62 (exact arithmetic would give 63)
      [90, 1 - 0.3, 62], [170, 1 - 0.3, 118], [180, 1 - 0.3, 125],
    ];
    for (const [n, share, want] of cases) expect(floorIndex(n, share), `n ${n} share ${share}`).toBe(want);
    // n * share = n: sorted(x)[n] raises in Python; clamped to the last element
    expect(floorIndex(3, 1)).toBe(2);
    expect(floorIndex(20, 1 - 0)).toBe(19);
    expect(() => floorIndex(0, 0.5)).toThrow(RangeError);
    expect(() => floorIndex(3, -0.1)).toThrow(RangeError); // Python would index from the end
    expect(() => floorIndex(3, 1.5)).toThrow(RangeError);
  });

  it('sortedAt = np.sort(values)[floorIndex(n, share)] on unsorted input', () => {
    expect(sortedAt([3, 1, 2], 0.5)).toBe(2); // np.sort([3,1,2])[int(1.5)]
    expect(sortedAt([3, 1, 2], 0)).toBe(1);
    expect(sortedAt([3, 1, 2], 1)).toBe(3); // clamped
    expect(sortedAt([-1, 10, 2, -5], 0.5)).toBe(2); // numeric, not lexicographic, order
    expect(sortedAt([], 0.5)).toBeNaN();
  });
});

describe('released RI: Q1 - 1.5 IQR per answer, capped at riMax', () => {
  it('keeps the fence when exactly riMax of the tokens fall below it (share > riMax is strict)', () => {
    const scores = [-20, ...range(10, 28)]; // n = 20; Q1 13.75, Q3 23.25, fence -0.5
    const r = releasedRi(scores);
    expect(r).toMatchObject({ fence: -0.5, cut: -0.5, capped: false, n: 20 });
    expect(flagged(r.mask)).toEqual([0]); // 1/20 = 0.05, not more than 0.05
  });

  it('replaces the fence by sorted[floor(n riMax)] when more than riMax fall below (cap binds)', () => {
    const scores = [-30, -20, ...range(10, 27)]; // n = 20; Q1 12.75, Q3 22.25, fence -1.5; 2/20 below
    const r = releasedRi(scores);
    expect(r).toMatchObject({ fence: -1.5, cut: -20, capped: true }); // sorted[int(20 * 0.05) = 1]
    expect(flagged(r.mask)).toEqual([0]); // -20 ties with the cut: kept
    // riMax 0.1: 0.1 is not more than 0.1, so the fence stands and masks both (a cap that does not bind)
    const loose = releasedRi(scores, 0.1);
    expect(loose).toMatchObject({ cut: -1.5, capped: false });
    expect(flagged(loose.mask)).toEqual([0, 1]);
  });

  it('keeps every token tied with the capped cut', () => {
    const scores = [-30, -30, -20, ...range(10, 26)]; // n = 20; Q1 11.75, Q3 21.25, fence -2.5; 3 below
    const r = releasedRi(scores);
    expect(r).toMatchObject({ fence: -2.5, cut: -30, capped: true });
    expect(flagged(r.mask)).toEqual([]);
  });

  it('masks nothing in short answers: one token below the fence is already over the cap', () => {
    // np: Q1 0.5, Q3 0.7, fence 0.20000000000000007; 1/5 below -> cut = sorted[int(0.25) = 0] = 0.05
    const r = releasedRi([0.5, 0.6, 0.7, 0.8, 0.05]);
    expect(r).toMatchObject({ fence: 0.20000000000000007, cut: 0.05, capped: true, n: 5 });
    expect(flagged(r.mask)).toEqual([]);
    // np: Q1 0.275, Q3 0.325, fence 0.20000000000000004
    expect(releasedRi([0.31, 0.27, 0.35, 0.29, 0.33, 0.02])).toMatchObject({ fence: 0.20000000000000004, cut: 0.02, capped: true });
    // np: Q1 0.15000000000000002, Q3 0.25 -> fence 5.551115123125783e-17 (bit-exact float path)
    expect(releasedRi([0.3, 0.1, 0.2]).fence).toBe(5.551115123125783e-17);
  });

  it('n = 1, all-equal, empty', () => {
    expect(releasedRi([5])).toEqual({ mask: [false], cut: 5, fence: 5, capped: false, n: 1 });
    const eq = releasedRi(rep(0.3, 8));
    expect(eq).toMatchObject({ cut: 0.3, fence: 0.3, capped: false });
    expect(flagged(eq.mask)).toEqual([]);
    expect(releasedRi([])).toEqual({ mask: [], cut: null, fence: null, capped: false, n: 0 });
    expect(releasedRi([null, NaN])).toEqual({ mask: [false, false], cut: null, fence: null, capped: false, n: 0 });
  });

  it('skips null and non-finite scores: never flagged, not counted in n', () => {
    const scores = [null, -20, NaN, ...range(10, 28), -Infinity];
    const r = releasedRi(scores);
    expect(r).toMatchObject({ fence: -0.5, cut: -0.5, capped: false, n: 20 });
    expect(flagged(r.mask)).toEqual([1]);
  });

  it('uses 1.5 as the IQR factor by default', () => {
    expect(RELEASED_DEFAULTS.iqrFactor).toBe(1.5);
    expect(releasedRi([-20, ...range(10, 28)], 0.05, 1).fence).toBe(13.75 - 9.5);
  });
});

describe('released KN: p > 0.95 and above sorted p at floor(n (1 - knMax))', () => {
  it('cap binds: of three tokens over 0.95 in 20, only the one above sorted[18] is masked', () => {
    const p = [0.99, 0.98, 0.97, ...rep(0.5, 17)];
    const r = releasedKn(p);
    expect(r).toMatchObject({ cap: 0.98, floor: 0.95, n: 20 });
    expect(flagged(r.mask)).toEqual([0]);
  });

  it('cap does not bind: sorted[27] of 30 is low; p = 0.95 itself is not above the floor', () => {
    const p = [0.99, 0.95, ...rep(0.5, 28)];
    const r = releasedKn(p);
    expect(r.cap).toBe(0.5);
    expect(flagged(r.mask)).toEqual([0]);
  });

  it('masks nothing for n <= 10 at knMax 0.1 (the index is n - 1: the maximum)', () => {
    const p = [0.96, 0.97, 0.98, 0.99, 0.991, 0.992, 0.993, 0.994, 0.995, 0.999];
    const r = releasedKn(p);
    expect(r.cap).toBe(0.999);
    expect(flagged(r.mask)).toEqual([]);
    // n = 11: index int(11 * 0.9) = 9, so the maximum goes
    expect(flagged(releasedKn([...p, 0.9995]).mask)).toEqual([10]);
  });

  it('ties with the cap are kept; n = 1 and all-equal mask nothing', () => {
    expect(flagged(releasedKn([0.99, 0.99, ...rep(0.5, 18)]).mask)).toEqual([]);
    expect(releasedKn([0.999])).toEqual({ mask: [false], cap: 0.999, floor: 0.95, n: 1 });
    expect(flagged(releasedKn(rep(0.99, 30)).mask)).toEqual([]);
    expect(releasedKn([])).toEqual({ mask: [], cap: null, floor: 0.95, n: 0 });
  });

  it('knMax 0 clamps the index to the maximum (Python: IndexError); nulls skipped', () => {
    expect(flagged(releasedKn([0.99, 0.999, 0.5], 0).mask)).toEqual([]);
    const r = releasedKn([null, 0.99, 0.98, 0.97, NaN, ...rep(0.5, 17)]);
    expect(r).toMatchObject({ cap: 0.98, n: 20 });
    expect(flagged(r.mask)).toEqual([1]);
  });
});

describe('released TR per answer: below the dataset cut and below sorted[floor(n trMax)]', () => {
  it('cap binds: with n = 20 only values below sorted[1] can go', () => {
    const r = releasedTr([0.1, 0, ...rep(0.5, 18)], 0.2);
    expect(r).toMatchObject({ cut: 0.2, cap: 0.1, n: 20 });
    expect(flagged(r.mask)).toEqual([1]); // 0.1 is below the cut but ties with the cap
  });

  it('cap does not bind: n = 40, sorted[2] = 0.5, both low values go', () => {
    const r = releasedTr([0, 0.1, ...rep(0.5, 38)], 0.2);
    expect(r.cap).toBe(0.5);
    expect(flagged(r.mask)).toEqual([0, 1]);
  });

  it('a value equal to the cut is kept', () => {
    const r = releasedTr([0, 0.1, 0.2, ...rep(0.5, 57)], 0.2); // n = 60: cap sorted[3] = 0.5
    expect(flagged(r.mask)).toEqual([0, 1]);
  });

  it('short answers, n = 1, all-equal and a null cut mask nothing', () => {
    expect(flagged(releasedTr([0, ...rep(0.5, 18)], 0.2).mask)).toEqual([]); // n = 19: index 0
    expect(releasedTr([0], 0.2)).toEqual({ mask: [false], cut: 0.2, cap: 0, n: 1 });
    expect(flagged(releasedTr(rep(0.1, 40), 0.2).mask)).toEqual([]);
    expect(releasedTr([0, 0.1, ...rep(0.5, 38)], null)).toMatchObject({ cut: null, cap: 0.5, mask: rep(false, 40) });
    expect(releasedTr([null], 0.2)).toEqual({ mask: [false], cut: 0.2, cap: null, n: 0 });
  });

  it('trMax 1 clamps to the maximum: everything below both the cut and the maximum', () => {
    expect(flagged(releasedTr([0, 0.1, 0.3], 0.2, 1).mask)).toEqual([0, 1]);
  });
});

describe('cumulative-share cut', () => {
  const t = [10, 20, 30, 40];
  it('stops at the first running sum MORE than the limit and takes the threshold before it', () => {
    expect(cumulativeShareCut(t, [0.9, 0.5, 0.3, 0.1])).toEqual({ cut: 10, exceededAt: 1 }); // .9, 1.4
    expect(cumulativeShareCut(t, [0.6, 0.4, 0.3, 0.1])).toEqual({ cut: 20, exceededAt: 2 }); // .6, 1.0 (not > 1), 1.3
    expect(cumulativeShareCut(t, [0.5, 0.3, 0.2, 0.05])).toEqual({ cut: 30, exceededAt: 3 }); // .5, .8, 1.0, 1.05
    expect(cumulativeShareCut(t, [0.5, 0.2, 0.15, 0.1])).toEqual({ cut: 40, exceededAt: null }); // never: t3
    // float: .7 + .2 + .1 = 0.9999999999999999, + .05 = 1.0499999999999998 > 1
    expect(cumulativeShareCut(t, [0.7, 0.2, 0.1, 0.05])).toEqual({ cut: 30, exceededAt: 3 });
    expect(cumulativeShareCut(t, [0.6, 0.3, 0.1, 0])).toEqual({ cut: 40, exceededAt: null }); // 0.9999999999999999
  });
  it('takes t0 when the first share alone exceeds the limit (only possible with a limit below 1)', () => {
    expect(cumulativeShareCut(t, [0.6, 0.3, 0.1, 0], 0.5)).toEqual({ cut: 10, exceededAt: 0 });
    expect(cumulativeShareCut(t, [1, 1, 1, 1])).toEqual({ cut: 10, exceededAt: 1 });
  });
  it('rejects mismatched inputs', () => {
    expect(() => cumulativeShareCut([], [])).toThrow(RangeError);
    expect(() => cumulativeShareCut([1, 2], [0.5])).toThrow(RangeError);
  });
});

/** scikit-image's between-class objective over bins, written out independently: bin i has value i
 *  except bin 0, which its first-moment table counts as 1; a class made of bin 0 alone adds 0. */
function skimageObjective(counts: ArrayLike<number>, idx: readonly number[]): number {
  const bounds = [-1, ...idx, counts.length - 1];
  let total = 0;
  for (let c = 0; c + 1 < bounds.length; c++) {
    const lo = bounds[c] + 1, hi = bounds[c + 1];
    if (hi === 0) continue;
    let p = 0, s = 0;
    for (let i = lo; i <= hi; i++) { p += counts[i]; s += (i === 0 ? 1 : i) * counts[i]; }
    if (p > 0) total += (s * s) / p;
  }
  return total;
}

/** Every 4-threshold set in lexicographic order; the first within the tie tolerance of the best. */
function exhaustive5(counts: ArrayLike<number>): number[] {
  const n = counts.length;
  let best = -Infinity;
  const all: { idx: number[]; v: number }[] = [];
  for (let a = 0; a < n - 4; a++) for (let b = a + 1; b < n - 3; b++) for (let c = b + 1; c < n - 2; c++) for (let d = c + 1; d < n - 1; d++) {
    const v = skimageObjective(counts, [a, b, c, d]);
    all.push({ idx: [a, b, c, d], v });
    if (v > best) best = v;
  }
  return all.find((x) => x.v >= best - Math.abs(best) * TIE_TOLERANCE)!.idx;
}

describe('released TR dataset cut: 5-class Multi-Otsu (scikit-image) + cumulative shares', () => {
  it('defaults: 5 classes, 256 bins, share limit 1, caps 0.05 / 0.1 / 0.05', () => {
    expect(RELEASED_DEFAULTS).toMatchObject({ trClasses: 5, trBins: 256, shareLimit: 1, riMax: 0.05, knMax: 0.1, trMax: 0.05, knFloor: 0.95 });
  });

  it('finds the thresholds of an exhaustive search on small histograms (reported as bin centres)', () => {
    const r = rng(2024);
    let checked = 0;
    for (let trial = 0; trial < 150; trial++) {
      const bins = 6 + (trial % 7); // 6..12 bins
      // Integer-ish values with gaps (empty bins, exact ties) or spread reals.
      const values = Array.from({ length: 8 + Math.floor(r() * 40) }, () => (trial % 2 ? Math.floor(r() * 9) * (r() < 0.3 ? 3 : 1) : r() * r()));
      const h = histogram(values, bins)!;
      const occupied = Array.from(h.counts).filter((c) => c > 0).length;
      const res = releasedTrCut(values, { bins });
      if (occupied < 5) { expect(res.cut).toBeNull(); continue; }
      if (occupied === 5) continue; // scikit-image's special path, checked below
      const want = exhaustive5(h.counts);
      expect(res.thresholds, `values ${values} bins ${bins}`).toEqual(want.map((i) => h.centres[i]));
      // shares are the shares of values >= each threshold, over all values
      expect(res.shares).toEqual(res.thresholds.map((t) => values.filter((v) => v >= t).length / values.length));
      expect(res.thresholds).toContain(res.cut);
      checked++;
    }
    expect(checked).toBeGreaterThan(50);
  });

  // Clusters around 0, .25, .5, .75, 1 two values wide: over [0, 1] with 256 bins the lower clusters end
  // in bins 5 (0.02), 65 (0.255), 129 (0.505) and 193 (0.755); the thresholds are those bins' centres.
  // (Each of those values lies in the LOWER half of its bin, so it stays below its bin's centre.)
  const clusters = [[0, 0.02], [0.25, 0.255], [0.5, 0.505], [0.75, 0.755], [0.99, 1]];
  const data = (counts: number[]) => counts.flatMap((c, k) => [...rep(clusters[k][0], c / 2), ...rep(clusters[k][1], c / 2)]);
  const T = [5.5 / 256, 65.5 / 256, 129.5 / 256, 193.5 / 256];
  for (const [counts, shares, cut, at] of [
    [[10, 30, 30, 20, 10], [0.9, 0.6, 0.3, 0.1], T[0], 1], // .9, 1.5: the usual outcome, the lowest cut
    [[40, 30, 10, 10, 10], [0.6, 0.3, 0.2, 0.1], T[1], 2], // .6, .9, 1.1
    [[50, 20, 10, 10, 10], [0.5, 0.3, 0.2, 0.1], T[2], 3], // .5, .8, 1.0 (not more than 1), 1.1
    [[60, 20, 10, 6, 4], [0.4, 0.2, 0.1, 0.04], T[3], null], // .74 at most: the last threshold
  ] as [number[], number[], number, number | null][]) {
    it(`cluster counts ${counts}: shares ${shares}, cut t${at === null ? 3 : at - 1}`, () => {
      const res = releasedTrCut(data(counts));
      expect(res.thresholds).toEqual(T);
      expect(res.shares).toEqual(shares);
      expect(res).toMatchObject({ cut, exceededAt: at, n: 100 });
    });
  }

  it('compares with bin centres: a value in the upper half of a threshold bin counts as >= the threshold', () => {
    const values = [...data([10, 30, 30, 20, 10]), 0.0215]; // 0.0215 lies in bin 5, above its centre 0.021484375
    const res = releasedTrCut(values);
    expect(res.thresholds).toEqual(T);
    expect(res.shares[0]).toBe(91 / 101);
    expect(res.cut).toBe(T[0]);
    expect(0.0215 < res.cut!).toBe(false); // in the lowest class's bins, yet not below the cut
  });

  it('with exactly 5 occupied bins thresholds at the first 4 of them; values on a bin edge fall below its centre', () => {
    const values = [...rep(0, 10), ...rep(0.25, 20), ...rep(0.5, 30), ...rep(0.75, 20), ...rep(1, 20)];
    const res = releasedTrCut(values); // bins 0, 64, 128, 192, 255
    expect(res.thresholds).toEqual([0.5 / 256, 64.5 / 256, 128.5 / 256, 192.5 / 256]);
    expect(res.shares).toEqual([0.9, 0.7, 0.4, 0.2]); // 0.25 < 64.5/256: its own bin's centre is above it
    expect(res).toMatchObject({ cut: 0.5 / 256, exceededAt: 1 });
  });

  it('no cut (TR masks nothing) when 5 classes cannot be formed; non-finite values are skipped', () => {
    expect(releasedTrCut([])).toMatchObject({ cut: null, thresholds: [], n: 0 });
    expect(releasedTrCut([0.3])).toMatchObject({ cut: null, n: 1 });
    expect(releasedTrCut(rep(0.3, 50))).toMatchObject({ cut: null, n: 50 });
    expect(releasedTrCut([0, 0.25, 0.5, 0.75, 0.75])).toMatchObject({ cut: null }); // 4 occupied bins
    const withGaps = releasedTrCut([null, NaN, ...data([10, 30, 30, 20, 10]), Infinity]);
    expect(withGaps).toMatchObject({ cut: T[0], n: 100 });
  });

  it('share limit stands for the script\'s TR weight', () => {
    expect(releasedTrCut(data([10, 30, 30, 20, 10]), { shareLimit: 1.6 })).toMatchObject({ cut: T[1], exceededAt: 2 }); // .9, 1.5, 1.8
    expect(releasedTrCut(data([10, 30, 30, 20, 10]), { shareLimit: 2 })).toMatchObject({ cut: T[3], exceededAt: null }); // 1.9 at most
  });
});

describe('union over one answer', () => {
  // n = 20. RI: the capped case (cut -20 masks token 0). KN: token 0 is the only p above sorted[18] = 0.5.
  // TR: cut 0.2, cap sorted[1] = 0.05 masks token 1.
  const answer = {
    ri: [-30, -20, ...range(10, 27)],
    p: [0.99, null, ...rep(0.5, 18)],
    tr: [0.5, 0, 0.05, ...rep(0.5, 17)],
  };
  it('flags per token in the order ri, kn, tr, with each rule\'s cuts', () => {
    const s = releasedSelectAnswer(answer, 0.2);
    expect(s.flags.slice(0, 3)).toEqual([['ri', 'kn'], ['tr'], []]);
    expect(s.flags.slice(3).every((f) => f.length === 0)).toBe(true);
    expect(flagged(s.masked)).toEqual([0, 1]);
    expect(s.cuts).toEqual({
      ri: { cut: -20, fence: -1.5, capped: true },
      kn: { cap: 0.5, floor: 0.95 },
      tr: { cut: 0.2, cap: 0.05 },
    });
  });
  it('disabled rules take no part but still report their cuts; caps come from the options', () => {
    const s = releasedSelectAnswer(answer, 0.2, releasedOptions({ attributes: { kn: false }, riMax: 0.1 }));
    expect(s.flags.slice(0, 3)).toEqual([['ri'], ['ri', 'tr'], []]); // riMax 0.1: the fence -1.5 stands
    expect(s.cuts.kn.cap).toBe(0.5);
    expect(s.cuts.ri).toEqual({ cut: -1.5, fence: -1.5, capped: false });
  });
  it('a null TR cut masks nothing by TR; arrays must have one length', () => {
    expect(releasedSelectAnswer(answer, null).flags[1]).toEqual([]);
    expect(() => releasedSelectAnswer({ ...answer, tr: [0] }, 0.2)).toThrow(RangeError);
  });
});

describe('default domain words', () => {
  it('has the released lists', () => {
    expect(MATH_DOMAIN_WORDS).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '+', '-', '*', '/', '=', 'maths']);
    expect(CODE_DOMAIN_WORDS).toEqual(['def', 'return', 'if', 'else', 'for', 'while', 'import', 'from', 'class', 'try']);
    expect(MEDICINE_DOMAIN_WORDS).toHaveLength(63);
    expect(new Set(MEDICINE_DOMAIN_WORDS).size).toBe(63);
    expect([MEDICINE_DOMAIN_WORDS[0], MEDICINE_DOMAIN_WORDS[62]]).toEqual(['gene', 'dermatology']);
    expect(Object.isFrozen(MEDICINE_DOMAIN_WORDS)).toBe(true);
  });
  it('looks lists up by task name, null where none applies', () => {
    for (const t of ['gsm8k', 'math500']) expect(defaultDomainWords(t)).toBe(MATH_DOMAIN_WORDS);
    for (const t of ['mbpp', 'humaneval']) expect(defaultDomainWords(t)).toBe(CODE_DOMAIN_WORDS);
    for (const t of ['pubmedqa', 'medqa']) expect(defaultDomainWords(t)).toBe(MEDICINE_DOMAIN_WORDS);
    for (const t of ['fiqa', 'GSM8K', 'toString', '', 'builtin']) expect(defaultDomainWords(t)).toBeNull();
  });
});
