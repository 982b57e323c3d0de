// One self-contained HTML page that explains an XTF selection to a person: the dataset summary, chosen
// examples as token heatmaps (hover a token for its scores and why it was kept or masked), and histograms
// of the three scores with the thresholds the selection used. No external assets; all text is escaped.
import { ATTRIBUTES } from './scorefile.ts';
import { summarize } from './summary.ts';
import type { Attribute, DatasetSummary, ScoredExample, SelectionThresholds } from './types.ts';

export interface ExplainOptions {
  /** Which examples to draw: their ids (in this order), or the first N (default 20). */
  examples?: string[] | number;
  /** Page title (default "XTF token filtering report"). */
  title?: string;
}

export const DEFAULT_EXPLAIN_EXAMPLES = 20;

/** Okabe–Ito colours (distinct under the common colour-vision deficiencies), strong and light. */
const COLOURS: Record<Attribute, { strong: string; light: string }> = {
  ri: { strong: '#0072B2', light: '#bcd9ef' },
  kn: { strong: '#E69F00', light: '#fadc96' },
  tr: { strong: '#CC79A7', light: '#efc6dd' },
};

const NAMES: Record<Attribute, { short: string; long: string; score: string; rule: string }> = {
  ri: {
    short: 'RI',
    long: 'Reasoning importance',
    score: 'S_RI: attention the token receives from later tokens',
    rule: "flagged when S_RI is below its example's Tukey fence Q1 − r·(Q3 − Q1)",
  },
  kn: {
    short: 'KN',
    long: 'Knowledge novelty',
    score: 'S_KN = 1 − p: how new the token is to the base model',
    rule: 'flagged when S_KN is below the threshold (the model already predicts the token)',
  },
  tr: {
    short: 'TR',
    long: 'Task relevance',
    score: "S_TR: closeness of the token type's embedding to the domain vector",
    rule: 'flagged when S_TR falls in the second-lowest Multi-Otsu class',
  },
};

// ---------------------------------------------------------------------------------------------------
// Text helpers

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESC[c]);
}

/** A JSON value safe inside <script type="application/json">. */
function scriptJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/**
 * A token's text as HTML with whitespace made visible: newlines show ↵ and then break the line, tabs ⇥,
 * other control characters their Unicode control pictures; a token that is only spaces shows them as ·.
 */
export function visiblePiece(piece: string): string {
  if (piece === '') return '<span class="ws e">∅</span>';
  const onlySpaces = /^ +$/.test(piece);
  let out = '';
  for (const ch of piece) {
    const c = ch.codePointAt(0)!;
    if (ch === '\n') out += '<span class="ws">↵</span>\n';
    else if (ch === '\t') out += '<span class="ws">⇥</span>\t';
    else if (ch === ' ' && onlySpaces) out += '<span class="ws">·</span>';
    else if (c < 0x20) out += `<span class="ws">${String.fromCodePoint(0x2400 + c)}</span>`;
    else if (c === 0x7f) out += '<span class="ws">␡</span>';
    else out += escapeHtml(ch);
  }
  return out;
}

/** A piece for a chip or a table: quotes kept off, whitespace shown as symbols. */
function pieceLabel(piece: string): string {
  if (piece === '') return '<span class="ws">∅</span>';
  let out = '';
  for (const ch of piece) {
    const c = ch.codePointAt(0)!;
    if (ch === ' ') out += '<span class="ws">␣</span>';
    else if (ch === '\n') out += '<span class="ws">↵</span>';
    else if (ch === '\t') out += '<span class="ws">⇥</span>';
    else if (c < 0x20) out += `<span class="ws">${String.fromCodePoint(0x2400 + c)}</span>`;
    else out += escapeHtml(ch);
  }
  return out;
}

export function fmtNum(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toLocaleString('en-US');
  if (a >= 0.01) return x.toFixed(3).replace(/\.?0+$/, '') || '0';
  return x.toExponential(2);
}

const pct = (x: number): string => (Number.isFinite(x) ? `${(100 * x).toFixed(x > 0 && x < 0.001 ? 2 : 1)}%` : '—');
const int = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '—');

// ---------------------------------------------------------------------------------------------------
// Summary from the records alone (when the summary file is missing)

/**
 * The fractions, overlaps and most-flagged types of a score file's records (summary.ts's summarize), for
 * a score file without its summary: thresholds and scoring speed unknown.
 */
export function summaryFromRecords(scored: readonly ScoredExample[]): DatasetSummary {
  return { ...summarize(scored, { method: 'unknown (no summary file; computed from the records)', thresholds: null }), tokensPerSecond: NaN, seconds: NaN };
}

