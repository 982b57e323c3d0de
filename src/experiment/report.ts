// The experiment's table as Markdown (README, terminal) and as a self-contained HTML page with charts:
// held-out loss and accuracy per filter (mean ± sd over seeds, each seed a dot, the normal run as a
// reference line) and the held-out loss curves averaged over seeds.
import { barChart, lineChart, PAGE_CSS } from '../report/charts.ts';
import { escapeHtml as esc } from '../report/html.ts';
import type { ExperimentConfig } from './config.ts';
import { FILTERS, type FilterName } from './filters.ts';
import { resultTable, type RunResult, type Spread, type TableRow } from './results.ts';
import { domainText } from '../xtf/summary.ts';
import type { RulesSummary } from '../xtf/types.ts';

export interface ExperimentSummary {
  config: ExperimentConfig;
  /** The base model on the held-out set, before any training. */
  base: { heldOutLoss: number; accuracy: number | null };
  data: { train: number; reference: number; heldOut: number; labelTokens: number; noisyExamples: number; noiseTokens: number };
  /** XTF's selection with its defaults on the training set. */
  xtf: { fractionMasked: number; fractionFlagged: Record<'ri' | 'kn' | 'tr', number>; seconds: number; rules?: RulesSummary | null };
  runs: RunResult[];
  /** Runs the grid has in all (filters x seeds). */
  plannedRuns: number;
  device: string;
}

const COLOURS: Record<FilterName, string> = {
  normal: '#64748b', xtf: '#2563eb', 'xtf-released': '#0ea5e9', 'xtf-paper': '#4f46e5', 'xtf-online': '#06b6d4', ri: '#93c5fd', kn: '#60a5fa', tr: '#3b82f6', 'ri+kn': '#1d4ed8', 'ri+tr': '#1e40af', 'kn+tr': '#172554',
  stm: '#d97706', slm: '#059669', 'slm-online': '#0d9488', tc: '#7c3aed', random: '#a3a3a3', oracle: '#dc2626',
};

const num = (x: number, d = 4) => (Number.isFinite(x) ? x.toFixed(d) : '–');
const signed = (x: number, d = 4) => (Number.isFinite(x) ? `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(d)}` : '–');
const pct = (x: number | null | undefined, d = 1) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : `${(100 * x).toFixed(d)}%`);
const pm = (s: Spread | null, f: (x: number) => string) => (s === null || s.n === 0 ? '–' : s.n > 1 ? `${f(s.mean)} ± ${f(s.sd).replace(/^[+−]/, '')}` : f(s.mean));

interface Column { head: string; cell: (r: TableRow) => string }

function columns(s: ExperimentSummary): Column[] {
  const hasAccuracy = s.config.task !== null && s.config.accuracyExamples > 0;
  const hasNoise = s.data.noiseTokens > 0;
  const cols: Column[] = [
    { head: 'filter', cell: (r) => (r.sameMaskAs ? `${r.label} (= ${r.sameMaskAs})` : r.label) },
    { head: 'seeds', cell: (r) => String(r.seeds.length) },
    { head: 'masked', cell: (r) => pct(r.maskedFraction.mean) },
    { head: 'tokens trained', cell: (r) => Math.round(r.trainedTokens.mean).toLocaleString('en-US') },
    { head: 'held-out loss', cell: (r) => pm(r.heldOutLoss, (x) => num(x)) },
    { head: 'Δ loss vs normal', cell: (r) => pm(r.lossVsNormal, (x) => signed(x)) },
  ];
  if (hasAccuracy) {
    cols.push({ head: 'accuracy', cell: (r) => pm(r.accuracy, (x) => pct(x)) });
    cols.push({ head: 'Δ acc.', cell: (r) => pm(r.accuracyVsNormal, (x) => `${x >= 0 ? '+' : '−'}${(100 * Math.abs(x)).toFixed(1)}`) });
  }
  if (hasNoise) {
    // Precision: of the label tokens the mask removes, the share that is injected noise (from the two
    // rates and the token counts; a mask removing nothing has none).
    const noise = s.data.noiseTokens, clean = s.data.labelTokens - noise;
    const precision = (r: TableRow): number | null => {
      if (r.noiseRecall === null || r.cleanMasked === null) return null;
      const removed = r.noiseRecall * noise + r.cleanMasked * clean;
      return removed > 0 ? (r.noiseRecall * noise) / removed : null;
    };
    cols.push({ head: 'noise removed', cell: (r) => pct(r.noiseRecall) });
    cols.push({ head: 'clean removed', cell: (r) => pct(r.cleanMasked) });
    cols.push({ head: 'precision', cell: (r) => pct(precision(r)) });
  }
  cols.push({ head: 'time / run', cell: (r) => `${r.seconds.mean.toFixed(0)} s` });
  return cols;
}

