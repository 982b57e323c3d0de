// Step 5, generation: one prompt, greedy decoding, through the base model and every adapter at hand,
// side by side in each run's colour; the last comparison is kept in this browser.
import { escapeHtml } from '../src/report/html.ts';
import { call } from './connection.ts';
import { $ } from './dom.ts';
import { when } from './format.ts';
import { keepComparison } from './saved.ts';
import { busy, probe, state } from './session.ts';
import type { SavedComparison } from './store.ts';

async function generateStep(): Promise<void> {
  const prompt = $<HTMLTextAreaElement>('prompt').value;
  await busy('generate', async () => {
    $('generations').innerHTML = '<p class="muted">generating…</p>';
    const { outputs } = await call({ type: 'generate', prompt, maxTokens: Math.max(1, Number($<HTMLInputElement>('max-tokens').value) | 0) }, 'generated');
    const comparison: SavedComparison = { savedAt: new Date().toISOString(), prompt, outputs };
    showComparison(comparison, false);
    await keepComparison(comparison);
    probe.generations = outputs.length; // after the save: a test may reload the page next
  });
}

export function showComparison(c: SavedComparison, restored: boolean): void {
  const colour = (label: string) => state.runs.find((r) => r.label === label)?.colour ?? '#0f172a';
  $('generations').innerHTML = (restored ? `<p class="small muted gen-note">saved comparison · ${when(c.savedAt)}</p>` : '') +
    c.outputs.map((o) => `<div class="gen"><div class="who"><span class="swatch" style="background:${colour(o.label)}"></span>${escapeHtml(o.label)} <span class="muted small">${o.tokens} tokens</span></div><div class="out"><span class="muted">…${escapeHtml(c.prompt.slice(-60))}</span>${escapeHtml(o.text)}</div></div>`).join('');
}

export function wireCompareStep(): void {
  $('generate').onclick = () => void generateStep();
}
