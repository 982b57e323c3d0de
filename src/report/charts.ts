// SVG charts and the page style of the self-contained HTML reports (the main job's and the experiment's):
// no scripts, no external assets, so a report is one file that opens anywhere.
import { escapeHtml as esc } from './html.ts';

export const PAGE_CSS = `body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2937;background:#f6f7fb;margin:0;padding:28px 40px;max-width:1240px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 10px}.sub{color:#6b7280;margin:0 0 18px}
.card{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:16px 20px;margin-bottom:16px}
table{border-collapse:collapse;width:100%}td,th{padding:6px 10px;border-bottom:1px solid #eef0f4;text-align:left}th{font-size:12px;text-transform:uppercase;color:#6b7280;letter-spacing:.04em}
.sw{display:inline-block;width:12px;height:12px;border-radius:3px;margin-right:8px;vertical-align:-1px}
.charts{display:grid;grid-template-columns:1fr 1fr;gap:16px}figure{margin:0;background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:12px}
figcaption{font-weight:600;margin-bottom:6px}svg{width:100%;height:auto;font-size:11px;fill:#4b5563}code{background:#f1f5f9;padding:0 4px;border-radius:4px}
a{color:#2563eb}`;

export interface LineSeries {
  name: string;
  colour: string;
  points: [number, number][];
  /** Dashed with a dot per point (sparse measurements such as held-out loss). */
  dashed?: boolean;
}

const LEGEND_ITEM = 170;

/** Lines over optimiser steps; the legend wraps into as many rows as it needs above the plot. */
export function lineChart(title: string, series: LineSeries[], yLabel: string, xLabel = 'optimiser step'): string {
  const W = 560, L = 56, R = 16, B = 40;
  const perRow = Math.max(1, Math.floor((W - L - R) / LEGEND_ITEM));
  const legendRows = Math.ceil(series.length / perRow);
  const T = 14 + 16 * legendRows, H = 272 + T;
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return '';
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
  let y0 = Math.min(...ys), y1 = Math.max(...ys);
  const pad = (y1 - y0) * 0.08 || 0.5;
  y0 -= pad;
  y1 += pad;
  const px = (x: number) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const py = (y: number) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  const ticks = 5;
  let grid = '';
  for (let i = 0; i <= ticks; i++) {
    const y = y0 + ((y1 - y0) * i) / ticks;
    grid += `<line x1="${L}" x2="${W - R}" y1="${py(y)}" y2="${py(y)}" stroke="#e5e7eb"/><text x="${L - 6}" y="${py(y) + 4}" text-anchor="end">${y.toFixed(2)}</text>`;
    const x = x0 + ((x1 - x0) * i) / ticks;
    grid += `<text x="${px(x)}" y="${H - B + 16}" text-anchor="middle">${Math.round(x)}</text>`;
  }
  const lines = series
    .map((s) => {
      const d = s.points.map((p, i) => `${i ? 'L' : 'M'}${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join('');
      const dots = s.dashed ? s.points.map((p) => `<circle cx="${px(p[0])}" cy="${py(p[1])}" r="3.5" fill="${s.colour}"><title>${esc(s.name)} step ${p[0]}: ${p[1].toFixed(4)}</title></circle>`).join('') : '';
      return `<path d="${d}" fill="none" stroke="${s.colour}" stroke-width="2" ${s.dashed ? 'stroke-dasharray="5 4"' : ''}/>${dots}`;
    })
    .join('');
  const legend = series
    .map((s, i) => `<g transform="translate(${L + 8 + (i % perRow) * LEGEND_ITEM},${12 + 16 * Math.floor(i / perRow)})"><line x1="0" x2="18" y1="0" y2="0" stroke="${s.colour}" stroke-width="2" ${s.dashed ? 'stroke-dasharray="5 4"' : ''}/><text x="24" y="4">${esc(s.name)}</text></g>`)
    .join('');
  return `<figure><figcaption>${esc(title)}</figcaption><svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}">${grid}<text x="14" y="${H / 2}" transform="rotate(-90 14 ${H / 2})" text-anchor="middle">${esc(yLabel)}</text><text x="${(L + W - R) / 2}" y="${H - 6}" text-anchor="middle">${esc(xLabel)}</text>${lines}${legend}</svg></figure>`;
}

export interface Bar {
  name: string;
  colour: string;
  /** The bar's length (a mean), its error bar (± sd) and the single values it summarises (drawn as dots). */
  value: number;
  error?: number;
  values?: number[];
}

/** Horizontal bars with ± error bars and a dot per value; an optional reference line (e.g. the normal run). */
export function barChart(title: string, bars: Bar[], xLabel: string, options: { reference?: { value: number; label: string }; digits?: number } = {}): string {
  if (bars.length === 0) return '';
  const digits = options.digits ?? 3;
  const W = 560, L = 210, R = 70, T = options.reference ? 24 : 8, B = 36, row = 24;
  const H = T + B + row * bars.length;
  const ends = bars.flatMap((b) => [b.value - (b.error ?? 0), b.value + (b.error ?? 0), ...(b.values ?? [])]).filter(Number.isFinite);
  if (options.reference) ends.push(options.reference.value);
  let x1 = Math.max(...ends), x0 = Math.min(0, ...ends);
  if (x1 === x0) x1 = x0 + 1;
  x1 += (x1 - x0) * 0.04;
  const px = (x: number) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  let svg = '';
  for (let i = 0; i <= 4; i++) {
    const x = x0 + ((x1 - x0) * i) / 4;
    svg += `<line x1="${px(x)}" x2="${px(x)}" y1="${T}" y2="${H - B}" stroke="#eef0f4"/><text x="${px(x)}" y="${H - B + 14}" text-anchor="middle">${x.toFixed(2)}</text>`;
  }
  bars.forEach((b, i) => {
    const y = T + i * row, mid = y + row / 2;
    svg += `<text x="${L - 8}" y="${mid + 4}" text-anchor="end">${esc(b.name)}</text>`;
    if (!Number.isFinite(b.value)) return;
    svg += `<rect x="${px(Math.min(0, b.value))}" y="${y + 4}" width="${Math.abs(px(b.value) - px(0))}" height="${row - 8}" rx="3" fill="${b.colour}" opacity="0.8"><title>${esc(b.name)}: ${b.value.toFixed(digits)}${b.error ? ` ± ${b.error.toFixed(digits)}` : ''}</title></rect>`;
    if (b.error) svg += `<line x1="${px(b.value - b.error)}" x2="${px(b.value + b.error)}" y1="${mid}" y2="${mid}" stroke="#111827" stroke-width="1.5"/>`;
    for (const v of b.values ?? []) svg += `<circle cx="${px(v)}" cy="${mid}" r="2.6" fill="#111827" opacity="0.55"/>`;
    svg += `<text x="${px(Math.max(b.value + (b.error ?? 0), ...(b.values ?? [b.value]))) + 6}" y="${mid + 4}">${b.value.toFixed(digits)}</text>`;
  });
  if (options.reference) {
    const x = px(options.reference.value);
    svg += `<line x1="${x}" x2="${x}" y1="${T - 4}" y2="${H - B + 2}" stroke="#dc2626" stroke-dasharray="4 3"/><text x="${x}" y="${T - 10}" text-anchor="middle" fill="#dc2626">${esc(options.reference.label)}</text>`;
  }
  return `<figure><figcaption>${esc(title)}</figcaption><svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}">${svg}<text x="${(L + W - R) / 2}" y="${H - B + 28}" text-anchor="middle">${esc(xLabel)}</text></svg></figure>`;
}