function headline(s: ExperimentSummary): string[] {
  const c = s.config, t = c.finetune;
  const done = s.runs.length;
  return [
    `model: ${c.model}`,
    `data: ${c.data} — ${s.data.train} training examples (${s.data.labelTokens.toLocaleString('en-US')} label tokens${s.data.noiseTokens ? `, ${pct(s.data.noiseTokens / s.data.labelTokens)} of them injected noise in ${s.data.noisyExamples} examples` : ''}), ${s.data.heldOut} clean held-out${s.data.reference ? `, ${s.data.reference} clean reference examples for SLM / Token Cleaning` : ''}`,
    `training (one recipe for every run): LoRA rank ${t.lora.rank} alpha ${t.lora.alpha} on ${t.lora.targets.length === 7 ? 'all projections' : t.lora.targets.join(', ')}, ${t.steps ? `${t.steps} steps` : `${t.epochs ?? 1} epochs`}, batch ${t.batchSize}${t.gradientAccumulation > 1 ? ` x ${t.gradientAccumulation} accumulated` : ''}, lr ${t.lr} (${t.schedule}, ${t.warmupSteps} warm-up steps); the same data order, steps and initialisation per seed for every filter`,
    `model selection: ${pct(t.validationFraction, 0)} of the training examples are held back for validation (every label token), which alone picks each run's best checkpoint${t.evalEvery ? ` (checked every ${t.evalEvery} steps and at the end)` : ' (at the end)'}; the held-out set that is reported took no part in choosing anything`,
    `base model: held-out loss ${num(s.base.heldOutLoss)}${s.base.accuracy !== null ? `, accuracy ${pct(s.base.accuracy)}` : ''}; XTF (${rulesInWords(s)}) masks ${pct(s.xtf.fractionMasked)} (RI ${pct(s.xtf.fractionFlagged.ri)}, KN ${pct(s.xtf.fractionFlagged.kn)}, TR ${pct(s.xtf.fractionFlagged.tr)})`,
    `runs: ${done} of ${s.plannedRuns} (seeds ${c.seeds.join(', ')}) on ${s.device}`,
  ];
}

/** XTF's rule set in words: the released rules' caps and TR domain, or the paper's thresholds. */
function rulesInWords(s: ExperimentSummary): string {
  const x = s.config.xtf;
  const domain = s.xtf.rules ? `; TR domain: ${domainText(s.xtf.rules.domain)}` : '';
  return x.rules === 'released'
    ? `released rules (the authors' code): at most RI ${pct(x.caps.ri, 0)}, KN ${pct(x.caps.kn, 0)}, TR ${pct(x.caps.tr, 0)} of each answer${domain}`
    : `paper rules (the paper's text): RI fence r ${x.ri.fenceR}, KN threshold ${x.kn.threshold}, TR ${x.tr.classes}-class Multi-Otsu${domain}`;
}

/** The table as Markdown, with the settings above it. */
export function experimentMarkdown(s: ExperimentSummary): string {
  const rows = resultTable(s.runs);
  const cols = columns(s);
  const lines = headline(s).map((l) => `- ${l}`);
  lines.push('', `| ${cols.map((c) => c.head).join(' | ')} |`, `|${cols.map((_, i) => (i === 0 ? '---' : '--:')).join('|')}|`);
  for (const r of rows) lines.push(`| ${cols.map((c) => c.cell(r)).join(' | ')} |`);
  lines.push('', 'Held-out loss: mean cross-entropy over every answer token of the held-out set (lower is better); the held-out set took no part in choosing checkpoints. ' +
    'Mean ± sample standard deviation over seeds; Δ is paired with the normal run of the same seed. ' +
    '"(= f)": the mask is bit-identical to filter f\'s, so f\'s runs are these runs.' +
    (s.config.task && s.config.accuracyExamples > 0 ? ` Accuracy: exact match of the final answer of greedy generations on ${s.config.accuracyExamples} held-out questions.` : ''));
  return lines.join('\n') + '\n';
}