// ---------------------------------------------------------------------------------------------------
// Histograms (inline SVG)

interface Marker {
  x: number;
  label: string;
}

interface HistogramSpec {
  attr: Attribute;
  title: string;
  values: number[];
  flagged: boolean[];
  markers: Marker[];
  /** Shaded [lo, hi) range (TR's noisy class). */
  band?: [number, number];
  bandLabel?: string;
  /** Small ticks under the axis (RI's per-example fences). */
  rug?: number[];
  rugLabel?: string;
  /** Fixed axis range (used when every value lies inside it, e.g. [0, 1] for S_KN and S_TR). */
  domain?: [number, number];
  bins?: number;
  note: string;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const at = (sorted.length - 1) * q, lo = Math.floor(at), hi = Math.ceil(at);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
}

function niceTicks(lo: number, hi: number, count: number): number[] {
  const span = hi - lo;
  if (!(span > 0)) return [lo];
  const raw = span / count, mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return ticks;
}

/** Count ticks for a square-root axis: 0 and a few round numbers spread evenly in sqrt space. */
function sqrtTicks(max: number): number[] {
  const ticks = new Set<number>([0]);
  for (const f of [1 / 16, 1 / 4, 9 / 16, 1]) {
    const v = f * max, mag = 10 ** Math.floor(Math.log10(Math.max(v, 1)));
    const r = Math.floor(v / mag) * mag;
    if (r > 0) ticks.add(r);
  }
  return [...ticks].sort((a, b) => a - b);
}

const tickLabel = (v: number): string => {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 0.01 && a < 1e4) return String(Number(v.toPrecision(3)));
  return v.toExponential(0);
};

