// Training runs side by side: their loss curves on one chart, and a table of what each run cost and bought
// (the held-out loss is measured on the same tokens for every run, so the numbers compare).
import { escapeHtml } from '../src/report/html.ts';
import { count, duration, fmt, when } from './format.ts';
import type { SavedRun } from './store.ts';

/** What the chart needs of a run, finished or still training. */
export type ChartRun = Pick<SavedRun, 'label' | 'colour' | 'points'>;

const W = 640, H = 280, L = 48, R = 12, B = 34;
const LEGEND_ROW = 18;

/** The chart's SVG content: every run's training loss by optimiser step, with a legend above the plot. */
export function lossChart(runs: readonly ChartRun[], emphasise: number): string {
  const all = runs.flatMap((r) => r.points);
  if (all.length === 0) return `<text x="${W / 2}" y="${H / 2}" class="empty" text-anchor="middle">the loss curves of every run appear here, on one chart</text>`;
  const legend = legendRows(runs);
  const T = 12 + legend.rows * LEGEND_ROW;
  const maxStep = Math.max(...all.map((p) => p.totalSteps));
  let lo = Math.min(...all.map((p) => p.loss)), hi = Math.max(...all.map((p) => p.loss));
  if (hi - lo < 1e-6) [lo, hi] = [lo - 0.5, hi + 0.5];
  const pad = (hi - lo) * 0.08;
  lo -= pad;
  hi += pad;
  const x = (s: number) => L + ((W - L - R) * s) / Math.max(1, maxStep);
  const y = (v: number) => T + ((H - T - B) * (hi - v)) / (hi - lo);
  const grid = Array.from({ length: 5 }, (_, i) => lo + ((hi - lo) * i) / 4)
    .map((v) => `<line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" class="grid"/><text x="${L - 6}" y="${y(v) + 4}" text-anchor="end">${v.toFixed(2)}</text>`).join('');
  const xTicks = [...new Set([0, Math.round(maxStep / 2), maxStep])].map((s) => `<text x="${x(s)}" y="${H - B + 16}" text-anchor="middle">${s}</text>`).join('');
  const curves = runs.map((r, i) => {
    const pts = r.points.map((p) => `${x(p.step).toFixed(1)},${y(p.loss).toFixed(1)}`).join(' ');
    const last = r.points.at(-1);
    return `<polyline points="${pts}" fill="none" stroke="${r.colour}" stroke-width="${i === emphasise ? 2.5 : 1.6}" stroke-linejoin="round" data-run="${escapeHtml(r.label)}"/>` +
      (last ? `<circle cx="${x(last.step)}" cy="${y(last.loss)}" r="3.5" fill="${r.colour}"/>` : '');
  }).join('');
  const axes = `<text x="${(L + W - R) / 2}" y="${H - 4}" text-anchor="middle" class="axis">optimiser step</text>` +
    `<text transform="translate(12,${(T + H - B) / 2}) rotate(-90)" text-anchor="middle" class="axis">training loss</text>`;
  return `${grid}${xTicks}${axes}${curves}${legend.svg}`;
}

/** One legend entry per run, left to right, wrapping onto more rows when they do not fit. */
function legendRows(runs: readonly ChartRun[]): { svg: string; rows: number } {
  let col = L, row = 0;
  const items = runs.map((r) => {
    const width = 22 + r.label.length * 6.6;
    if (col + width > W - R && col > L) [col, row] = [L, row + 1];
    const item = `<g class="legend-item" transform="translate(${col.toFixed(1)},${6 + row * LEGEND_ROW})"><rect width="14" height="4" y="4" fill="${r.colour}" rx="2"/><text x="20" y="10">${escapeHtml(r.label)}</text></g>`;
    col += width + 14;
    return item;
  });
  return { svg: items.join(''), rows: runs.length ? row + 1 : 0 };
}

/** A run's settings, for the tooltip on its name. */
function settingsOf(r: SavedRun): string {
  const s = r.settings;
  return `${s.steps} steps · batch ${s.batchSize} · learning rate ${s.lr} · LoRA rank ${s.rank} · ${r.model.split('/').pop()} · ${when(r.savedAt)}`;
}

/** The finished runs side by side; the lowest held-out loss after training is marked. */
export function runsTable(runs: readonly SavedRun[]): string {
  if (runs.length === 0) return '';
  const afters = runs.map((r) => r.heldOutAfter).filter((v): v is number => v !== null && Number.isFinite(v));
  const best = afters.length > 1 ? Math.min(...afters) : null;
  const rows = runs.map((r) => {
    const change = r.heldOutAfter !== null && r.heldOutBefore !== null ? r.heldOutAfter - r.heldOutBefore : null;
    return `<tr><td class="name" title="${escapeHtml(settingsOf(r))}"><span class="swatch" style="background:${r.colour}"></span>${escapeHtml(r.label)}</td>` +
      `<td>${fmt(r.heldOutBefore)} → <b class="${r.heldOutAfter === best ? 'best' : ''}">${fmt(r.heldOutAfter)}</b></td>` +
      `<td class="${change !== null && change < 0 ? 'good' : ''}">${change === null ? '—' : (change > 0 ? '+' : change < 0 ? '−' : '') + Math.abs(change).toFixed(3)}</td>` +
      `<td>${count(r.trainedTokens)}</td><td>${(100 * r.maskedFraction).toFixed(1)}%</td>` +
      `<td>${count(Math.round(r.tokensPerSecond))}</td><td>${duration(r.seconds)}</td>` +
      `<td>${r.steps}${r.reason === 'aborted' ? ' <span class="muted small">(stopped)</span>' : ''}</td></tr>`;
  });
  return `<table class="runs" data-testid="runs"><thead><tr><th>run</th><th>held-out loss before → after</th><th>change</th>` +
    `<th title="label tokens that entered the loss, over the whole run">tokens trained</th><th title="of the training set's label tokens, the share left out of the loss">masked</th>` +
    `<th title="all tokens of each micro-batch per second">tokens/s</th><th>wall time</th><th>steps</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}
