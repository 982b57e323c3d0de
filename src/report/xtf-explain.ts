// The XTF explanation page: one self-contained HTML page that explains a selection to a person — the
// dataset summary, chosen examples as token heatmaps (hover a token for its scores and why it was kept or
// masked), and histograms of the three scores with the thresholds the selection used. No external assets;
// all text is escaped. The page's style and tooltip script are assets/xtf-explain.css and .js, embedded
// at build time (scripts/embed-shaders.mjs); the CSS's {{ri}}, {{kn}}, {{tr}} are the attribute colours.
import { reportAssets } from './assets.generated.ts';
import { escapeHtml, pieceLabel, scriptJson, visiblePiece } from './html.ts';
import { COLOURS, fmtNum, int, NAMES, pct } from './xtf-format.ts';
import { histogramSvg } from './xtf-histogram.ts';
import { ruleChecksSource } from './rule-checks.ts';
import { rulesView, type RulesView } from './xtf-rules-view.ts';
import { chooseExamples, labelScores } from '../xtf/explain.ts';
import { ATTRIBUTES } from '../xtf/scorefile.ts';
import type { Attribute, DatasetSummary, ScoredExample } from '../xtf/types.ts';

export interface ExplainOptions {
  /** Which examples to draw: their ids (in this order), or the first N (default 20). */
  examples?: string[] | number;
  /** Page title (default "XTF token filtering report"). */
  title?: string;
}

const CSS = reportAssets['xtf-explain.css'].replace(/\{\{(ri|kn|tr)\}\}/g, (_, a: Attribute) => COLOURS[a].strong);
/** Tooltip: a few lines filling one floating box from the token's data-d attribute and its card's rule
 *  context (data-rc), judged by ruleChecks (./rule-checks.ts, its source put where the script asks). */
const SCRIPT = reportAssets['xtf-explain.js'].replace('/*RULE_CHECKS*/', () => ruleChecksSource());

function flagClass(flags: readonly Attribute[]): string {
  const sorted = ATTRIBUTES.filter((a) => flags.includes(a));
  return `m c-${sorted.join('-')}`;
}

/** CSS for the seven flag combinations: tinted background (stripes for 2–3) and stacked underline bars. */
function combinationCss(): string {
  const rules: string[] = [];
  for (let mask = 1; mask < 8; mask++) {
    const set = ATTRIBUTES.filter((_, k) => mask & (1 << k));
    const bg = set.length === 1
      ? COLOURS[set[0]].light
      : `repeating-linear-gradient(135deg,${set.map((a, k) => `${COLOURS[a].light} ${k * 5}px ${(k + 1) * 5}px`).join(',')})`;
    const bars = set.map((a, k) => `inset 0 -${(k + 1) * 2.5}px 0 ${COLOURS[a].strong}`).join(',');
    rules.push(`.c-${set.join('-')}{background:${bg};box-shadow:${bars};padding-bottom:${1 + set.length * 2.5}px}`);
  }
  return rules.join('\n');
}

function tokenSpan(ex: ScoredExample, i: number): string {
  const d = [ex.tokens[i], i, ex.p[i] ?? '', ex.ri[i] ?? '', ex.kn[i] ?? '', ex.tr[i] ?? '', ex.flags[i].join('+'), ex.lossMask[i]]
    .map((v) => (typeof v === 'number' ? String(Number(v.toPrecision(6))) : v))
    .join(';');
  let cls = 't p';
  if (ex.label[i]) cls = ex.lossMask[i] === 0 ? `t l ${ex.flags[i].length ? flagClass(ex.flags[i]) : 'm c-none'}` : 't l';
  const piece = ex.pieces[i];
  const text = piece !== '' || ex.label[i] ? visiblePiece(piece) : i === 0 ? '<span class="bos">BOS</span>' : '';
  return `<span class="${cls}" data-d="${escapeHtml(d)}">${text}</span>`;
}

