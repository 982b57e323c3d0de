// Step 4, training: a LoRA run on the scored examples, with the loss on the tokens XTF keeps or on every
// label token; its progress, pause / resume / finish early, and, when it ends, the run's facts, its place
// in the chart and table (run-results.ts) and its adapter, all kept in this browser.
import type { TokenizedRecord } from '../src/data/tokenize.ts';
import { escapeHtml } from '../src/report/html.ts';
import { scoredToTraining } from '../src/xtf/to-training.ts';
import { call, listen, send } from './connection.ts';
import { $ } from './dom.ts';
import { count, duration } from './format.ts';
import { modelKey } from './model-card.ts';
import { readSettings } from './plan.ts';
import { drawChart, renderRuns, showDownloads } from './run-results.ts';
import type { ChartRun } from './runs.ts';
import { keepRuns } from './saved.ts';
import { busy, probe, state } from './session.ts';
import { withAdapter, type SavedAdapter, type SavedRun } from './store.ts';

const COLOURS = ['#2563eb', '#ea580c', '#059669', '#9333ea', '#64748b', '#db2777'];

/** Labels name runs in the chart, the table and the engine's adapters, so each must be unique. */
function uniqueLabel(base: string): string {
  const taken = new Set(state.runs.map((r) => r.label));
  if (!taken.has(base)) return base;
  for (let n = 2; ; n++) if (!taken.has(`${base} #${n}`)) return `${base} #${n}`;
}

/** Label tokens that can enter the loss (the first token of a sequence is never a target). */
const lossTokens = (records: TokenizedRecord[]) => records.reduce((s, r) => s + r.lossMask.filter((m, i) => m && i > 0).length, 0);

async function trainStep(): Promise<void> {
  const chosenMask = $<HTMLSelectElement>('mask').value;
  const mask = chosenMask === 'all' || chosenMask === 'xtf-online' ? chosenMask : 'xtf';
  const model = state.model!;
  const items = state.view.map((ex) => scoredToTraining(ex, model.maxSeqLen));
  // The same examples every way: with XTF's mask, or with every label token training (online XTF's
  // selector then masks at every step).
  const examples = mask === 'xtf' ? items : items.map((i) => ({ ...i, train: i.labels }));
  const records = examples.map((i) => i.train);
  const settings = readSettings();
  const label = uniqueLabel(mask === 'xtf' ? 'XTF mask' : mask === 'xtf-online' ? 'XTF online' : 'all label tokens');
  const live: ChartRun = { label, colour: COLOURS[state.runs.length % COLOURS.length], points: [] };
  state.live = live;
  probe.losses = [];
  $<HTMLButtonElement>('pause').disabled = false;
  await busy('train', async () => {
    $('train-bar').style.width = '0%';
    $('train-status').textContent = 'compiling shaders…';
    const online = mask === 'xtf-online' ? { scored: state.view, xtf: state.options } : undefined;
    const done = await call({ type: 'train', examples, heldOut: state.heldOut, settings, label, online }, 'trained');
    const labelTokens = lossTokens(items.map((i) => i.labels));
    const run: SavedRun = {
      ...live, savedAt: new Date().toISOString(), model: model.source, settings, mask, steps: done.steps, seconds: done.seconds,
      heldOutBefore: done.heldOutBefore, heldOutAfter: done.heldOutAfter, trainedTokens: done.trainedTokens,
      maskedFraction: done.onlineMasked ?? (labelTokens ? 1 - lossTokens(records) / labelTokens : 0),
      tokensPerSecond: live.points.at(-1)?.tokensPerSecond ?? 0, reason: done.reason,
    };
    state.runs.push(run);
    state.live = null;
    renderRuns();
    $('train-facts').innerHTML = runFacts(run, lossTokens(records));
    const adapter: SavedAdapter = { label: done.label, modelKey: modelKey(model), savedAt: run.savedAt, steps: done.steps, files: done.files, losses: run.points.map((p) => p.loss) };
    const adapters = withAdapter(state.saved.adapters, adapter);
    showDownloads(adapters, false);
    await keepRuns(adapters);
    // Tests read the table, the downloads and the saved state once this is set: it comes after all three.
    probe.trained = true;
  });
  state.live = null;
  renderRuns();
  $<HTMLButtonElement>('pause').disabled = true;
  $('pause').textContent = 'Pause';
  $('finish').hidden = true;
}

function runFacts(run: SavedRun, perEpoch: number): string {
  const losses = run.points.map((p) => p.loss);
  return [
    ['run', `${run.label} · ${run.steps} steps${run.reason === 'aborted' ? ' (finished early)' : ''}`],
    ['time', `${run.seconds.toFixed(1)} s`],
    ['loss', losses.length ? `${losses[0].toFixed(3)} → ${losses.at(-1)!.toFixed(3)}` : '—'],
    ['tokens in the loss', `${count(perEpoch)} per epoch`],
  ].map(([k, v]) => `<dt>${k}</dt><dd>${escapeHtml(v)}</dd>`).join('');
}

/** Pause asks the engine to stop after this step (it keeps a checkpoint); Resume goes on from it. */
function togglePause(): void {
  const b = $<HTMLButtonElement>('pause');
  if (b.textContent === 'Resume') {
    b.textContent = 'Pause';
    $('finish').hidden = true;
    probe.paused = false;
    $('train-status').textContent = 'resuming…';
    send({ type: 'resume' });
  } else {
    b.disabled = true;
    $('train-status').textContent = 'pausing after this step…';
    send({ type: 'stop' });
  }
}

export function wireTrainStep(): void {
  $('train').onclick = () => void trainStep();
  $('pause').onclick = togglePause;
  $('finish').onclick = () => (($('finish').hidden = true), send({ type: 'finish' }));
  listen((r) => {
    if (r.type === 'train-progress') {
      if (!state.live) return;
      state.live.points.push(r.point);
      probe.losses.push(r.point.loss);
      const p = r.point;
      $('train-bar').style.width = `${(100 * p.step) / p.totalSteps}%`;
      $('train-status').textContent = `step ${p.step} / ${p.totalSteps} · loss ${p.loss.toFixed(3)} · ${Math.round(p.tokensPerSecond).toLocaleString()} tokens/s · ETA ${duration(p.etaMs / 1000)}`;
      drawChart();
    } else if (r.type === 'paused') {
      probe.paused = true;
      const b = $<HTMLButtonElement>('pause');
      b.textContent = 'Resume';
      b.disabled = false;
      $('finish').hidden = false;
      $('train-status').textContent = `paused after step ${r.step} (a checkpoint holds the adapter and optimiser state)`;
    }
  });
}
