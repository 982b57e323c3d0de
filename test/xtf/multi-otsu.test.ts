import { describe, expect, it } from 'vitest';
import { betweenClassVariance, classOf, histogram, multiOtsu, multiOtsuIndices, type MultiOtsuConvention, TIE_TOLERANCE } from '../../src/xtf/multi-otsu.ts';
import { rng } from '../helpers/random.ts';

/** Every threshold combination in lexicographic order; the first one within the tie tolerance of the best. */
function exhaustive(counts: ArrayLike<number>, classes: number, convention: MultiOtsuConvention = 'exact'): { indices: number[]; sigma: number } {
  const n = counts.length, m = classes - 1;
  const all: { indices: number[]; sigma: number }[] = [];
  const rec = (from: number, acc: number[]) => {
    if (acc.length === m) { all.push({ indices: [...acc], sigma: betweenClassVariance(counts, acc, convention) }); return; }
    for (let t = from; t <= n - 1 - (m - acc.length); t++) rec(t + 1, [...acc, t]);
  };
  rec(0, []);
  const best = Math.max(...all.map((c) => c.sigma));
  return all.find((c) => c.sigma >= best - Math.abs(best) * TIE_TOLERANCE)!;
}

describe('histogram (numpy.histogram over [min, max])', () => {
  it('bins half-open intervals, the last one closed, and reports bin centres', () => {
    const h = histogram([0, 0.25, 0.5, 0.74, 1], 4)!;
    expect(Array.from(h.edges)).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(Array.from(h.counts)).toEqual([1, 1, 2, 1]);
    expect(Array.from(h.centres)).toEqual([0.125, 0.375, 0.625, 0.875]);
    expect([h.min, h.max]).toEqual([0, 1]);
  });
  it('ignores non-finite values and returns null without any finite value', () => {
    expect(Array.from(histogram([NaN, 1, Infinity, 3], 2)!.counts)).toEqual([1, 1]);
    expect(histogram([], 8)).toBeNull();
    expect(histogram([NaN], 8)).toBeNull();
  });
  it('puts values on an edge in the upper bin despite rounding in (v - min) * bins / range', () => {
    const r = rng(5);
    for (let trial = 0; trial < 200; trial++) {
      const lo = r() * 10 - 5, hi = lo + r() * 3 + 1e-3, bins = 3 + Math.floor(r() * 60);
      const step = (hi - lo) / bins;
      const values = [lo, hi, ...Array.from({ length: 20 }, () => lo + Math.floor(r() * bins) * step)];
      const h = histogram(values, bins)!;
      for (const v of values) {
        let b = 0;
        while (b < bins - 1 && v >= h.edges[b + 1]) b++;
        expect(v >= h.edges[b] && (v < h.edges[b + 1] || b === bins - 1)).toBe(true);
      }
      expect(h.counts.reduce((a, c) => a + c, 0)).toBe(values.length);
    }
  });
});

describe('multiOtsuIndices (dynamic programme) against an exhaustive search', () => {
  for (const convention of ['exact', 'skimage'] as const) {
    it(`finds the same thresholds on random small histograms, K = 2..5 (${convention})`, () => {
      const r = rng(convention === 'exact' ? 11 : 12);
      for (let trial = 0; trial < 300; trial++) {
        const classes = 2 + (trial % 4);
        const bins = classes + Math.floor(r() * (classes === 5 ? 12 : 18));
        // Integer counts with many empty bins (exact ties) or real-valued weights.
        const counts = Array.from({ length: bins }, () => (trial % 2 ? (r() < 0.4 ? 0 : Math.floor(r() * 20)) : r()));
        const want = exhaustive(counts, classes, convention);
        const got = multiOtsuIndices(counts, classes, convention);
        expect(got, `counts ${counts} classes ${classes}`).toEqual(want.indices);
        expect(betweenClassVariance(counts, got, convention)).toBeCloseTo(want.sigma, 9);
      }
    });
  }
  it('breaks ties towards the lowest thresholds (empty bins between clusters)', () => {
    expect(multiOtsuIndices([5, 0, 0, 0, 5, 0, 0, 5], 3)).toEqual([0, 4]);
    expect(multiOtsuIndices([0, 3, 3, 0, 0, 0, 0, 3, 0], 2)).toEqual([2]);
  });
  it('rejects too few bins or classes', () => {
    expect(() => multiOtsuIndices([1, 2], 3)).toThrow(RangeError);
    expect(() => multiOtsuIndices([1, 2, 3], 1)).toThrow(RangeError);
  });
  it('is fast enough for 4096 bins and 5 classes', () => {
    const r = rng(3);
    const counts = Array.from({ length: 4096 }, () => Math.floor(r() * 10));
    const t0 = performance.now();
    const idx = multiOtsuIndices(counts, 5);
    const ms = performance.now() - t0;
    expect(idx).toHaveLength(4);
    expect(ms).toBeLessThan(3000);
  });
});