function exampleCard(ex: ScoredExample, view: RulesView): string {
  let labels = 0, masked = 0;
  const by: Record<Attribute, number> = { ri: 0, kn: 0, tr: 0 };
  ex.label.forEach((l, i) => {
    if (!l) return;
    labels++;
    if (ex.lossMask[i] === 0) masked++;
    for (const a of ex.flags[i]) by[a]++;
  });
  const meta = [
    `${int(labels)} label tokens`,
    `<b>${int(masked)} masked</b> (${pct(labels ? masked / labels : 0)})`,
    ...ATTRIBUTES.map((a) => `<span><span class="sw" style="background:${COLOURS[a].strong}"></span>${NAMES[a].short} ${int(by[a])}</span>`),
    view.cardMeta(ex),
    ex.truncated ? `${int(ex.truncated)} tokens cut to fit the context` : '',
  ].filter(Boolean);
  const body = ex.tokens.map((_, i) => tokenSpan(ex, i)).join('');
  return `<article class="card ex" id="ex-${escapeHtml(ex.id)}" data-id="${escapeHtml(ex.id)}" data-rc="${escapeHtml(JSON.stringify(view.context(ex)))}">
<header><span class="id">${escapeHtml(ex.id)}</span><span class="meta">${meta.map((m) => `<span>${m}</span>`).join('')}</span></header>
<div class="text">${body}</div></article>`;
}

function legend(): string {
  const sample = (cls: string, text: string): string => `<span class="t ${cls}">${text}</span>`;
  const items = [
    `${sample('p', 'Question')}<span>prompt (never in the loss)</span>`,
    `${sample('l', 'kept')}<span>label token, kept</span>`,
    ...ATTRIBUTES.map((a) => `${sample(`l m c-${a}`, NAMES[a].short)}<span>masked by ${NAMES[a].long.toLowerCase()}</span>`),
    `${sample('l m c-ri-kn', 'RI+KN')}${sample('l m c-kn-tr', 'KN+TR')}${sample('l m c-ri-kn-tr', 'all')}<span>flagged by several: stripes and one underline bar per attribute</span>`,
    `<span class="t l"><span class="ws">·</span></span><span class="t l"><span class="ws">↵</span></span><span>a space-only token, a newline</span>`,
    `<span class="t p"><span class="bos">BOS</span></span><span class="t l"><span class="ws e">∅</span></span><span>BOS, a token with no text of its own (e.g. one byte of a character)</span>`,
  ];
  return `<div class="legend">${items.map((i) => `<span class="item">${i}</span>`).join('')}</div>`;
}