function histogramSvg(h: HistogramSpec): string {
  const W = 360, H = 236, L = 46, R = 14, T = 40, B = 58;
  const pw = W - L - R, ph = H - T - B;
  const c = COLOURS[h.attr];
  const head = `<figcaption><span class="sw" style="background:${c.strong}"></span>${escapeHtml(h.title)}</figcaption>`;
  if (h.values.length === 0) {
    return `<figure class="hist">${head}<div class="empty">no label-token scores</div><p class="note">${h.note}</p></figure>`;
  }
  const sorted = h.values.slice().sort((a, b) => a - b);
  let lo = sorted[0], hi = sorted[sorted.length - 1];
  // A long right tail (attention) would squeeze everything into the first bins: clip at the 99th percentile.
  const p99 = quantile(sorted, 0.99);
  let clipped = false;
  if (h.domain && lo >= h.domain[0] && hi <= h.domain[1]) [lo, hi] = h.domain;
  else if (hi - lo > 0 && p99 - lo < 0.5 * (hi - lo)) {
    hi = p99;
    clipped = true;
  }
  for (const m of h.markers) if (Number.isFinite(m.x) && !clipped) [lo, hi] = [Math.min(lo, m.x), Math.max(hi, m.x)];
  for (const m of h.markers) if (Number.isFinite(m.x) && clipped && m.x < hi) lo = Math.min(lo, m.x);
  if (!(hi > lo)) [lo, hi] = [lo - 0.5, hi + 0.5];
  const bins = h.bins ?? 40, bw = (hi - lo) / bins;
  const total = new Array<number>(bins).fill(0), flag = new Array<number>(bins).fill(0);
  h.values.forEach((v, i) => {
    const b = Math.min(bins - 1, Math.max(0, Math.floor((v - lo) / bw)));
    total[b]++;
    if (h.flagged[i]) flag[b]++;
  });
  const maxCount = Math.max(...total);
  // One towering bin (S_KN near 1 on a small model) would flatten the rest: then a square-root count axis.
  const nonEmpty = total.filter((n) => n > 0).sort((a, b) => a - b);
  const sqrt = maxCount > 12 * quantile(nonEmpty, 0.5);
  const scale = (n: number): number => (sqrt ? Math.sqrt(n / maxCount) : n / maxCount);
  const X = (v: number): number => L + ((v - lo) / (hi - lo)) * pw;
  const Y = (n: number): number => T + ph - scale(n) * ph;
  const parts: string[] = [];
  // Band first, under the bars.
  if (h.band) {
    const x0 = X(Math.max(lo, h.band[0])), x1 = X(Math.min(hi, h.band[1]));
    if (x1 > x0) parts.push(`<rect class="band" x="${x0.toFixed(1)}" y="${T}" width="${(x1 - x0).toFixed(1)}" height="${ph}" fill="${c.light}"/>`);
  }
  const yTicks = sqrt ? sqrtTicks(maxCount) : niceTicks(0, maxCount, 4);
  for (const y of yTicks) parts.push(`<line class="grid" x1="${L}" x2="${L + pw}" y1="${Y(y).toFixed(1)}" y2="${Y(y).toFixed(1)}"/><text class="yt" x="${L - 6}" y="${(Y(y) + 3.5).toFixed(1)}">${int(y)}</text>`);
  for (let b = 0; b < bins; b++) {
    if (!total[b]) continue;
    const x = L + b * (pw / bins) + 0.5, w = pw / bins - 1;
    const kept = total[b] - flag[b];
    if (kept) parts.push(`<rect x="${x.toFixed(1)}" y="${Y(kept).toFixed(1)}" width="${w.toFixed(1)}" height="${(T + ph - Y(kept)).toFixed(1)}" fill="#b9c0c9"><title>${int(total[b])} tokens in [${fmtNum(lo + b * bw)}, ${fmtNum(lo + (b + 1) * bw)}), ${int(flag[b])} flagged</title></rect>`);
    if (flag[b]) parts.push(`<rect x="${x.toFixed(1)}" y="${Y(total[b]).toFixed(1)}" width="${w.toFixed(1)}" height="${(Y(kept) - Y(total[b])).toFixed(1)}" fill="${c.strong}"><title>${int(total[b])} tokens in [${fmtNum(lo + b * bw)}, ${fmtNum(lo + (b + 1) * bw)}), ${int(flag[b])} flagged</title></rect>`);
  }
  parts.push(`<line class="axis" x1="${L}" x2="${L + pw}" y1="${T + ph}" y2="${T + ph}"/>`);
  for (const v of niceTicks(lo, hi, 5)) {
    const x = X(v).toFixed(1);
    parts.push(`<line class="axis" x1="${x}" x2="${x}" y1="${T + ph}" y2="${T + ph + 4}"/><text class="xt" x="${x}" y="${T + ph + 15}">${tickLabel(v)}</text>`);
  }
  if (h.rug?.length) {
    const y0 = T + ph + 20;
    for (const f of h.rug) if (f >= lo && f <= hi) parts.push(`<line class="rug" x1="${X(f).toFixed(1)}" x2="${X(f).toFixed(1)}" y1="${y0}" y2="${y0 + 7}" stroke="${c.strong}"/>`);
    parts.push(`<text class="lab" x="${L}" y="${y0 + 18}">${escapeHtml(h.rugLabel ?? '')}</text>`);
  }
  // Threshold lines with labels, staggered so neighbouring labels do not collide.
  let lastX = -Infinity, row = 0;
  for (const m of h.markers.filter((m) => Number.isFinite(m.x) && m.x >= lo && m.x <= hi).sort((a, b) => a.x - b.x)) {
    const x = X(m.x);
    row = x - lastX < 90 ? 1 - row : 0;
    lastX = x;
    const ty = T - 22 + row * 13;
    const anchor = x > L + pw - 60 ? 'end' : x < L + 60 ? 'start' : 'middle';
    parts.push(`<line class="mark" x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${ty + 3}" y2="${T + ph}"/><text class="mk" text-anchor="${anchor}" x="${x.toFixed(1)}" y="${ty}">${escapeHtml(m.label)}</text>`);
  }
  if (h.band && h.bandLabel) {
    const mid = X((Math.max(lo, h.band[0]) + Math.min(hi, h.band[1])) / 2);
    parts.push(`<text class="bandlab" x="${mid.toFixed(1)}" y="${T + 12}" fill="${c.strong}">${escapeHtml(h.bandLabel)}</text>`);
  }
  const flaggedCount = h.flagged.filter(Boolean).length;
  const svg = `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${escapeHtml(h.title)} histogram">${parts.join('')}</svg>`;
  const legend = `<div class="hleg"><span><i style="background:${c.strong}"></i>flagged by ${NAMES[h.attr].short} (${int(flaggedCount)})</span><span><i style="background:#b9c0c9"></i>not flagged by ${NAMES[h.attr].short}</span></div>`;
  const sqrtNote = sqrt ? ' Counts on a square-root axis (one bin dwarfs the rest).' : '';
  const clipNote = clipped ? ` The axis stops at the 99th percentile (${fmtNum(hi)}); larger values are counted in the last bin.` : '';
  return `<figure class="hist" data-attr="${h.attr}">${head}${svg}${legend}<p class="note">${h.note}${clipNote}${sqrtNote}</p></figure>`;
}

// ---------------------------------------------------------------------------------------------------
// Page

function trBandText(cuts: number[]): string {
  if (cuts.length === 0) return 'no cuts: nothing flagged';
  if (cuts.length === 1) return `noisy class S_TR ≥ ${fmtNum(cuts[0])}`;
  return `noisy class [${fmtNum(cuts[0])}, ${fmtNum(cuts[1])})`;
}

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

