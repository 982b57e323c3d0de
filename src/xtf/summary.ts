// The dataset-level explanation XTF gives (../../shared/XTF.md, "Explanations"): fraction flagged per
// attribute, masked fraction, overlaps between attributes, the most flagged token types, truncation.
//
// Conventions:
// - Everything counts LABEL tokens only (prompt tokens never carry flags or loss).
// - fractionFlagged[a]: label tokens whose flags include a, over label tokens (before the union).
// - fractionMasked: label tokens with lossMask 0, over label tokens. For XTF this is exactly the union of
//   the flags; for a baseline (a mask without flags) it is the baseline's mask.
// - overlaps: all three pairs (ri,kn), (ri,tr), (kn,tr), always listed; overlap = |A∩B| / min(|A|, |B|),
//   0 when either set is empty.
// - mostFlagged[a]: the MOST_FLAGGED_TOP token types a flags most often; share = flagged occurrences /
//   label occurrences of that type; ties by share, then token id. piece = the type's first decoded piece.
// - All fractions are 0 when there are no label tokens.
// - rules: which rule set XTF selected with, its caps and TR domain (null for baselines other than random).

import type { Attribute, DatasetSummary, DomainSummary, RulesSummary, ScoredExample, SelectionThresholds } from './types.ts';

export const MOST_FLAGGED_TOP = 10;
/** How many of them formatSummary prints per attribute. */
const FORMAT_TOP = 5;
const ATTRS: readonly Attribute[] = ['ri', 'kn', 'tr'];
const PAIRS: readonly [Attribute, Attribute][] = [['ri', 'kn'], ['ri', 'tr'], ['kn', 'tr']];

export interface SummaryMeta {
  /** 'xtf', or a baseline's name. */
  method: string;
  /** Wall time of the scoring pass (default 0). */
  seconds?: number;
  /** Tokens per second of the scoring pass (default 0). */
  tokensPerSecond?: number;
  thresholds?: SelectionThresholds | null;
  /** The rule set behind XTF's selection (default null: not an XTF selection). */
  rules?: RulesSummary | null;
}

/** Counts a summary needs, fed one example at a time: `xtf score` streams, so memory stays bounded. */
export class SummaryAccumulator {
  private examples = 0;
  private labelTokens = 0;
  private masked = 0;
  private truncatedExamples = 0;
  private truncatedTokens = 0;
  private readonly flagged: Record<Attribute, number> = { ri: 0, kn: 0, tr: 0 };
  private readonly pairCounts = [0, 0, 0];
  private readonly occurrences = new Map<number, number>();
  private readonly pieces = new Map<number, string>();
  private readonly byType: Record<Attribute, Map<number, number>> = { ri: new Map(), kn: new Map(), tr: new Map() };

  add(ex: ScoredExample): void {
    this.examples++;
    if (ex.truncated && ex.truncated > 0) { this.truncatedExamples++; this.truncatedTokens += ex.truncated; }
    const { label, flags, lossMask, tokens } = ex;
    for (let i = 0; i < label.length; i++) {
      if (!label[i]) continue;
      this.labelTokens++;
      if (!(lossMask[i] > 0)) this.masked++;
      const t = tokens[i];
      this.occurrences.set(t, (this.occurrences.get(t) ?? 0) + 1);
      if (!this.pieces.has(t)) this.pieces.set(t, ex.pieces[i] ?? '');
      const f = flags[i];
      if (!f || f.length === 0) continue;
      let ri = false, kn = false, tr = false;
      for (const a of f) {
        if (a === 'ri') ri = true; else if (a === 'kn') kn = true; else if (a === 'tr') tr = true;
      }
      for (const a of ATTRS) {
        if (a === 'ri' ? ri : a === 'kn' ? kn : tr) {
          this.flagged[a]++;
          const m = this.byType[a];
          m.set(t, (m.get(t) ?? 0) + 1);
        }
      }
      if (ri && kn) this.pairCounts[0]++;
      if (ri && tr) this.pairCounts[1]++;
      if (kn && tr) this.pairCounts[2]++;
    }
  }

  result(meta: SummaryMeta): DatasetSummary {
    const { labelTokens, flagged, pairCounts } = this;
    const frac = (n: number) => (labelTokens ? n / labelTokens : 0);
    const top = (a: Attribute) => [...this.byType[a]]
      .map(([token, count]) => ({ piece: this.pieces.get(token) ?? '', token, count, share: count / (this.occurrences.get(token) ?? count) }))
      .sort((x, y) => y.count - x.count || y.share - x.share || x.token - y.token)
      .slice(0, MOST_FLAGGED_TOP);
    return {
      method: meta.method,
      rules: meta.rules ?? null,
      examples: this.examples,
      labelTokens,
      fractionFlagged: { ri: frac(flagged.ri), kn: frac(flagged.kn), tr: frac(flagged.tr) },
      fractionMasked: frac(this.masked),
      overlaps: PAIRS.map(([a, b], k) => {
        const m = Math.min(flagged[a], flagged[b]);
        return { pair: [a, b] as [Attribute, Attribute], count: pairCounts[k], overlap: m > 0 ? pairCounts[k] / m : 0 };
      }),
      mostFlagged: { ri: top('ri'), kn: top('kn'), tr: top('tr') },
      thresholds: meta.thresholds ?? null,
      tokensPerSecond: meta.tokensPerSecond ?? 0,
      seconds: meta.seconds ?? 0,
      truncatedExamples: this.truncatedExamples,
      truncatedTokens: this.truncatedTokens,
    };
  }
}