/** The report page. `summary` may come from the summary file or from summaryFromRecords (thresholds null). */
export function explainHtml(scored: ScoredExample[], summary: DatasetSummary, opts: ExplainOptions = {}): string {
  const chosen = chooseExamples(scored, opts.examples);
  const title = opts.title ?? 'XTF token filtering report';
  const view = rulesView(summary, scored);

  // Histogram data over every label token of the file.
  const { values: vals, flagged: hit } = labelScores(scored);
  const hists = ATTRIBUTES.map((attr) => histogramSvg({ attr, values: vals[attr], flagged: hit[attr], ...view.histograms[attr] }));

  // Summary blocks.
  const s = summary;
  const labelTokens = s.labelTokens;
  const speed = Number.isFinite(s.tokensPerSecond) && s.tokensPerSecond > 0 ? `${int(s.tokensPerSecond)} tok/s` : 'unknown';
  const stats = [
    [int(s.examples || scored.length), 'examples'],
    [int(labelTokens), 'label tokens scored'],
    [pct(s.fractionMasked), `masked (${int(Math.round(s.fractionMasked * labelTokens))} tokens)`],
    [speed, Number.isFinite(s.seconds) && s.seconds > 0 ? `scoring speed (${fmtNum(s.seconds)} s)` : 'scoring speed'],
    [int(s.truncatedExamples), s.truncatedExamples ? `examples truncated (${int(s.truncatedTokens)} tokens cut)` : 'examples truncated'],
  ];
  const barRow = (name: string, small: string, frac: number, colour: string): string =>
    `<div class="row"><div class="rtop"><span class="name">${name}</span><span class="num">${pct(frac)} <small>${int(Math.round(frac * labelTokens))} tokens</small></span></div><div class="bar"><span style="width:${Math.min(100, Math.max(0, 100 * frac)).toFixed(2)}%;background:${colour}"></span></div><div class="rule">${small}</div></div>`;
  const bars = [
    ...ATTRIBUTES.map((a) => barRow(`<span class="sw" style="background:${COLOURS[a].strong}"></span>${NAMES[a].short} · ${NAMES[a].long}`, view.text[a].rule, s.fractionFlagged[a] ?? 0, COLOURS[a].strong)),
    barRow('Masked (union)', 'noisy = RI or KN or TR', s.fractionMasked, '#3b4658'),
  ].join('');
  const overlapRows = (s.overlaps ?? [])
    .map((o) => {
      const [a, b] = o.pair;
      return `<tr><td><span class="sw" style="background:${COLOURS[a].strong}"></span>${NAMES[a].short} ∩ <span class="sw" style="background:${COLOURS[b].strong}"></span>${NAMES[b].short}</td><td class="r">${int(o.count)}</td><td class="r">${pct(o.overlap)}</td></tr>`;
    })
    .join('');
  const typeLists = ATTRIBUTES.map((a) => {
    const list = (s.mostFlagged?.[a] ?? []).slice(0, 10);
    const items = list.length
      ? list.map((m) => `<li><span class="chip">${pieceLabel(m.piece)}</span><span class="n">${int(m.count)} · ${pct(m.share)} of its uses</span></li>`).join('')
      : '<li><span class="n">none</span></li>';
    return `<div class="card"><h3><span class="sw" style="background:${COLOURS[a].strong}"></span>Most flagged by ${NAMES[a].short}</h3><ol>${items}</ol></div>`;
  }).join('');

  const data = { colour: { ri: COLOURS.ri.strong, kn: COLOURS.kn.strong, tr: COLOURS.tr.strong } };
  const shownNote = chosen.length < scored.length ? `${int(chosen.length)} of ${int(scored.length)} examples shown` : `all ${int(scored.length)} examples shown`;

  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="xtf explain">
<title>${escapeHtml(title)}</title>
<style>
${CSS}
${combinationCss()}
.c-none{background:#e6e9ee}
</style>
</head>
<body>
<main>
<header class="top"><div><h1>${escapeHtml(title)}</h1><p class="sub">Explainable token-level noise filtering (XTF): every label token scored on three attributes; a token failing any of them is masked from the loss. Method: ${escapeHtml(String(s.method ?? 'xtf'))}${view.rules ? `, ${view.rules} rules` : ''}.</p></div>
<nav><a href="#summary">Summary</a><a href="#scores">Scores</a><a href="#examples">Examples</a></nav></header>

<section id="summary">
<div class="stats">${stats.map(([v, k]) => `<div class="card stat"><div class="v">${v}</div><div class="k">${k}</div></div>`).join('')}</div>
<div class="grid2">
<div class="card bars"><h3>Label tokens flagged per attribute</h3>${bars}</div>
<div class="card"><h3>Overlap between attributes</h3><table><tr><th>pair</th><th class="r">both</th><th class="r">overlap</th></tr>${overlapRows}</table>
<p class="sub" style="font-size:12.5px;margin-top:6px">overlap = |A ∩ B| / min(|A|, |B|)</p>
<h3 style="margin-top:14px">Thresholds</h3>${view.thresholdsHtml}</div>
</div>
<div class="types">${typeLists}</div>
</section>

<section id="scores">
<h2>Score distributions over all ${int(vals.kn.length || vals.ri.length || vals.tr.length)} label tokens</h2>
<div class="hists">${hists.join('')}</div>
</section>

<section id="examples">
<h2>Examples <span class="sub" style="font-size:14px;font-weight:400">· ${shownNote} · hover a token for its scores</span></h2>
<div class="card">${legend()}
<div class="explain">${ATTRIBUTES.map((a) => `<div><b style="color:${COLOURS[a].strong}">${NAMES[a].short}</b> ${escapeHtml(view.text[a].score)}; ${escapeHtml(view.text[a].rule)}.</div>`).join('')}</div></div>
<div class="tools"><label><input type="checkbox" id="bounds"> show token boundaries</label></div>
${chosen.map((ex) => exampleCard(ex, view)).join('\n')}
</section>
<footer>Generated by <code class="inl">xtf explain</code>. Colours: Okabe–Ito palette (readable with common colour-vision deficiencies). Page is self-contained and works offline.</footer>
</main>
<div id="tip" hidden></div>
<script type="application/json" id="xtf-data">${scriptJson(data)}</script>
<script>
${SCRIPT}</script>
</body>
</html>
`;
}
