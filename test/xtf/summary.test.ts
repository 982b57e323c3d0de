import { describe, expect, it } from 'vitest';
import { xtfOptions } from '../../src/xtf/options.ts';
import { reselect } from '../../src/xtf/select.ts';
import { MOST_FLAGGED_TOP, formatSummary, summarize } from '../../src/xtf/summary.ts';
import type { Attribute, ScoredExample } from '../../src/xtf/types.ts';

/** A scored example from label tokens given as [token, piece, flags]; `prompt` prompt tokens first. */
function scored(id: string, prompt: number, label: [number, string, Attribute[]][], truncated?: number): ScoredExample {
  const n = prompt + label.length;
  const isLabel = Array.from({ length: n }, (_, i) => i >= prompt);
  const flags = [...Array.from({ length: prompt }, (): Attribute[] => []), ...label.map((l) => l[2])];
  return {
    id, label: isLabel,
    tokens: [...Array.from({ length: prompt }, () => 999), ...label.map((l) => l[0])],
    pieces: [...Array.from({ length: prompt }, () => 'P'), ...label.map((l) => l[1])],
    p: isLabel.map((l) => (l ? 0.5 : null)), ri: isLabel.map((l) => (l ? 1 : null)), kn: isLabel.map((l) => (l ? 0.5 : null)), tr: isLabel.map((l) => (l ? 1 : null)),
    flags, lossMask: flags.map((f, i) => (isLabel[i] && f.length === 0 ? 1 : 0)),
    ...(truncated === undefined ? {} : { truncated }),
  };
}

describe('summarize', () => {
  // 10 label tokens: ri flags 4, kn flags 3, tr flags 2; ri∩kn 2, ri∩tr 1, kn∩tr 0; union 6.
  const data = [
    scored('a', 3, [
      [1, ' the', ['ri', 'kn']], [1, ' the', ['ri']], [2, '\n', ['tr']], [3, ' cat', []], [1, ' the', []],
    ]),
    scored('b', 1, [
      [4, '=', ['ri', 'kn']], [5, '7', ['ri', 'tr']], [3, ' cat', ['kn']], [6, '.', []], [7, '!', []],
    ], 12),
    scored('c', 2, [], 0),
  ];
  const s = summarize(data, { method: 'xtf', seconds: 2, tokensPerSecond: 1000, thresholds: { riFences: { a: 0.1, b: null, c: null }, knThreshold: 0.05, trCuts: [0.2, 0.6] } });
  it('counts fractions flagged per attribute and masked (the union) over label tokens', () => {
    expect(s.examples).toBe(3);
    expect(s.labelTokens).toBe(10);
    expect(s.fractionFlagged).toEqual({ ri: 0.4, kn: 0.3, tr: 0.2 });
    expect(s.fractionMasked).toBe(0.6);
  });
  it('reports pairwise overlaps as counts and |A∩B| / min(|A|, |B|)', () => {
    expect(s.overlaps).toEqual([
      { pair: ['ri', 'kn'], count: 2, overlap: 2 / 3 },
      { pair: ['ri', 'tr'], count: 1, overlap: 1 / 2 },
      { pair: ['kn', 'tr'], count: 0, overlap: 0 },
    ]);
  });
  it('lists the most flagged token types with the share of their label occurrences', () => {
    expect(s.mostFlagged.ri[0]).toEqual({ piece: ' the', token: 1, count: 2, share: 2 / 3 });
    expect(s.mostFlagged.ri.slice(1).map((m) => m.token)).toEqual([4, 5]); // count 1, share 1: token order
    expect(s.mostFlagged.kn.map((m) => [m.token, m.share])).toEqual([[4, 1], [1, 1 / 3], [3, 0.5]].sort((x, y) => y[1] - x[1] || x[0] - y[0]));
    expect(s.mostFlagged.tr.map((m) => m.piece)).toEqual(['\n', '7']);
  });
  it('keeps the top MOST_FLAGGED_TOP types', () => {
    const many = scored('m', 0, Array.from({ length: 30 }, (_, i): [number, string, Attribute[]] => [i, `p${i}`, ['kn']]));
    expect(summarize([many], { method: 'xtf' }).mostFlagged.kn).toHaveLength(MOST_FLAGGED_TOP);
  });
  it('counts truncation and passes the meta through', () => {
    expect(s.truncatedExamples).toBe(1);
    expect(s.truncatedTokens).toBe(12);
    expect([s.method, s.seconds, s.tokensPerSecond]).toEqual(['xtf', 2, 1000]);
    expect(s.thresholds?.trCuts).toEqual([0.2, 0.6]);
  });
  it('uses weights for the masked fraction (a baseline has no flags)', () => {
    const base = data.map((x) => ({ ...x, flags: x.flags.map((): Attribute[] => []), lossMask: x.label.map((l, i) => (l && i % 2 ? 1 : 0)) }));
    const b = summarize(base, { method: 'random' });
    expect(b.fractionFlagged).toEqual({ ri: 0, kn: 0, tr: 0 });
    expect(b.fractionMasked).toBe(0.4); // odd positions kept: 3 of 5 label tokens in a and in b
    expect(b.thresholds).toBeNull();
  });
  it('is all zeros without label tokens', () => {
    const e = summarize([scored('e', 3, [])], { method: 'xtf' });
    expect(e.fractionMasked).toBe(0);
    expect(e.overlaps.every((o) => o.overlap === 0)).toBe(true);
  });
  it('agrees with the flags a selection produces', () => {
    const sel = reselect(data, xtfOptions({ kn: { threshold: 0.6 } })); // every kn = 0.5 is flagged
    expect(summarize(sel, { method: 'xtf' }).fractionFlagged.kn).toBe(1);
  });
});

describe('formatSummary', () => {
  it('prints a compact table with fractions, thresholds, overlaps and the most flagged pieces', () => {
    const data = [scored('a', 1, [[1, ' the', ['ri', 'kn']], [2, '\n', ['tr']], [3, ' cat', []], [1, ' the', []]], 5)];
    const text = formatSummary(summarize(data, { method: 'xtf', seconds: 1.5, tokensPerSecond: 2000, thresholds: { riFences: { a: -0.25 }, knThreshold: 0.05, trCuts: [0.2, 0.6] } }));
    expect(text).toContain('xtf: 1 examples, 4 label tokens, masked 50.0% (2)');
    expect(text).toContain('scoring 1.5 s, 2,000 tokens/s; truncated 1 examples (5 tokens)');
    expect(text).toMatch(/^ri\s+1\s+25\.0%\s+per-example fence, median -0\.25$/m);
    expect(text).toMatch(/^kn\s+1\s+25\.0%\s+S_KN < 0\.05$/m);
    expect(text).toMatch(/^tr\s+1\s+25\.0%\s+cuts 0\.2, 0\.6; noisy S_TR in \[0\.2, 0\.6\)$/m);
    expect(text).toContain('ri∩kn 1 (100.0%)');
    expect(text).toContain('"\\n" 1 (100.0%)');
    expect(text).toContain('" the" 1 (50.0%)');
    expect(text.split('\n').length).toBeLessThan(15);
  });
});
