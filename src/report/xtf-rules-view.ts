// What the explanation page (xtf-explain.ts) says about the rule set behind a selection: each attribute's
// score and rule in words, the histograms' lines and ticks, the thresholds table, each example's cuts and
// the context its tooltip judges tokens with (./rule-checks.ts). The paper's rules have dataset-wide
// thresholds (plus RI's per-example fences); the released rules cut per answer, capped by a share of the
// answer, with one dataset-level cut for TR.
import { fenceStats, selectionRules } from '../xtf/explain.ts';
import { quantileSorted } from '../xtf/select.ts';
import { domainText } from '../xtf/summary.ts';
import type { Attribute, DatasetSummary, ScoredExample, XtfRules } from '../xtf/types.ts';
import { escapeHtml } from './html.ts';
import type { RuleContext } from './rule-checks.ts';
import type { HistogramSpec } from './xtf-histogram.ts';
import { fmtNum, int, NAMES, pct } from './xtf-format.ts';

type HistogramLines = Omit<HistogramSpec, 'attr' | 'values' | 'flagged'>;

export interface RulesView {
  rules: XtfRules | null;
  /** One line per attribute: how its score is made and when it flags, under these rules. */
  text: Record<Attribute, { score: string; rule: string }>;
  histograms: Record<Attribute, HistogramLines>;
  thresholdsHtml: string;
  /** The cuts that judged this example, for its card's header. */
  cardMeta(ex: ScoredExample): string;
  /** What its tooltip compares each token with. */
  context(ex: ScoredExample): RuleContext;
}

const UNKNOWN = '<b>Thresholds unknown</b> (no summary file): the bars still show which tokens were flagged.';

/** The view of the summary's rule set: released when the summary (or the records' cuts) say so, else the paper's. */
export function rulesView(summary: DatasetSummary, scored: readonly ScoredExample[]): RulesView {
  return selectionRules(summary, scored) === 'released' ? releasedView(summary, scored) : paperView(summary);
}

