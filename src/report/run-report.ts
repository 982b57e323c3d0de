// The main job's report: normal vs XTF-masked fine-tuning of one model on one dataset, as one
// self-contained HTML page — the comparison table, both loss curves drawn as SVG charts, and the
// XTF summary, with the token heatmap on its own page (xtf explain) linked from here.
import type { DatasetSummary } from '../xtf/types.ts';
import { escapeHtml as esc } from './html.ts';
import { lineChart, PAGE_CSS } from './charts.ts';

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

export function runReportHtml(r: RunReport): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const rows = r.runs
    .map((run) => {
      const delta = run.heldOutLoss - run.heldOutBefore;
      return `<tr><td><span class="sw" style="background:${run.colour}"></span>${esc(run.name)}</td><td>${pct(run.maskedFraction)}</td><td>${run.trainedTokens.toLocaleString('en-US')}</td><td>${run.heldOutBefore.toFixed(4)}</td><td><b>${run.heldOutLoss.toFixed(4)}</b></td><td>${delta >= 0 ? '+' : ''}${delta.toFixed(4)}</td><td>${Math.exp(run.heldOutLoss).toFixed(2)}</td><td>${run.seconds.toFixed(0)} s (${Math.round(run.tokensPerSecond)} tok/s)</td></tr>`;
    })
    .join('');
  const trainChart = lineChart('Training loss (each run over the tokens it trains on)', r.runs.map((run) => ({ name: run.name, colour: run.colour, points: run.train })), 'loss');
  const valChart = lineChart('Held-out loss over all label tokens (the same set for both)', r.runs.map((run) => ({ name: run.name, colour: run.colour, points: run.validation, dashed: true })), 'held-out loss');
  const s = r.summary;
  const attr = (a: 'ri' | 'kn' | 'tr', name: string) => `<tr><td>${name}</td><td>${pct(s.fractionFlagged[a])}</td><td>${s.mostFlagged[a].slice(0, 6).map((m) => `<code>${esc(JSON.stringify(m.piece))}</code> ${m.count}`).join(', ') || '–'}</td></tr>`;
  const settings = Object.entries(r.settings).map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(String(v))}</td></tr>`).join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(r.title)}</title><style>
${PAGE_CSS}</style></head><body>
<h1>${esc(r.title)}</h1><p class="sub">${esc(r.model)} · train: ${esc(r.data)} · held out: ${esc(r.heldOut)}</p>
<div class="card"><table><thead><tr><th>run</th><th>label tokens masked</th><th>tokens trained</th><th>held-out loss before</th><th>after</th><th>change</th><th>perplexity</th><th>time</th></tr></thead><tbody>${rows}</tbody></table>
<p class="sub" style="margin:10px 0 0">Both runs: the same model, data order, steps, seed and hyper-parameters; only the loss mask differs. Held-out loss is measured on every label token of the held-out set.</p></div>
<div class="charts">${trainChart}${valChart}</div>
<h2>What XTF masked</h2><div class="card"><p style="margin-top:0">${s.labelTokens.toLocaleString('en-US')} label tokens scored at ${Math.round(s.tokensPerSecond)} tokens/s; ${pct(s.fractionMasked)} masked. <a href="${esc(r.heatmapHref)}">Token heatmap with every score →</a></p>
<table><thead><tr><th>attribute</th><th>flagged</th><th>most flagged token types</th></tr></thead><tbody>${attr('ri', 'reasoning importance')}${attr('kn', 'knowledge novelty')}${attr('tr', 'task relevance')}</tbody></table></div>
<h2>Settings</h2><div class="card"><table><tbody>${settings}</tbody></table></div>
</body></html>`;
}