export function summarize(scored: readonly ScoredExample[], meta: SummaryMeta): DatasetSummary {
  const acc = new SummaryAccumulator();
  for (const ex of scored) acc.add(ex);
  return acc.result(meta);
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const num = (x: number) => (Number.isInteger(x) ? String(x) : Math.abs(x) >= 1e-3 && Math.abs(x) < 1e4 ? x.toFixed(4).replace(/0+$/, '').replace(/\.$/, '') : x.toExponential(2));
/** A token piece made visible: quoted, with whitespace and control characters escaped. */
const show = (piece: string) => JSON.stringify(piece);

function thresholdText(a: Attribute, t: SelectionThresholds | null): string {
  if (!t) return '';
  if (a === 'kn') return `S_KN < ${num(t.knThreshold)}`;
  if (a === 'tr') {
    if (t.trCuts.length === 0) return 'no Multi-Otsu cuts (too few distinct values)';
    const band = t.trCuts.length >= 2 ? `[${num(t.trCuts[0])}, ${num(t.trCuts[1])})` : `>= ${num(t.trCuts[0])}`;
    return `cuts ${t.trCuts.map(num).join(', ')}; noisy S_TR in ${band}`;
  }
  const fences = Object.values(t.riFences).filter((f): f is number => f !== null).sort((x, y) => x - y);
  const none = Object.keys(t.riFences).length - fences.length;
  if (fences.length === 0) return `no fences (${none} examples too short)`;
  const median = fences[Math.floor((fences.length - 1) / 2)];
  return `per-example fence, median ${num(median)}${none ? `, ${none} examples too short` : ''}`;
}

/** The released rules' threshold column: the caps and each rule's cut (the per-answer cuts are in the examples). */
function releasedThresholdText(a: Attribute, r: RulesSummary): string {
  const caps = r.caps, rel = r.released;
  if (!caps || !rel) return '';
  if (a === 'ri') return `per answer: < Q1 − ${num(rel.iqrFactor)}·IQR, capped at ${pct(caps.ri)} of the answer`;
  if (a === 'kn') return `per answer: p > ${num(rel.knFloor)}, capped at ${pct(caps.kn)} of the answer`;
  const t = rel.tr;
  if (t.cut === null) return `no ${t.classes}-class Multi-Otsu split (too few distinct values): nothing masked`;
  return `similarity < ${num(t.cut)} (Multi-Otsu thresholds ${t.thresholds.map(num).join(', ')} over ${int(t.occurrences)} occurrences), capped at ${pct(caps.tr)} of the answer`;
}

/** Where TR's domain vector came from, in words (every report that names the rules says it this way). */
export function domainText(d: DomainSummary): string {
  const words = d.words ? d.words.join(' ') : '';
  return d.source === 'label-mean' || d.source === 'label-mean fallback'
    ? d.source
    : `${d.source === 'task' ? `${d.task}'s default words` : 'domain words'} ${words.length > 80 ? `${words.slice(0, 77)}...` : words} (${d.words?.length ?? 0})${d.skipped.length ? `, skipped ${d.skipped.map(show).join(' ')} (no token)` : ''}`;
}

/** One line naming the rule set, its caps and the TR domain. */
export function rulesText(r: RulesSummary): string {
  const caps = r.caps ? `, caps ri ${num(r.caps.ri)} kn ${num(r.caps.kn)} tr ${num(r.caps.tr)}` : '';
  return `rules ${r.rules}${caps}; TR domain: ${domainText(r.domain)}`;
}

/** A compact human-readable table of a summary, for the terminal. */
export function formatSummary(s: DatasetSummary): string {
  const rows: string[] = [];
  const pad = (x: string, w: number) => x.padEnd(w);
  const lpad = (x: string, w: number) => x.padStart(w);
  rows.push(`${s.method}: ${int(s.examples)} examples, ${int(s.labelTokens)} label tokens, masked ${pct(s.fractionMasked)} (${int(s.fractionMasked * s.labelTokens)})`);
  const extra: string[] = [];
  if (s.seconds > 0 || s.tokensPerSecond > 0) extra.push(`scoring ${s.seconds.toFixed(1)} s, ${int(s.tokensPerSecond)} tokens/s`);
  extra.push(s.truncatedExamples ? `truncated ${int(s.truncatedExamples)} examples (${int(s.truncatedTokens)} tokens)` : 'nothing truncated');
  rows.push(extra.join('; '));
  if (s.rules) rows.push(rulesText(s.rules));
  rows.push(`${pad('attribute', 10)}${lpad('flagged', 10)}${lpad('fraction', 10)}  threshold`);
  for (const a of ATTRS) {
    const f = s.fractionFlagged[a];
    rows.push(`${pad(a, 10)}${lpad(int(f * s.labelTokens), 10)}${lpad(pct(f), 10)}  ${s.rules?.rules === 'released' ? releasedThresholdText(a, s.rules) : thresholdText(a, s.thresholds)}`.trimEnd());
  }
  rows.push(`${pad('union', 10)}${lpad(int(s.fractionMasked * s.labelTokens), 10)}${lpad(pct(s.fractionMasked), 10)}`);
  rows.push(`overlap   ${s.overlaps.map((o) => `${o.pair.join('∩')} ${int(o.count)} (${pct(o.overlap)})`).join('   ')}`);
  rows.push('most flagged (count, share of the type):');
  for (const a of ATTRS) {
    const list = s.mostFlagged[a].slice(0, FORMAT_TOP);
    rows.push(`  ${a}  ${list.length ? list.map((m) => `${show(m.piece)} ${int(m.count)} (${pct(m.share)})`).join(', ') : '-'}`);
  }
  return rows.join('\n');
}