const CSS = `
:root{--fg:#1d2330;--muted:#5f6b7a;--faint:#8a94a3;--line:#e3e7ee;--card:#fff;--bg:#f5f7fa;--accent:#2f4b7c;
--ri:${COLOURS.ri.strong};--kn:${COLOURS.kn.strong};--tr:${COLOURS.tr.strong};color-scheme:light}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans",sans-serif}
main{max-width:1160px;margin:0 auto;padding:28px 28px 64px}
header.top{display:flex;justify-content:space-between;align-items:flex-end;gap:16px;flex-wrap:wrap;margin-bottom:18px}
h1{font-size:26px;line-height:1.2;margin:0 0 4px;letter-spacing:-.01em}
h2{font-size:18px;margin:34px 0 12px;letter-spacing:-.005em}
h3{font-size:13px;margin:0 0 8px;color:var(--muted);text-transform:uppercase;letter-spacing:.06em;font-weight:600}
.sub{color:var(--muted);margin:0}
nav a{color:var(--accent);text-decoration:none;margin-left:14px;font-weight:500}
nav a:hover{text-decoration:underline}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:16px 18px;box-shadow:0 1px 2px rgba(20,30,50,.04)}
.stats{display:grid;grid-template-columns:repeat(auto-fit,minmax(160px,1fr));gap:12px}
.stat .v{font-size:24px;font-weight:650;letter-spacing:-.01em;font-variant-numeric:tabular-nums}
.stat .k{color:var(--muted);font-size:13px}
.grid2{display:grid;grid-template-columns:1.25fr 1fr;gap:14px;margin-top:14px}
@media (max-width:900px){.grid2{grid-template-columns:1fr}}
.bars .row{margin:4px 0 14px}
.bars .rtop{display:flex;justify-content:space-between;align-items:baseline;gap:10px;margin-bottom:4px}
.bars .name{font-weight:600}
.bars .rule{color:var(--muted);font-size:12.5px;margin-top:3px}
.bar{height:10px;background:#edf0f5;border-radius:5px;overflow:hidden}
.bar>span{display:block;height:100%;border-radius:5px}
.bars .num{font-weight:650;font-variant-numeric:tabular-nums}
.bars .num small{color:var(--muted);font-weight:400}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);font-size:14px}
th{color:var(--muted);font-weight:600;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
td.r,th.r{text-align:right}
.sw{display:inline-block;width:11px;height:11px;border-radius:3px;margin-right:6px;vertical-align:-1px}
.types{display:grid;grid-template-columns:repeat(3,1fr);gap:14px;margin-top:14px}
@media (max-width:900px){.types{grid-template-columns:1fr}}
.types ol{margin:0;padding:0;list-style:none}
.types li{display:flex;justify-content:space-between;gap:8px;padding:3px 0;border-bottom:1px dashed var(--line);font-size:14px}
.types li:last-child{border-bottom:0}
.chip{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;background:#f0f2f6;border-radius:4px;padding:0 5px;white-space:pre}
.types .n{color:var(--muted);font-variant-numeric:tabular-nums;white-space:nowrap}
.legend{display:flex;flex-wrap:wrap;gap:10px 22px;align-items:center;font-size:14px}
.legend .item{display:flex;align-items:center;gap:7px}
.legend .item>.t{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;font-size:13.5px;line-height:2.1}
.legend .item>.t+.t{margin-left:-2px}
.explain{display:grid;grid-template-columns:repeat(3,1fr);gap:14px;margin-top:12px;font-size:13.5px;color:var(--muted)}
.explain b{color:var(--fg)}
@media (max-width:900px){.explain{grid-template-columns:1fr}}
.hists{display:grid;grid-template-columns:repeat(3,1fr);gap:14px}
@media (max-width:1100px){.hists{grid-template-columns:1fr 1fr}}
@media (max-width:760px){.hists{grid-template-columns:1fr}}
figure.hist{margin:0;background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 12px 10px}
figure.hist figcaption{font-weight:600;margin:0 0 2px 4px}
figure.hist svg{width:100%;height:auto;display:block}
figure.hist .note{font-size:12.5px;color:var(--muted);margin:4px 4px 0}
figure.hist .empty{padding:40px 0;text-align:center;color:var(--faint)}
.hleg{display:flex;gap:14px;font-size:12.5px;color:var(--muted);margin:0 4px}
.hleg i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px;vertical-align:-1px}
svg text{font:11px system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;fill:#5f6b7a}
svg .xt{text-anchor:middle}
svg .yt{text-anchor:end}
svg .axis{stroke:#8a94a3;stroke-width:1}
svg .grid{stroke:#edf0f5;stroke-width:1}
svg .mark{stroke:#1d2330;stroke-width:1.3;stroke-dasharray:4 3}
svg .mk{fill:#1d2330;font-weight:600}
svg .bandlab{text-anchor:middle;font-weight:600}
svg .rug{stroke-width:1.2;opacity:.7}
svg .lab{fill:#5f6b7a}
.ex{margin:14px 0}
.ex header{display:flex;flex-wrap:wrap;gap:6px 16px;align-items:baseline;margin-bottom:10px}
.ex .id{font-weight:650;font-size:15.5px}
.ex .meta{color:var(--muted);font-size:13.5px;display:flex;gap:12px;flex-wrap:wrap}
.ex .meta .sw{margin-right:4px}
.text{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;font-size:14px;line-height:2.15;white-space:pre-wrap;word-break:break-word;margin:0}
.t{border-radius:3px;cursor:default}
.t.p{color:#8a94a3}
.t.l{color:var(--fg)}
.t:hover{outline:1.5px solid #1d2330;outline-offset:0}
.ws{color:#b4bcc7}
.m .ws{color:#5f6b7a}
.bos{font:600 9.5px/1 system-ui,sans-serif;letter-spacing:.04em;color:#8a94a3;border:1px solid #cfd5de;border-radius:3px;padding:1px 3px;margin-right:4px;vertical-align:2px}
.ws.e{font-size:10px;vertical-align:2px}
.t.m{padding-left:1px;padding-right:1px}
.boundaries .t.l:not(.m){box-shadow:inset -1px 0 0 #d5dbe3}
.tools{font-size:13px;color:var(--muted);display:flex;gap:16px;align-items:center;margin:10px 2px 4px}
.tools label{cursor:pointer;user-select:none}
#tip{position:fixed;z-index:10;pointer-events:none;min-width:270px;max-width:360px;background:#1d2330;color:#f3f5f9;border-radius:8px;padding:10px 12px;box-shadow:0 6px 24px rgba(10,20,40,.28);font-size:13px;line-height:1.45}
#tip[hidden]{display:none}
#tip .h{display:flex;justify-content:space-between;gap:10px;margin-bottom:6px}
#tip code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;background:#2e3646;border-radius:4px;padding:1px 5px;white-space:pre}
#tip .pos{color:#aab4c3}
#tip table{width:100%}
#tip td,#tip th{border:0;padding:2px 4px;font-size:13px;color:#f3f5f9;text-transform:none;letter-spacing:0}
#tip th{font-weight:600;color:#cfd6e0;white-space:nowrap}
#tip td.v{text-align:right;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
#tip td.c{color:#aab4c3}
#tip tr.hit th,#tip tr.hit td.c{color:#fff}
#tip .dot{display:inline-block;width:9px;height:9px;border-radius:50%;margin-right:5px}
#tip .d{margin-top:7px;padding-top:6px;border-top:1px solid #3a4456;font-weight:650}
#tip .d.masked{color:#ffb4a8}
#tip .d.kept{color:#9fe3b8}
#tip .d.prompt{color:#cfd6e0}
footer{margin-top:40px;color:var(--faint);font-size:12.5px}
code.inl{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.92em;background:#eef1f5;padding:0 4px;border-radius:3px}
`;