describe('multiOtsu (threshold values as scikit-image reports them)', () => {
  it('splits three well separated clusters between them (cuts = centres of the last bin of the lower clusters)', () => {
    const values = [0, 0.1, 0.2, 5, 5.1, 5.2, 10, 10.1, 10.2];
    const res = multiOtsu(values, 3, 256)!;
    const w = 10.2 / 256;
    expect(res.indices).toEqual([5, 130]); // the bins holding 0.2 and 5.2
    // scikit-image 0.19.3: threshold_multiotsu(values, classes=3, nbins=256) = [0.219140625, 5.199609375]
    expect(res.centres[0]).toBeCloseTo(0.219140625, 12);
    expect(res.centres[1]).toBeCloseTo(5.199609375, 12);
    expect(res.cuts[0]).toBeCloseTo(6 * w, 12);
    expect(res.cuts[1]).toBeCloseTo(131 * w, 12);
    expect(values.map((v) => classOf(v, res.cuts))).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2]);
    // Why the cuts are bin edges: 5.2 lies above its bin's centre, so comparing with the centres
    // (np.digitize(values, skimage_thresholds)) would put it with the top cluster.
    expect(classOf(5.2, res.centres)).toBe(2);
  });
  it('matches scikit-image 0.19.3 on recorded inputs (convention skimage), and the true optimum (exact)', () => {
    // Recorded with threshold_multiotsu(np.array(values), classes=3, nbins=16); exact = float64 exhaustive search.
    const fixtures = [
      { values: [0.067, 0.096, 0.083, 0.024, 0.032, 0.094, 0.001, 0.088, 0.085, 0.05, 0.032, 0.03, 0.027, 0.048, 0.054, 0.059, 0.107, 0.085, 0.067, 0.106, 0.023, 0.017, 0.066, 0.005],
        skimage: [0.0308125, 0.06393750000000001], exact: [0.0308125, 0.06393750000000001] },
      { values: [1.346, 1.219, 2.397, 1.645, 1.344, 1.299, 0.647, 0.031, 0.503, 1.809, 0.524, 0.966, 0.01, 2.17, 0.404, 0.7, 2.301, 1.333, 2.214, 1.672, 1.939, 0.239, 1.415, 1.327],
        skimage: [0.68134375, 1.57646875], exact: [0.68134375, 1.57646875] },
      { values: [2.106, 1.432, 0.932, 1.14, 1.901, 0.75, 1.285, 1.489, 0.774, 1.13, 1.666, 1.98, 0.329, 2.033, 0.011, 1.64, 1.765, 0.298, 0.912, 1.775, 0.031, 1.369, 1.727, 1.117],
        skimage: [0.73115625, 1.3858437499999998], exact: [0.33834374999999994, 1.3858437499999998] },
      { values: [2.305, 0.76, 1.597, 2.059, 1.897, 2.424, 2.279, 2.432, 0.07, 1.158, 1.284, 0.173, 0.015, 2.2, 2.604, 2.078, 0.836, 1.868, 0.792, 1.962, 0.741, 2.073, 2.616, 2.612],
        skimage: [0.74653125, 1.5593437499999998], exact: [0.09628125000000001, 1.5593437499999998] },
      { values: [0.486, 0.308, 1.393, 1.222, 1.454, 0.399, 1.314, 0.136, 0.013, 0.326, 1.421, 0.981, 1.121, 1.077, 1.156, 0.587, 1.309, 0.027, 0.685, 0.099, 0.229, 1.644, 1.095, 1.437],
        skimage: [0.67559375, 1.1852812499999998], exact: [0.26784375, 0.67559375] },
    ];
    for (const f of fixtures) {
      const sk = multiOtsu(f.values, 3, 16, 'skimage')!.centres, ex = multiOtsu(f.values, 3, 16)!.centres;
      f.skimage.forEach((v, i) => expect(sk[i]).toBeCloseTo(v, 12));
      f.exact.forEach((v, i) => expect(ex[i]).toBeCloseTo(v, 12));
    }
  });
  it('returns null when the values cannot be split: none, all equal, fewer occupied bins than classes', () => {
    expect(multiOtsu([], 3, 256)).toBeNull();
    expect(multiOtsu([0.4, 0.4, 0.4], 3, 256)).toBeNull();
    expect(multiOtsu([0, 1, 0, 1], 3, 256)).toBeNull();
    expect(multiOtsu([0, 1e-9, 1], 3, 16)).toBeNull(); // 0 and 1e-9 share a bin
  });
  it('with exactly `classes` occupied bins thresholds at all but the last of them (as scikit-image)', () => {
    const res = multiOtsu([0, 0, 0.5, 1, 1], 3, 16)!;
    expect(res.indices).toEqual([0, 8]);
    expect(res.centres).toEqual([res.histogram.centres[0], res.histogram.centres[8]]);
    expect(res.cuts).toEqual([res.histogram.edges[1], res.histogram.edges[9]]);
    expect([0, 0.5, 1].map((v) => classOf(v, res.cuts))).toEqual([0, 1, 2]);
  });
  it('classOf: class 0 is v < c1, class k is ck <= v < ck+1 (np.digitize)', () => {
    expect([0, 1, 1.5, 2, 3].map((v) => classOf(v, [1, 2]))).toEqual([0, 1, 1, 2, 2]);
    expect(classOf(5, [])).toBe(0);
  });
});