function paperView(s: DatasetSummary): RulesView {
  const th = s.thresholds ?? null;
  const { fences, median, q1, q3, none } = fenceStats(th);
  const trBand = (cuts: number[]): string =>
    cuts.length === 0 ? 'no cuts: nothing flagged' : cuts.length === 1 ? `noisy class S_TR ≥ ${fmtNum(cuts[0])}` : `noisy class [${fmtNum(cuts[0])}, ${fmtNum(cuts[1])})`;
  return {
    rules: th || s.rules ? 'paper' : null,
    text: {
      ri: { score: NAMES.ri.score, rule: "flagged when S_RI is below its example's Tukey fence Q1 − r·(Q3 − Q1)" },
      kn: { score: NAMES.kn.score, rule: 'flagged when S_KN is below the threshold (the model already predicts the token)' },
      tr: { score: "S_TR: closeness of the token type's input embedding to the domain vector", rule: 'flagged when S_TR falls in the second-lowest Multi-Otsu class' },
    },
    histograms: {
      ri: {
        title: 'Reasoning importance S_RI',
        markers: fences.length ? [{ x: median, label: `median fence ${fmtNum(median)}` }] : [],
        rug: fences,
        rugLabel: fences.length ? `per-example fences (${int(fences.length)})` : '',
        note: th
          ? `Fences are per example (Tukey, Q1 − r·IQR of that example's S_RI): a token is flagged when it is below <i>its own</i> example's fence, so flagged tokens appear on both sides of the median line. Ticks under the axis: the fences of all ${int(fences.length)} examples${none ? ` (${int(none)} examples with < 4 label tokens have none)` : ''}.`
          : UNKNOWN,
      },
      kn: {
        title: 'Knowledge novelty S_KN = 1 − p',
        markers: th ? [{ x: th.knThreshold, label: `threshold ${fmtNum(th.knThreshold)}` }] : [],
        domain: [0, 1],
        bins: 50,
        note: th ? `Global threshold: tokens left of the line (p &gt; ${fmtNum(1 - th.knThreshold)}) are already known to the model.` : UNKNOWN,
      },
      tr: {
        title: 'Task relevance S_TR',
        markers: th ? th.trCuts.map((c, k) => ({ x: c, label: `cut ${k + 1}: ${fmtNum(c)}` })) : [],
        band: th && th.trCuts.length ? [th.trCuts[0], th.trCuts.length >= 2 ? th.trCuts[1] : Infinity] : undefined,
        bandLabel: 'noisy class',
        domain: [0, 1],
        bins: 50,
        note: th
          ? `Multi-Otsu cuts over S_TR (one value per token type, counted here per occurrence). Below cut 1: the lowest class, skipped (spacing and format tokens); ${th.trCuts.length === 1 ? 'above it' : 'between cut 1 and cut 2'}: noisy.`
          : UNKNOWN,
      },
    },
    thresholdsHtml: th
      ? `<p class="sub">Rules: <b>paper</b> (the paper's text: dataset-wide thresholds, no per-answer caps).</p><table><tr><th>attribute</th><th>threshold</th></tr>
<tr><td>${NAMES.ri.short}</td><td>per-example fences: median ${fmtNum(median)}, middle half ${fmtNum(q1)} – ${fmtNum(q3)} (${int(fences.length)} examples${none ? `, ${int(none)} without` : ''})</td></tr>
<tr><td>${NAMES.kn.short}</td><td>S_KN &lt; ${fmtNum(th.knThreshold)} (p &gt; ${fmtNum(1 - th.knThreshold)})</td></tr>
<tr><td>${NAMES.tr.short}</td><td>${trBand(th.trCuts)}${th.trCuts.length > 2 ? `; all cuts ${th.trCuts.map(fmtNum).join(', ')}` : ''}</td></tr></table>${domainHtml(s)}`
      : `<p class="sub">Thresholds unknown: the summary file is missing or has none. Fractions are computed from the records.</p>`,
    cardMeta: (ex) => {
      if (!th) return '';
      const f = th.riFences[ex.id];
      return `RI fence ${f === null || f === undefined ? 'none (< 4 label tokens)' : fmtNum(f)}`;
    },
    context: (ex) => ({ rules: th ? 'paper' : null, riFence: th ? th.riFences[ex.id] ?? null : undefined, knThreshold: th?.knThreshold ?? null, trCuts: th?.trCuts ?? null }),
  };
}