/** Tooltip: a few lines filling one floating box from the token's data-d attribute. */
const SCRIPT = `
(() => {
  const TH = JSON.parse(document.getElementById('xtf-data').textContent);
  const tip = document.getElementById('tip');
  const esc = (s) => s.replace(/[&<>"']/g, (c) => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));
  const fmt = (x) => x === null || !isFinite(x) ? '—' : x === 0 ? '0' : Math.abs(x) >= 0.01 ? String(+x.toFixed(4)) : x.toExponential(2);
  const num = (s) => s === '' ? null : Number(s);
  const NAME = {ri: 'S_RI', kn: 'S_KN', tr: 'S_TR'}, SHORT = {ri: 'RI', kn: 'KN', tr: 'TR'};
  function rule(a, v, fence) {
    if (v === null) return '';
    if (a === 'ri') return fence === null || fence === undefined ? 'fence unknown' : (v < fence ? '&lt; ' : '≥ ') + 'fence ' + fmt(fence);
    if (a === 'kn') return TH.kn === null ? 'threshold unknown' : (v < TH.kn ? '&lt; ' : '≥ ') + 'threshold ' + fmt(TH.kn);
    if (!TH.tr) return 'cuts unknown';
    if (TH.tr.length === 0) return 'no cuts';
    if (v < TH.tr[0]) return 'lowest class (&lt; ' + fmt(TH.tr[0]) + ', skipped)';
    if (TH.tr.length === 1) return 'noisy class (≥ ' + fmt(TH.tr[0]) + ')';
    if (v < TH.tr[1]) return 'noisy class [' + fmt(TH.tr[0]) + ', ' + fmt(TH.tr[1]) + ')';
    return 'upper class (≥ ' + fmt(TH.tr[1]) + ')';
  }
  function show(t, e) {
    const [id, pos, p, ri, kn, tr, flags, w] = t.dataset.d.split(';');
    const f = flags ? flags.split('+') : [];
    const ex = t.closest('.ex');
    const fence = ex && ex.dataset.fence !== undefined && ex.dataset.fence !== '' ? Number(ex.dataset.fence) : null;
    const piece = t.textContent.replace(/↵\\n/g, '↵').replace(/⇥\\t/g, '⇥').replace(/ /g, '␣');
    let h = '<div class="h"><code>' + esc(piece) + '</code><span class="pos">id ' + id + ' · token ' + pos + '</span></div>';
    if (t.classList.contains('p')) {
      h += '<div class="d prompt">Prompt token: input only, never in the loss</div>';
    } else {
      h += '<table><tr><th>p</th><td class="v">' + fmt(num(p)) + '</td><td class="c">model probability</td></tr>';
      const s = {ri: num(ri), kn: num(kn), tr: num(tr)};
      for (const a of ['ri', 'kn', 'tr']) {
        const hit = f.includes(a);
        h += '<tr class="' + (hit ? 'hit' : '') + '"><th><span class="dot" style="background:' + (hit ? TH.colour[a] : 'transparent') + ';border:1px solid ' + TH.colour[a] + '"></span>' + NAME[a] + '</th><td class="v">' + fmt(s[a]) + '</td><td class="c">' + rule(a, s[a], fence) + (hit ? ' ✗' : '') + '</td></tr>';
      }
      h += '</table>';
      h += Number(w) === 0
        ? '<div class="d masked">MASKED · ' + (f.length ? 'flagged by ' + f.map((a) => SHORT[a]).join(' + ') : 'weight 0, no attribute flagged it') + '</div>'
        : '<div class="d kept">KEPT · in the loss' + (Number(w) !== 1 ? ' (weight ' + fmt(Number(w)) + ')' : '') + '</div>';
    }
    tip.innerHTML = h;
    tip.hidden = false;
    place(e);
  }
  function place(e) {
    const r = tip.getBoundingClientRect();
    let x = e.clientX + 14, y = e.clientY + 18;
    if (x + r.width > innerWidth - 8) x = Math.max(8, e.clientX - r.width - 14);
    if (y + r.height > innerHeight - 8) y = Math.max(8, e.clientY - r.height - 14);
    tip.style.left = x + 'px';
    tip.style.top = y + 'px';
  }
  let current = null;
  document.addEventListener('mouseover', (e) => {
    const t = e.target.closest && e.target.closest('.t');
    if (t === current) return;
    current = t;
    if (t) show(t, e); else tip.hidden = true;
  });
  document.addEventListener('mousemove', (e) => { if (current) place(e); });
  const box = document.getElementById('bounds');
  if (box) box.addEventListener('change', () => document.body.classList.toggle('boundaries', box.checked));
})();
`;

