// The finished runs on the page: every loss curve on one chart (the live run's too), the runs side by
// side, and each run's adapter as downloads (a PEFT folder zipped, and its files). Training adds to them;
// restore.ts shows the saved ones. The SVG and table HTML come from runs.ts.
import { zipSync } from 'fflate';
import { escapeHtml } from '../src/report/html.ts';
import { $ } from './dom.ts';
import { when } from './format.ts';
import { lossChart, runsTable, type ChartRun } from './runs.ts';
import { state } from './session.ts';
import type { SavedAdapter } from './store.ts';

export function drawChart(): void {
  const runs: ChartRun[] = state.live ? [...state.runs, state.live] : state.runs;
  $('chart').innerHTML = lossChart(runs, runs.length - 1);
}

/** The chart and the side-by-side table of every finished run (saved ones included). */
export function renderRuns(): void {
  drawChart();
  $('runs').innerHTML = state.runs.length
    ? `<h3>Runs side by side <span class="muted small">held-out loss on the same tokens for every run</span></h3>${runsTable(state.runs)}`
    : '';
}

/** One row per adapter, newest first: the PEFT folder as a zip, and its two files. */
export function showDownloads(adapters: readonly SavedAdapter[], restored: boolean): void {
  $('downloads').querySelectorAll<HTMLAnchorElement>('a[href^="blob:"]').forEach((a) => URL.revokeObjectURL(a.href));
  const link = (name: string, data: Uint8Array, type: string) =>
    `<a class="button" download="${name}" href="${URL.createObjectURL(new Blob([data as BlobPart], { type }))}">${name}</a>`;
  const row = (a: SavedAdapter) => {
    const zip = zipSync(Object.fromEntries(Object.entries(a.files).map(([k, v]) => [`adapter/${k}`, v])));
    const slug = a.label.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
    return `<div class="adapter" data-adapter="${escapeHtml(a.label)}"><div class="who">${escapeHtml(a.label)} <span class="muted small">${a.steps} steps · ${when(a.savedAt)}</span></div>` +
      `<div class="row">${link(`adapter-${slug}.zip`, zip, 'application/zip')}${Object.entries(a.files).map(([k, v]) => link(k, v, k.endsWith('.json') ? 'application/json' : 'application/octet-stream')).join('')}</div></div>`;
  };
  $('downloads').innerHTML = adapters.length === 0 ? '' :
    `<h3>${restored ? 'Saved adapters' : 'Adapters'} <span class="muted small">PEFT LoRA, one per run${restored ? '' : ' · kept in this browser'}</span></h3>` +
    [...adapters].reverse().map(row).join('') +
    `<p class="small muted">Unzip and load with <code>PeftModel.from_pretrained(base, "adapter")</code>, or <code>xtf generate --adapter adapter</code>.</p>`;
}
