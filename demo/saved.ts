// What this browser keeps, as the page shows it: each step hands its result here to be saved in IndexedDB
// (store.ts owns the keys), and the strip under the header says what is kept. Putting it all back after a
// reload is restore.ts's job.
import { escapeHtml } from '../src/report/html.ts';
import { $ } from './dom.ts';
import { count } from './format.ts';
import { state } from './session.ts';
import { saveAdapters, saveComparison, saveRuns, saveScores, type SavedAdapter, type SavedComparison, type SavedScores } from './store.ts';

export async function keepScores(scores: SavedScores): Promise<void> {
  await saveScores(scores);
  state.saved.scores = scores;
  renderSavedStrip();
}

/** The finished runs (state.runs) and every adapter kept. */
export async function keepRuns(adapters: SavedAdapter[]): Promise<void> {
  await Promise.all([saveRuns(state.runs), saveAdapters(adapters)]);
  Object.assign(state.saved, { runs: [...state.runs], adapters });
  renderSavedStrip();
}

export async function keepComparison(comparison: SavedComparison): Promise<void> {
  await saveComparison(comparison);
  state.saved.comparison = comparison;
  renderSavedStrip();
}

export const savedSomething = () => !!(state.saved.scores || state.saved.runs.length || state.saved.adapters.length || state.saved.comparison);

export function renderSavedStrip(): void {
  const s = state.saved;
  const parts = [
    s.scores && `scores of ${count(s.scores.scored.length)} examples`,
    s.runs.length && `${s.runs.length} training run${s.runs.length > 1 ? 's' : ''}`,
    s.adapters.length && `the adapter${s.adapters.length > 1 ? 's' : ''} of ${s.adapters.map((a) => `“${escapeHtml(a.label)}”`).join(', ')}`,
    s.comparison && 'the last comparison of generations',
  ].filter(Boolean);
  $('saved').hidden = parts.length === 0;
  $('saved-text').innerHTML = `<b>Kept in this browser</b> (IndexedDB): ${parts.join(' · ')}. A reload brings them back, even without WebGPU.`;
}
