// Step 3, scoring: the engine scores every label token (RI, KN, TR) under the chosen rule set, and the
// page re-selects on the CPU as the thresholds move (no re-scoring): the released rules' per-answer caps,
// or the paper's thresholds. Also the masked fractions, the token heatmap with its tooltip, and the masked
// dataset as a download. The HTML itself comes from heatmap.ts.
import type { RuleContext } from '../src/report/rule-checks.ts';
import { selectionRules, summaryFromRecords } from '../src/xtf/explain.ts';
import { exportLine } from '../src/xtf/export.ts';
import { domainText } from '../src/xtf/summary.ts';
import { XTF_DEFAULTS, xtfOptions, type XtfRules } from '../src/xtf/options.ts';
import { reselectReleased } from '../src/xtf/score-released.ts';
import { reselect } from '../src/xtf/select.ts';
import type { DatasetSummary, ScoredExample } from '../src/xtf/types.ts';
import { call, listen } from './connection.ts';
import { $ } from './dom.ts';
import { count, fmt } from './format.ts';
import { fractionsHtml, heatmapHtml, tokenTipHtml } from './heatmap.ts';
import { modelKey } from './model-card.ts';
import { requestPlan } from './plan.ts';
import { keepScores } from './saved.ts';
import { busy, probe, state } from './session.ts';
import type { SavedScores } from './store.ts';

async function scoreStep(): Promise<void> {
  await busy('score', async () => {
    const model = state.model!;
    $('score-bar').style.width = '0%';
    $('score-status').textContent = 'tokenising and compiling shaders…';
    const rules = $<HTMLSelectElement>('rules').value as XtfRules;
    const words = $<HTMLInputElement>('domain-words').value.split(',').map((w) => w.trim()).filter((w) => w !== '');
    const { scored, summary } = await call({ type: 'score', records: state.examples, batchSize: 8, rules, domainWords: words.length ? words : null, task: state.task }, 'scored');
    const saved: SavedScores = { savedAt: new Date().toISOString(), model: model.source, modelKey: modelKey(model), data: state.dataName, scored, summary };
    showScores(saved);
    $('score-status').textContent = `${summary.examples} examples · ${count(summary.labelTokens)} label tokens in ${summary.seconds.toFixed(1)} s (${Math.round(summary.tokensPerSecond).toLocaleString()} tokens/s) · kept in this browser`;
    await keepScores(saved);
    probe.scored = true; // after the save: a test may reload the page next
  });
}

/** Scores fresh from the GPU or from IndexedDB: the thresholds start at XTF's choice. */
export function showScores(s: SavedScores): void {
  state.scored = s.scored;
  state.summary = s.summary;
  state.scoresFrom = { model: s.model, modelKey: s.modelKey, data: s.data, savedAt: s.savedAt };
  state.shown = 10;
  state.rules = selectionRules(s.summary, s.scored) ?? 'paper';
  probe.rules = state.rules;
  initThresholds(s.summary);
  $('score-results').hidden = false;
  applySelection();
  requestPlan();
}

function initThresholds(summary: DatasetSummary): void {
  const released = state.rules === 'released';
  state.options = xtfOptions({ rules: state.rules, caps: summary.rules?.caps ?? XTF_DEFAULTS.caps });
  state.trCut = summary.rules?.released?.tr.cut ?? null;
  $('released-controls').hidden = !released;
  $('paper-controls').hidden = released;
  for (const a of ['ri', 'kn', 'tr'] as const) $<HTMLInputElement>(`${a}-max`).value = String(state.options.caps[a]);
  $('tr-cut-v').textContent = fmt(state.trCut);
  $<HTMLInputElement>('kn').value = String(state.options.kn.threshold);
  $<HTMLInputElement>('ri').value = String(state.options.ri.fenceR);
  const trs = state.scored.flatMap((e) => e.tr).filter((v): v is number => v !== null && Number.isFinite(v));
  const lo = Math.min(...trs), hi = Math.max(...trs);
  state.trRange = [lo, hi];
  const cuts = summary.thresholds?.trCuts ?? [];
  state.trCuts = [...cuts];
  for (const id of ['tr-lo', 'tr-hi']) {
    const el = $<HTMLInputElement>(id);
    el.min = String(lo);
    el.max = String(hi);
    el.step = String((hi - lo) / 400 || 0.001);
  }
  $<HTMLInputElement>('tr-lo').value = String(cuts[0] ?? hi);
  $<HTMLInputElement>('tr-hi').value = String(cuts[1] ?? hi);
}

function readThresholds(): void {
  for (const a of ['ri', 'kn', 'tr'] as const) {
    const v = Number($<HTMLInputElement>(`${a}-max`).value);
    if (v >= 0 && v <= 1) state.options.caps[a] = v; // a share; anything else waits for a valid value
  }
  state.options.kn.threshold = Number($<HTMLInputElement>('kn').value);
  state.options.ri.fenceR = Number($<HTMLInputElement>('ri').value);
  let lo = Number($<HTMLInputElement>('tr-lo').value);
  let hi = Number($<HTMLInputElement>('tr-hi').value);
  if (hi < lo) [lo, hi] = [hi, lo];
  state.trCuts = [lo, hi >= state.trRange[1] ? Infinity : hi];
}