function releasedView(s: DatasetSummary, scored: readonly ScoredExample[]): RulesView {
  const r = s.rules?.released ?? null;
  const caps = s.rules?.caps ?? null;
  const withCuts = scored.filter((ex) => ex.cuts);
  const riCuts = sortedNumbers(withCuts.map((ex) => ex.cuts!.ri.cut));
  const capped = withCuts.filter((ex) => ex.cuts!.ri.capped).length;
  const knCaps = sortedNumbers(withCuts.map((ex) => (ex.cuts!.kn.cap === null ? null : 1 - ex.cuts!.kn.cap)));
  const trCaps = sortedNumbers(withCuts.map((ex) => ex.cuts!.tr.cap));
  const floor = r?.knFloor ?? withCuts[0]?.cuts!.kn.floor ?? null;
  const trCut = r?.tr.cut ?? withCuts.find((ex) => ex.cuts!.tr.cut !== null)?.cuts!.tr.cut ?? null;
  const capText = (a: Attribute) => (caps ? `at most ${pct(caps[a])} of each answer` : 'capped per answer');
  return {
    rules: 'released',
    text: {
      ri: { score: NAMES.ri.score, rule: `flagged when below its answer's fence Q1 − 1.5·IQR, ${capText('ri')}` },
      kn: { score: NAMES.kn.score, rule: `flagged when p > ${fmtNum(floor ?? 0.95)} and among its answer's surest tokens (${capText('kn')})` },
      tr: { score: "S_TR: cosine similarity of the token type's last hidden state (the token run alone) to the domain vector", rule: `flagged when below the dataset's Multi-Otsu cut and among its answer's least relevant tokens (${capText('tr')})` },
    },
    histograms: {
      ri: {
        title: 'Reasoning importance S_RI',
        markers: riCuts.length ? [{ x: median(riCuts), label: `median cut ${fmtNum(median(riCuts))}` }] : [],
        rug: riCuts,
        rugLabel: riCuts.length ? `per-answer cuts (${int(riCuts.length)})` : '',
        note: `Each answer has its own cut: its Tukey fence Q1 − 1.5·IQR, or, where more than ${caps ? pct(caps.ri) : 'ri-max'} of its tokens fall below the fence, its sorted score at that share (${int(capped)} of ${int(withCuts.length)} answers were capped). Ticks: every answer's cut.`,
      },
      kn: {
        title: 'Knowledge novelty S_KN = 1 − p',
        markers: floor !== null ? [{ x: 1 - floor, label: `p = ${fmtNum(floor)}` }] : [],
        rug: knCaps,
        rugLabel: knCaps.length ? `per-answer caps (${int(knCaps.length)})` : '',
        domain: [0, 1],
        bins: 50,
        note: `Flagged only left of the line (p &gt; ${fmtNum(floor)}) <i>and</i> left of its answer's cap (the answer's p at its top ${caps ? pct(caps.kn) : 'kn-max'}; ticks).`,
      },
      tr: {
        title: 'Task relevance (cosine similarity to the domain vector)',
        markers: trCut !== null ? [{ x: trCut, label: `dataset cut ${fmtNum(trCut)}` }] : [],
        rug: trCaps,
        rugLabel: trCaps.length ? `per-answer caps (${int(trCaps.length)})` : '',
        note: trCut === null
          ? 'No 5-class split of the similarities: TR masks nothing.'
          : `Flagged only left of the dataset cut (5-class Multi-Otsu over every token occurrence, prompts included${r ? `: ${int(r.tr.occurrences)} occurrences` : ''}) <i>and</i> below its answer's cap (the answer's similarity at its lowest ${caps ? pct(caps.tr) : 'tr-max'}; ticks).`,
      },
    },
    thresholdsHtml: `<p class="sub">Rules: <b>released</b> (the authors' code: per-answer cuts, each capped by a share of the answer).</p><table><tr><th>attribute</th><th>rule</th></tr>
<tr><td>${NAMES.ri.short}</td><td>below the answer's fence Q1 − ${fmtNum(r?.iqrFactor ?? 1.5)}·IQR; cap ri-max ${caps ? fmtNum(caps.ri) : '—'} (${int(capped)} of ${int(withCuts.length)} answers capped); median cut ${fmtNum(median(riCuts))}</td></tr>
<tr><td>${NAMES.kn.short}</td><td>p &gt; ${fmtNum(floor)} and above the answer's cap (kn-max ${caps ? fmtNum(caps.kn) : '—'})</td></tr>
<tr><td>${NAMES.tr.short}</td><td>similarity &lt; ${trCut === null ? '— (no cut: nothing flagged)' : fmtNum(trCut)} and below the answer's cap (tr-max ${caps ? fmtNum(caps.tr) : '—'})${r ? `; Multi-Otsu thresholds ${r.tr.thresholds.map(fmtNum).join(', ')}` : ''}</td></tr></table>${domainHtml(s)}`,
    cardMeta: (ex) => {
      const c = ex.cuts;
      if (!c) return '';
      return `cuts: RI ${fmtNum(c.ri.cut)}${c.ri.capped ? ' (capped)' : ''} · KN p &gt; ${fmtNum(Math.max(c.kn.floor, c.kn.cap ?? -Infinity))} · TR &lt; ${c.tr.cut === null || c.tr.cap === null ? '—' : fmtNum(Math.min(c.tr.cut, c.tr.cap))}`;
    },
    context: (ex) => ({ rules: 'released', cuts: ex.cuts ?? null }),
  };
}

/** Where TR's domain vector came from (both rule sets). */
function domainHtml(s: DatasetSummary): string {
  return s.rules ? `<p class="sub" style="font-size:12.5px;margin-top:6px">TR domain: ${escapeHtml(domainText(s.rules.domain))}</p>` : '';
}

function sortedNumbers(values: readonly (number | null)[]): number[] {
  return values.filter((v): v is number => v !== null && Number.isFinite(v)).sort((a, b) => a - b);
}

const median = (sorted: readonly number[]): number => quantileSorted(sorted, 0.5);