function chooseExamples(scored: ScoredExample[], which: ExplainOptions['examples']): ScoredExample[] {
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

function tokenSpan(ex: ScoredExample, i: number): string {
  const d = [ex.tokens[i], i, ex.p[i] ?? '', ex.ri[i] ?? '', ex.kn[i] ?? '', ex.tr[i] ?? '', ex.flags[i].join('+'), ex.weight[i]]
    .map((v) => (typeof v === 'number' ? String(Number(v.toPrecision(6))) : v))
    .join(';');
  let cls = 't p';
  if (ex.label[i]) cls = ex.weight[i] === 0 ? `t l ${ex.flags[i].length ? flagClass(ex.flags[i]) : 'm c-none'}` : 't l';
  const piece = ex.pieces[i];
  const text = piece !== '' || ex.label[i] ? visiblePiece(piece) : i === 0 ? '<span class="bos">BOS</span>' : '';
  return `<span class="${cls}" data-d="${escapeHtml(d)}">${text}</span>`;
}

function exampleCard(ex: ScoredExample, fence: number | null | undefined, knownFences: boolean): string {
  let labels = 0, masked = 0;
  const by: Record<Attribute, number> = { ri: 0, kn: 0, tr: 0 };
  ex.label.forEach((l, i) => {
    if (!l) return;
    labels++;
    if (ex.weight[i] === 0) masked++;
    for (const a of ex.flags[i]) by[a]++;
  });
  const meta = [
    `${int(labels)} label tokens`,
    `<b>${int(masked)} masked</b> (${pct(labels ? masked / labels : 0)})`,
    ...ATTRIBUTES.map((a) => `<span><span class="sw" style="background:${COLOURS[a].strong}"></span>${NAMES[a].short} ${int(by[a])}</span>`),
    knownFences ? `RI fence ${fence === null || fence === undefined ? 'none (< 4 label tokens)' : fmtNum(fence)}` : '',
    ex.truncated ? `${int(ex.truncated)} tokens cut to fit the context` : '',
  ].filter(Boolean);
  const body = ex.tokens.map((_, i) => tokenSpan(ex, i)).join('');
  return `<article class="card ex" id="ex-${escapeHtml(ex.id)}" data-id="${escapeHtml(ex.id)}" data-fence="${fence === null || fence === undefined ? '' : fence}">
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
  const th: SelectionThresholds | null = summary.thresholds ?? null;

  // Histogram data over every label token of the file.
  const vals: Record<Attribute, number[]> = { ri: [], kn: [], tr: [] };
  const hit: Record<Attribute, boolean[]> = { ri: [], kn: [], tr: [] };
  for (const ex of scored) {
    for (let i = 0; i < ex.tokens.length; i++) {
      if (!ex.label[i]) continue;
      for (const a of ATTRIBUTES) {
        const v = ex[a][i];
        if (v === null || v === undefined) continue;
        vals[a].push(v);
        hit[a].push(ex.flags[i].includes(a));
      }
    }
  }
  const fences = th ? Object.values(th.riFences).filter((f): f is number => typeof f === 'number' && Number.isFinite(f)).sort((a, b) => a - b) : [];
  const medianFence = quantile(fences, 0.5);
  const noFence = th ? Object.values(th.riFences).filter((f) => f === null).length : 0;
  const unknown = '<b>Thresholds unknown</b> (no summary file): the bars still show which tokens were flagged.';
  const hists = [
    histogramSvg({
      attr: 'ri',
      title: 'Reasoning importance S_RI',
      values: vals.ri,
      flagged: hit.ri,
      markers: fences.length ? [{ x: medianFence, label: `median fence ${fmtNum(medianFence)}` }] : [],
      rug: fences,
      rugLabel: fences.length ? `per-example fences (${int(fences.length)})` : '',
      note: th
        ? `Fences are per example (Tukey, Q1 − r·IQR of that example's S_RI): a token is flagged when it is below <i>its own</i> example's fence, so flagged tokens appear on both sides of the median line. Ticks under the axis: the fences of all ${int(fences.length)} examples${noFence ? ` (${int(noFence)} examples with < 4 label tokens have none)` : ''}.`
        : unknown,
    }),
    histogramSvg({
      attr: 'kn',
      title: 'Knowledge novelty S_KN = 1 − p',
      values: vals.kn,
      flagged: hit.kn,
      markers: th ? [{ x: th.knThreshold, label: `threshold ${fmtNum(th.knThreshold)}` }] : [],
      domain: [0, 1],
      bins: 50,
      note: th ? `Global threshold: tokens left of the line (p &gt; ${fmtNum(1 - th.knThreshold)}) are already known to the model.` : unknown,
    }),
    histogramSvg({
      attr: 'tr',
      title: 'Task relevance S_TR',
      values: vals.tr,
      flagged: hit.tr,
      markers: th ? th.trCuts.map((c, k) => ({ x: c, label: `cut ${k + 1}: ${fmtNum(c)}` })) : [],
      band: th && th.trCuts.length ? [th.trCuts[0], th.trCuts.length >= 2 ? th.trCuts[1] : Infinity] : undefined,
      bandLabel: 'noisy class',
      domain: [0, 1],
      bins: 50,
      note: th
        ? `Multi-Otsu cuts over S_TR (one value per token type, counted here per occurrence). Below cut 1: the lowest class, skipped (spacing and format tokens); ${th.trCuts.length === 1 ? 'above it' : 'between cut 1 and cut 2'}: noisy.`
        : unknown,
    }),
  ];

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
    ...ATTRIBUTES.map((a) => barRow(`<span class="sw" style="background:${COLOURS[a].strong}"></span>${NAMES[a].short} · ${NAMES[a].long}`, NAMES[a].rule, s.fractionFlagged[a] ?? 0, COLOURS[a].strong)),
    barRow('Masked (union)', 'noisy = RI or KN or TR', s.fractionMasked, '#3b4658'),
  ].join('');
  const overlapRows = (s.overlaps ?? [])
    .map((o) => {
      const [a, b] = o.pair;
      return `<tr><td><span class="sw" style="background:${COLOURS[a].strong}"></span>${NAMES[a].short} ∩ <span class="sw" style="background:${COLOURS[b].strong}"></span>${NAMES[b].short}</td><td class="r">${int(o.count)}</td><td class="r">${pct(o.overlap)}</td></tr>`;
    })
    .join('');
  const thresholdText = th
    ? `<table><tr><th>attribute</th><th>threshold</th></tr>
<tr><td>${NAMES.ri.short}</td><td>per-example fences: median ${fmtNum(medianFence)}, middle half ${fmtNum(quantile(fences, 0.25))} – ${fmtNum(quantile(fences, 0.75))} (${int(fences.length)} examples${noFence ? `, ${int(noFence)} without` : ''})</td></tr>
<tr><td>${NAMES.kn.short}</td><td>S_KN &lt; ${fmtNum(th.knThreshold)} (p &gt; ${fmtNum(1 - th.knThreshold)})</td></tr>
<tr><td>${NAMES.tr.short}</td><td>${trBandText(th.trCuts)}${th.trCuts.length > 2 ? `; all cuts ${th.trCuts.map(fmtNum).join(', ')}` : ''}</td></tr></table>`
    : `<p class="sub">Thresholds unknown: the summary file is missing or has none. Fractions are computed from the records.</p>`;
  const typeLists = ATTRIBUTES.map((a) => {
    const list = (s.mostFlagged?.[a] ?? []).slice(0, 10);
    const items = list.length
      ? list.map((m) => `<li><span class="chip">${pieceLabel(m.piece)}</span><span class="n">${int(m.count)} · ${pct(m.share)} of its uses</span></li>`).join('')
      : '<li><span class="n">none</span></li>';
    return `<div class="card"><h3><span class="sw" style="background:${COLOURS[a].strong}"></span>Most flagged by ${NAMES[a].short}</h3><ol>${items}</ol></div>`;
  }).join('');

  const data = { kn: th ? th.knThreshold : null, tr: th ? th.trCuts : null, colour: { ri: COLOURS.ri.strong, kn: COLOURS.kn.strong, tr: COLOURS.tr.strong } };
  const shownNote = chosen.length < scored.length ? `${int(chosen.length)} of ${int(scored.length)} examples shown` : `all ${int(scored.length)} examples shown`;

  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="xtf explain">
<title>${escapeHtml(title)}</title>
<style>${CSS}
${combinationCss()}
.c-none{background:#e6e9ee}
</style>
</head>
<body>
<main>
<header class="top"><div><h1>${escapeHtml(title)}</h1><p class="sub">Explainable token-level noise filtering (XTF): every label token scored on three attributes; a token failing any of them is masked from the loss. Method: ${escapeHtml(String(s.method ?? 'xtf'))}.</p></div>
<nav><a href="#summary">Summary</a><a href="#scores">Scores</a><a href="#examples">Examples</a></nav></header>

<section id="summary">
<div class="stats">${stats.map(([v, k]) => `<div class="card stat"><div class="v">${v}</div><div class="k">${k}</div></div>`).join('')}</div>
<div class="grid2">
<div class="card bars"><h3>Label tokens flagged per attribute</h3>${bars}</div>
<div class="card"><h3>Overlap between attributes</h3><table><tr><th>pair</th><th class="r">both</th><th class="r">overlap</th></tr>${overlapRows}</table>
<p class="sub" style="font-size:12.5px;margin-top:6px">overlap = |A ∩ B| / min(|A|, |B|)</p>
<h3 style="margin-top:14px">Thresholds</h3>${thresholdText}</div>
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
<div class="explain">${ATTRIBUTES.map((a) => `<div><b style="color:${COLOURS[a].strong}">${NAMES[a].short}</b> ${escapeHtml(NAMES[a].score)}; ${escapeHtml(NAMES[a].rule)}.</div>`).join('')}</div></div>
<div class="tools"><label><input type="checkbox" id="bounds"> show token boundaries</label></div>
${chosen.map((ex) => exampleCard(ex, th ? th.riFences[ex.id] : undefined, th !== null)).join('\n')}
</section>
<footer>Generated by <code class="inl">xtf explain</code>. Colours: Okabe–Ito palette (readable with common colour-vision deficiencies). Page is self-contained and works offline.</footer>
</main>
<div id="tip" hidden></div>
<script type="application/json" id="xtf-data">${scriptJson(data)}</script>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