/** Mean of the runs' curves at the steps all of them measured. */
function meanCurve(runs: readonly RunResult[]): [number, number][] {
  if (runs.length === 0) return [];
  const byStep = new Map<number, number[]>();
  for (const r of runs) for (const [step, v] of r.heldOutCurve) byStep.set(step, [...(byStep.get(step) ?? []), v]);
  return [...byStep].filter(([, vs]) => vs.length === runs.length).sort((a, b) => a[0] - b[0]).map(([step, vs]) => [step, vs.reduce((a, b) => a + b, 0) / vs.length]);
}

export function experimentHtml(s: ExperimentSummary): string {
  const rows = resultTable(s.runs);
  const cols = columns(s);
  const normal = rows.find((r) => r.filter === 'normal');
  const table = `<table class="grid"><thead><tr>${cols.map((c) => `<th>${esc(c.head)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${cols.map((c, i) => `<td>${i === 0 ? `<span class="sw" style="background:${COLOURS[r.filter]}"></span>` : ''}${esc(c.cell(r))}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
  const runsOf = (f: FilterName) => s.runs.filter((r) => r.filter === f);
  const lossBars = barChart('Held-out loss (lower is better)', rows.map((r) => ({ name: r.label, colour: COLOURS[r.filter], value: r.heldOutLoss.mean, error: r.heldOutLoss.sd, values: runsOf(r.filter).map((x) => x.heldOutLoss) })), 'mean cross-entropy over clean answer tokens', {
    reference: normal ? { value: normal.heldOutLoss.mean, label: 'normal' } : undefined,
  });
  const accuracyBars = s.config.task && s.config.accuracyExamples > 0
    ? barChart('Answer accuracy (higher is better)', rows.map((r) => ({ name: r.label, colour: COLOURS[r.filter], value: r.accuracy?.mean ?? NaN, error: r.accuracy?.sd, values: runsOf(r.filter).map((x) => x.accuracy ?? NaN).filter(Number.isFinite) })), `exact match on ${s.config.accuracyExamples} held-out questions`, {
      reference: normal?.accuracy ? { value: normal.accuracy.mean, label: 'normal' } : undefined,
    })
    : '';
  const curves = lineChart('Held-out loss during training (mean over seeds)', FILTERS.filter((f) => runsOf(f).length > 0).map((f) => ({ name: f, colour: COLOURS[f], points: meanCurve(runsOf(f)), dashed: true })), 'held-out loss');
  const maskBars = barChart('Label tokens masked', rows.map((r) => ({ name: r.label, colour: COLOURS[r.filter], value: r.maskedFraction.mean })), 'share of label tokens', { digits: 3 });
  const samples = ['normal', 'xtf', 'oracle'].flatMap((f) => {
    const r = s.runs.find((x) => x.filter === f && x.samples.length > 0);
    return r ? [`<tr><td>${esc(f)} (seed ${r.seed})</td><td><code>${esc(r.samples[0].output.trim())}</code></td><td>${esc(r.samples[0].predicted ?? '–')} / ${esc(r.samples[0].target)}</td></tr>`] : [];
  }).join('');
  const settings = `<pre style="white-space:pre-wrap;margin:0">${esc(JSON.stringify(s.config, null, 2))}</pre>`;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>XTF experiment</title><style>
${PAGE_CSS}
.list{margin:0 0 8px;padding-left:18px;color:#374151}
.grid td{white-space:nowrap;font-variant-numeric:tabular-nums}.grid td:first-child{white-space:normal;min-width:220px}.grid{font-size:14px}
details summary{cursor:pointer;font-weight:600}</style></head><body>
<h1>XTF experiment: which tokens should a fine-tune learn from?</h1>
<ul class="list">${headline(s).map((l) => `<li>${esc(l)}</li>`).join('')}<li>what XTF flagged, token by token: <a href="xtf-scores.html">the heatmap of its scores</a> (scores.jsonl beside this page)</li></ul>
<div class="card">${table}<p class="sub" style="margin:10px 0 0">Held-out loss is measured on every answer token of the same held-out set for every run; that set chose nothing (each run's checkpoint is chosen on a validation split of its training examples). ± is the sample standard deviation over seeds; Δ is paired with the normal run of the same seed (same initialisation and data order).</p></div>
<div class="charts">${lossBars}${accuracyBars || maskBars}${curves}${accuracyBars ? maskBars : ''}</div>
${samples ? `<h2>A held-out answer</h2><div class="card"><table><thead><tr><th>run</th><th>greedy answer</th><th>predicted / target</th></tr></thead><tbody>${samples}</tbody></table></div>` : ''}
<h2>Settings</h2><div class="card"><details><summary>Every setting of this experiment (JSON)</summary>${settings}</details></div>
</body></html>`;
}
