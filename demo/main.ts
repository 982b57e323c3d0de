// The demo page's composition root: picks a model and data, drives the engine (a Web Worker with WebGPU),
// and shows XTF's selection, which it re-computes on the main thread when thresholds move (selection is
// pure CPU code). Each step of the page is its own module; this file wires them up and starts the page:
//   device.ts (engine, WebGPU) · model-step.ts (1) · data-step.ts (2) · score-step.ts (3) ·
//   plan.ts + train-step.ts (4) · run-results.ts (chart, runs table, adapters) · compare-step.ts (5) ·
//   saved.ts + restore.ts (what IndexedDB keeps, store.ts) · session.ts (shared state, test probe) ·
//   offline.ts (service worker: the page without a network) · stored-view.ts (models and data kept in
//   Cache Storage, stored-files.ts).
// Scores, finished runs, the last comparison and every run's adapter (up to 8) are kept in IndexedDB and
// shown again after a reload, before any model loads and even without WebGPU.
import { wireCompareStep } from './compare-step.ts';
import { loadDataStep, wireDataStep } from './data-step.ts';
import { startEngine, wireDevice } from './device.ts';
import { $, choose } from './dom.ts';
import { loadModelStep, wireModelStep } from './model-step.ts';
import { showRecipeDefaults, wirePlan } from './plan.ts';
import { restore, wireClearSaved } from './restore.ts';
import { drawChart } from './run-results.ts';
import { wireScoreStep } from './score-step.ts';
import { probe, refreshButtons } from './session.ts';
import { loadSaved } from './store.ts';
import { renderStored, wireStoredFiles } from './stored-view.ts';
import { wireOffline } from './offline.ts';
import { wireTrainStep } from './train-step.ts';

// The recipe's settings, then sizes from the address (?examples=12&steps=8…), as the end-to-end test sets them.
showRecipeDefaults();
const params = new URLSearchParams(location.search);
for (const id of ['examples', 'steps', 'batch', 'lr', 'rank']) if (params.has(id)) $<HTMLInputElement>(id).value = params.get(id)!;

wireDevice();
wireModelStep();
wireDataStep();
wireScoreStep();
wirePlan();
wireTrainStep();
wireCompareStep();
wireClearSaved();
wireStoredFiles();
wireOffline(() => void renderStored());
drawChart();

void (async () => {
  restore(await loadSaved());
  await startEngine();
  refreshButtons();
  if (!probe.ready) return;
  // The defaults are small: load them at once so the first click can score. (A reload may have kept
  // another model choice in the form; the first load is always the default.)
  choose('model', 'default');
  await Promise.all([loadModelStep('default'), loadDataStep()]);
})();
