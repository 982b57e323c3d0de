// The main job's report: normal vs XTF-masked fine-tuning of one model on one dataset, as one
// self-contained HTML page — the comparison table, both loss curves drawn as SVG charts, and the
// XTF summary, with the token heatmap on its own page (xtf explain) linked from here.
import type { DatasetSummary } from '../xtf/types.ts';
import { escapeHtml as esc } from '../xtf/explain.ts';

export interface RunCurve {
  name: string;
  colour: string;
  /** [step, training loss] (loss over the run's own kept tokens). */
  train: [number, number][];
  /** [step, held-out loss over ALL label tokens]. */
  validation: [number, number][];
  heldOutLoss: number;
  heldOutBefore: number;
  trainedTokens: number;
  maskedFraction: number;
  seconds: number;
  tokensPerSecond: number;
}

export interface RunReport {
  title: string;
  model: string;
  data: string;
  heldOut: string;
  runs: RunCurve[];
  summary: DatasetSummary;
  /** Relative link to the token heatmap page. */
  heatmapHref: string;
  settings: Record<string, string | number>;
}

function chart(title: string, series: { name: string; colour: string; points: [number, number][]; dashed?: boolean }[], yLabel: string): string {
  const W = 560, H = 300, L = 56, R = 16, T = 28, B = 40;
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
  const legend = series.map((s, i) => `<g transform="translate(${L + 8 + i * 170},${T - 12})"><line x1="0" x2="18" y1="0" y2="0" stroke="${s.colour}" stroke-width="2" ${s.dashed ? 'stroke-dasharray="5 4"' : ''}/><text x="24" y="4">${esc(s.name)}</text></g>`).join('');
  return `<figure><figcaption>${esc(title)}</figcaption><svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}">${grid}<text x="14" y="${H / 2}" transform="rotate(-90 14 ${H / 2})" text-anchor="middle">${esc(yLabel)}</text><text x="${(L + W - R) / 2}" y="${H - 6}" text-anchor="middle">optimiser step</text>${lines}${legend}</svg></figure>`;
}

export function runReportHtml(r: RunReport): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const rows = r.runs
    .map((run) => {
      const delta = run.heldOutLoss - run.heldOutBefore;
      return `<tr><td><span class="sw" style="background:${run.colour}"></span>${esc(run.name)}</td><td>${pct(run.maskedFraction)}</td><td>${run.trainedTokens.toLocaleString('en-US')}</td><td>${run.heldOutBefore.toFixed(4)}</td><td><b>${run.heldOutLoss.toFixed(4)}</b></td><td>${delta >= 0 ? '+' : ''}${delta.toFixed(4)}</td><td>${Math.exp(run.heldOutLoss).toFixed(2)}</td><td>${run.seconds.toFixed(0)} s (${Math.round(run.tokensPerSecond)} tok/s)</td></tr>`;
    })
    .join('');
  const trainChart = chart('Training loss (each run over the tokens it trains on)', r.runs.map((run) => ({ name: run.name, colour: run.colour, points: run.train })), 'loss');
  const valChart = chart('Held-out loss over all label tokens (the same set for both)', r.runs.map((run) => ({ name: run.name, colour: run.colour, points: run.validation, dashed: true })), 'held-out loss');
  const s = r.summary;
  const attr = (a: 'ri' | 'kn' | 'tr', name: string) => `<tr><td>${name}</td><td>${pct(s.fractionFlagged[a])}</td><td>${s.mostFlagged[a].slice(0, 6).map((m) => `<code>${esc(JSON.stringify(m.piece))}</code> ${m.count}`).join(', ') || '–'}</td></tr>`;
  const settings = Object.entries(r.settings).map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(String(v))}</td></tr>`).join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(r.title)}</title><style>
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2937;background:#f6f7fb;margin:0;padding:28px 40px;max-width:1240px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 10px}.sub{color:#6b7280;margin:0 0 18px}
.card{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:16px 20px;margin-bottom:16px}
table{border-collapse:collapse;width:100%}td,th{padding:6px 10px;border-bottom:1px solid #eef0f4;text-align:left}th{font-size:12px;text-transform:uppercase;color:#6b7280;letter-spacing:.04em}
.sw{display:inline-block;width:12px;height:12px;border-radius:3px;margin-right:8px;vertical-align:-1px}
.charts{display:grid;grid-template-columns:1fr 1fr;gap:16px}figure{margin:0;background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:12px}
figcaption{font-weight:600;margin-bottom:6px}svg{width:100%;height:auto;font-size:11px;fill:#4b5563}code{background:#f1f5f9;padding:0 4px;border-radius:4px}
a{color:#2563eb}</style></head><body>
<h1>${esc(r.title)}</h1><p class="sub">${esc(r.model)} · train: ${esc(r.data)} · held out: ${esc(r.heldOut)}</p>
<div class="card"><table><thead><tr><th>run</th><th>label tokens masked</th><th>tokens trained</th><th>held-out loss before</th><th>after</th><th>change</th><th>perplexity</th><th>time</th></tr></thead><tbody>${rows}</tbody></table>
<p class="sub" style="margin:10px 0 0">Both runs: the same model, data order, steps, seed and hyper-parameters; only the loss mask differs. Held-out loss is measured on every label token of the held-out set.</p></div>
<div class="charts">${trainChart}${valChart}</div>
<h2>What XTF masked</h2><div class="card"><p style="margin-top:0">${s.labelTokens.toLocaleString('en-US')} label tokens scored at ${Math.round(s.tokensPerSecond)} tokens/s; ${pct(s.fractionMasked)} masked. <a href="${esc(r.heatmapHref)}">Token heatmap with every score →</a></p>
<table><thead><tr><th>attribute</th><th>flagged</th><th>most flagged token types</th></tr></thead><tbody>${attr('ri', 'reasoning importance')}${attr('kn', 'knowledge novelty')}${attr('tr', 'task relevance')}</tbody></table></div>
<h2>Settings</h2><div class="card"><table><tbody>${settings}</tbody></table></div>
</body></html>`;
}