function applySelection(): void {
  const t0 = performance.now();
  if (state.rules === 'released') state.view = sameCaps() ? state.scored : reselectReleased(state.scored, state.options, state.trCut);
  else state.view = state.trCuts.length === 0 && sameOptions() ? state.scored : reselect(state.scored, state.options, { trCuts: state.trCuts });
  const summary = summaryFromRecords(state.view);
  const ms = performance.now() - t0;
  $('tr-lo-v').textContent = fmt(Number($<HTMLInputElement>('tr-lo').value));
  $('tr-hi-v').textContent = state.trCuts[1] === Infinity ? 'the top' : fmt(state.trCuts[1] ?? NaN);
  renderFractions(summary, ms);
  renderHeatmap();
}

/** The current selection (thresholds as set now) as pre-tokenised JSONL: labels -100 on prompt and masked tokens. */
function downloadMasked(): void {
  const text = state.view.map((ex) => exportLine(ex, 'hf')).join('\n') + '\n';
  const a = document.createElement('a');
  a.download = 'xtf-masked.hf.jsonl';
  a.href = URL.createObjectURL(new Blob([text], { type: 'application/jsonl' }));
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
}

const sameCaps = () => (['ri', 'kn', 'tr'] as const).every((a) => state.options.caps[a] === (state.summary?.rules?.caps ?? XTF_DEFAULTS.caps)[a]);
const sameOptions = () => state.options.kn.threshold === XTF_DEFAULTS.kn.threshold && state.options.ri.fenceR === XTF_DEFAULTS.ri.fenceR;

function renderFractions(s: DatasetSummary, ms: number): void {
  probe.maskedTokens = Math.round(s.fractionMasked * s.labelTokens);
  probe.labelTokens = s.labelTokens;
  $('fractions').innerHTML = fractionsHtml(s, ms, rulesLine());
}

function renderHeatmap(): void {
  $('heatmap').innerHTML = heatmapHtml(state.view.slice(0, state.shown));
  $('more').hidden = state.shown >= state.view.length;
}

function showTip(ev: MouseEvent): void {
  const el = (ev.target as HTMLElement).closest('.tok[data-e]') as HTMLElement | null;
  const tip = $('tip');
  if (!el) return void (tip.hidden = true);
  const ex = state.view[Number(el.dataset.e)];
  const t = Number(el.dataset.t);
  if (!ex) return;
  tip.innerHTML = tokenTipHtml(ex, t, ruleContext(ex));
  tip.hidden = false;
  tip.style.left = `${Math.min(ev.clientX + 14, innerWidth - 240)}px`;
  tip.style.top = `${ev.clientY + 16}px`;
}

/** The rule set of the selection on screen, its caps and TR's domain, in words. */
function rulesLine(): string {
  const r = state.summary?.rules;
  const domain = r ? `; TR domain: ${domainText(r.domain)}` : '';
  const c = state.options.caps;
  return state.rules === 'released'
    ? `rules: released (the authors' code): at most RI ${fmt(c.ri)}, KN ${fmt(c.kn)}, TR ${fmt(c.tr)} of each answer${domain}`
    : `rules: paper (the paper's text)${domain}`;
}

/** What the tooltip compares a token of `ex` with: its answer's cuts (released), or the thresholds as set now (paper). */
function ruleContext(ex: ScoredExample): RuleContext {
  if (state.rules === 'released') return { rules: 'released', cuts: ex.cuts ?? null };
  return { rules: 'paper', riFence: state.summary?.thresholds?.riFences[ex.id] ?? null, knThreshold: state.options.kn.threshold, trCuts: state.trCuts };
}

export function wireScoreStep(): void {
  $('score').onclick = () => void scoreStep();
  for (const id of ['kn', 'ri', 'tr-lo', 'tr-hi', 'ri-max', 'kn-max', 'tr-max']) $(id).addEventListener('input', () => (readThresholds(), applySelection()));
  $('reset-thresholds').onclick = () => state.summary && (initThresholds(state.summary), applySelection());
  $('download-masked').onclick = downloadMasked;
  $('more').onclick = () => ((state.shown += 20), renderHeatmap());
  $('heatmap').addEventListener('mousemove', showTip);
  $('heatmap').addEventListener('mouseleave', () => ($('tip').hidden = true));
  listen((r) => {
    if (r.type !== 'score-progress') return;
    $('score-bar').style.width = `${(100 * r.done) / Math.max(1, r.total)}%`;
    $('score-status').textContent = `${r.done} / ${r.total} examples · ${Math.round(r.tokensPerSecond).toLocaleString()} tokens/s · ${r.etaSeconds > 0 ? `${Math.ceil(r.etaSeconds)} s left` : ''}`;
  });
}
