// What the demo keeps in this browser (IndexedDB through idb-keyval), so a reload — or a browser without
// WebGPU — still shows the last scores, every finished run and its adapter. Every key lives here.
import { del, get, set } from 'idb-keyval';
import type { DatasetSummary, ScoredExample } from '../src/xtf/types.ts';
import type { TrainPoint, TrainSettings } from './protocol.ts';

const KEYS = {
  adapters: 'xtf-demo/adapters',
  /** One adapter, as earlier versions of the page kept it: read once, then replaced by `adapters`. */
  legacyAdapter: 'xtf-demo/adapter',
  scores: 'xtf-demo/scores',
  runs: 'xtf-demo/runs',
  comparison: 'xtf-demo/comparison',
} as const;

/** Adapters kept at most; the oldest goes first (an adapter of a 0.5B model at rank 8 is ~17 MiB). */
export const MAX_SAVED_ADAPTERS = 8;

/** A finished run's adapter, as PEFT files (one per run label). */
export interface SavedAdapter {
  label: string;
  /** The shape of the model it was trained for (see main.ts modelKey); absent in older saves. */
  modelKey?: string;
  savedAt: string;
  steps: number;
  files: Record<string, Uint8Array>;
  losses: number[];
}

/** A scored dataset: re-selection with other thresholds needs nothing else (no model, no GPU). */
export interface SavedScores {
  savedAt: string;
  /** The model that scored it (for people) and its shape (to tell whether a loaded model can train on it:
   *  token ids only mean something to the model's tokenizer). */
  model: string;
  modelKey: string;
  data: string;
  scored: ScoredExample[];
  summary: DatasetSummary;
}

/** A finished training run: what the chart and the comparison table show. */
export interface SavedRun {
  label: string;
  colour: string;
  savedAt: string;
  model: string;
  settings: TrainSettings;
  /** 'xtf': the loss on the tokens XTF keeps; 'all': on every label token. */
  mask: 'xtf' | 'all' | 'xtf-online';
  points: TrainPoint[];
  steps: number;
  seconds: number;
  heldOutBefore: number | null;
  heldOutAfter: number | null;
  /** Label tokens that entered the loss over the whole run. */
  trainedTokens: number;
  /** Of the training set's label tokens, the fraction the run's mask left out of the loss. */
  maskedFraction: number;
  /** The pace of the run's last session (all tokens of each micro-batch, padding included). */
  tokensPerSecond: number;
  reason: string;
}

/** The last "compare generations": one prompt through the base model and every run's adapter. */
export interface SavedComparison {
  savedAt: string;
  prompt: string;
  outputs: { label: string; text: string; tokens: number }[];
}

export interface SavedState {
  /** Oldest first. */
  adapters: SavedAdapter[];
  scores?: SavedScores;
  runs: SavedRun[];
  comparison?: SavedComparison;
}

/** Everything saved, or nothing when IndexedDB is unavailable (a private window may refuse it). */
export async function loadSaved(): Promise<SavedState> {
  const read = <T>(key: string) => get<T>(key).catch((e) => (console.warn(`could not read ${key} from IndexedDB:`, e), undefined));
  const [adapters, legacy, scores, runs, comparison] = await Promise.all([
    read<SavedAdapter[]>(KEYS.adapters),
    read<SavedAdapter>(KEYS.legacyAdapter),
    read<SavedScores>(KEYS.scores),
    read<SavedRun[]>(KEYS.runs),
    read<SavedComparison>(KEYS.comparison),
  ]);
  return { adapters: adapters ?? (legacy ? [legacy] : []), scores, runs: runs ?? [], comparison };
}

// Saving is best effort: a full or refused IndexedDB must not break the run that just finished.
const save = (key: string, value: unknown) => set(key, value).catch((e) => console.warn(`could not save ${key} in IndexedDB:`, e));

/** The adapters with `a` added: it replaces one of the same label, and only the newest MAX_SAVED_ADAPTERS stay. */
export function withAdapter(adapters: readonly SavedAdapter[], a: SavedAdapter): SavedAdapter[] {
  return [...adapters.filter((x) => x.label !== a.label), a].slice(-MAX_SAVED_ADAPTERS);
}

export const saveAdapters = async (adapters: SavedAdapter[]) => {
  await save(KEYS.adapters, adapters);
  await del(KEYS.legacyAdapter).catch(() => undefined);
};
export const saveScores = (s: SavedScores) => save(KEYS.scores, s);
export const saveRuns = (runs: SavedRun[]) => save(KEYS.runs, runs);
export const saveComparison = (c: SavedComparison) => save(KEYS.comparison, c);

export async function clearSaved(): Promise<void> {
  await Promise.all(Object.values(KEYS).map((k) => del(k)));
}
