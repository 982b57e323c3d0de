// Saved state back on the page: after a reload, what IndexedDB holds (scores, runs, the last comparison,
// the adapters) goes back through each step's own view, before any model loads and even without WebGPU;
// "Clear saved state" forgets it all and takes those results off the page again; the models and data stored
// for use without a network (stored-files.ts) stay unless its box says to drop them too.
import { showComparison } from './compare-step.ts';
import { $ } from './dom.ts';
import { when } from './format.ts';
import { renderRuns, showDownloads } from './run-results.ts';
import { renderSavedStrip } from './saved.ts';
import { showScores } from './score-step.ts';
import { probe, refreshButtons, state } from './session.ts';
import { clearSaved, type SavedState } from './store.ts';
import { clearStored } from './stored-files.ts';
import { renderStored } from './stored-view.ts';

/** Shows what IndexedDB holds; it needs neither a model nor WebGPU. */
export function restore(saved: SavedState): void {
  state.saved = saved;
  if (saved.scores) {
    showScores(saved.scores);
    $('score-status').textContent = `saved scores · ${saved.scores.summary.examples} examples of ${saved.scores.data} · scored by ${saved.scores.model.split('/').pop()} · ${when(saved.scores.savedAt)}`;
  }
  state.runs = [...saved.runs];
  renderRuns();
  if (saved.comparison) {
    showComparison(saved.comparison, true);
    $<HTMLTextAreaElement>('prompt').value = saved.comparison.prompt;
  }
  showDownloads(saved.adapters, true);
  probe.restored = { scores: saved.scores?.scored.length ?? 0, runs: saved.runs.length, adapters: saved.adapters.length, comparison: !!saved.comparison };
  renderSavedStrip();
}

/** Forgets everything saved and takes the results it showed off the page; the loaded model and data stay,
 *  and so do the stored files unless the box beside the button is ticked. */
async function clearSavedState(): Promise<void> {
  await clearSaved();
  const dropStored = $<HTMLInputElement>('clear-stored').checked;
  if (dropStored) await clearStored();
  $<HTMLInputElement>('clear-stored').checked = false;
  await renderStored();
  state.saved = { runs: [], adapters: [] };
  Object.assign(state, { scored: [], view: [], summary: null, scoresFrom: null, runs: [] });
  $('score-results').hidden = true;
  for (const id of ['score-status', 'train-facts', 'downloads', 'generations', 'plan']) $(id).textContent = '';
  $('score-bar').style.width = '0%';
  renderRuns();
  renderSavedStrip();
  refreshButtons();
  probe.cleared = true;
}

export function wireClearSaved(): void {
  $('clear-saved').onclick = () => void clearSavedState();
}
