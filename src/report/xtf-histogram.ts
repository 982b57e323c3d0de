// One histogram of an XTF score as inline SVG for the explanation page (xtf-explain.ts): stacked bars of
// flagged and not-flagged label tokens, threshold lines, an optional shaded band and a rug of ticks.
// The bins themselves come from src/xtf/explain.ts's histogramBins.
import { histogramBins } from '../xtf/explain.ts';
import type { Attribute } from '../xtf/types.ts';
import { escapeHtml } from './html.ts';
import { COLOURS, fmtNum, int, NAMES } from './xtf-format.ts';

export interface Marker {
  x: number;
  label: string;
}

export interface HistogramSpec {
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

export function histogramSvg(h: HistogramSpec): string {
  const W = 360, H = 236, L = 46, R = 14, T = 40, B = 58;
  const pw = W - L - R, ph = H - T - B;
  const c = COLOURS[h.attr];
  const head = `<figcaption><span class="sw" style="background:${c.strong}"></span>${escapeHtml(h.title)}</figcaption>`;
  if (h.values.length === 0) {
    return `<figure class="hist">${head}<div class="empty">no label-token scores</div><p class="note">${h.note}</p></figure>`;
  }
  const { lo, hi, binWidth: bw, clipped, total, flagged: flag, maxCount, sqrt } = histogramBins(h.values, h.flagged, {
    markers: h.markers.map((m) => m.x),
    domain: h.domain,
    bins: h.bins,
  });
  const bins = total.length;
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
