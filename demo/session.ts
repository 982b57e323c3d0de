// What the page knows across its steps (the loaded model, the data, the scores and their selection, the
// runs, what IndexedDB holds) and the probe the end-to-end test reads as window.__demo. One shared
// object, so each step module reads what the steps before it left; also the busy/enabled state of the
// step buttons, which depends on all of it.
import { XTF_DEFAULTS, type XtfOptions, type XtfRules } from '../src/xtf/options.ts';
import type { TrainRecord } from '../src/data/records.ts';
import type { DatasetSummary, ScoredExample } from '../src/xtf/types.ts';
import { $, toast } from './dom.ts';
import { modelKey, type DeviceFacts } from './model-card.ts';
import type { MemoryPlanReply, ModelInfo } from './protocol.ts';
import type { ChartRun } from './runs.ts';
import type { SavedRun, SavedState } from './store.ts';

/** Which model scored the scores on screen, so training only uses them with a model that shares its tokens. */
interface ScoresOrigin { model: string; modelKey: string; data: string; savedAt: string }

export const state = {
  model: null as ModelInfo | null,
  device: null as DeviceFacts | null,
  /** Model files picked or dropped, loaded when "from disk" is chosen. */
  picked: [] as File[],
  dataName: '',
  examples: [] as TrainRecord[],
  heldOut: [] as TrainRecord[],
  scored: [] as ScoredExample[],
  view: [] as ScoredExample[],
  summary: null as DatasetSummary | null,
  scoresFrom: null as ScoresOrigin | null,
  /** The data's task when it is a known one ('gsm8k' for the sample): its domain words under the released rules. */
  task: null as string | null,
  /** The rule set of the scores on screen, and the released rules' dataset-level TR cut. */
  rules: XTF_DEFAULTS.rules as XtfRules,
  trCut: null as number | null,
  options: structuredClone(XTF_DEFAULTS) as XtfOptions,
  trCuts: [] as number[],
  trRange: [0, 1] as [number, number],
  shown: 10,
  /** Finished runs (saved ones first), and the run training now. */
  runs: [] as SavedRun[],
  live: null as ChartRun | null,
  saved: { runs: [], adapters: [] } as SavedState,
  busy: false,
};

// Read by the end-to-end test.
export const probe = {
  paused: false, generations: 0, ready: false, where: '', backend: '', modelLoaded: false, loads: 0, model: '', examples: 0, scored: false,
  maskedTokens: 0, labelTokens: 0, rules: null as string | null, sources: {} as Record<string, string>, losses: [] as number[], trained: false, errors: [] as string[],
  restored: { scores: 0, runs: 0, adapters: 0, comparison: false }, plan: null as MemoryPlanReply | null, cleared: false,
};
(window as unknown as { __demo: typeof probe }).__demo = probe;
// The scores on screen, for a test that compares two backends' (too large to poll with the probe).
(window as unknown as { __demoScores: () => unknown }).__demoScores = () => ({ scored: state.scored, summary: state.summary });

/** Runs one step's work with its button disabled; an error becomes a toast (and a line the test reads). */
export async function busy(button: string, work: () => Promise<void>): Promise<void> {
  const b = $<HTMLButtonElement>(button);
  b.disabled = true;
  b.classList.add('working');
  state.busy = true;
  try {
    await work();
  } catch (e) {
    toast(`${(e as Error).name}: ${(e as Error).message}`);
    probe.errors.push((e as Error).message);
  } finally {
    b.classList.remove('working');
    state.busy = false;
    b.disabled = false;
    refreshButtons();
  }
}

/** Enables each step's button when what it needs is there. */
export function refreshButtons(): void {
  if (state.busy) return;
  const gpu = probe.ready;
  $<HTMLButtonElement>('load-model').disabled = !gpu;
  $<HTMLButtonElement>('generate').disabled = !state.model;
  $<HTMLButtonElement>('score').disabled = !(state.model && state.examples.length > 0);
  const train = $<HTMLButtonElement>('train');
  const foreign = state.model && state.scoresFrom && state.scoresFrom.modelKey !== modelKey(state.model);
  // Training runs on WebGPU only: on gpu.js the button stays off and says why.
  const refusal = state.device?.training ?? null;
  train.disabled = !(state.model && state.scored.length > 0) || !!foreign || refusal !== null;
  train.title = refusal ?? (foreign ? `These scores come from ${state.scoresFrom!.model} (${state.scoresFrom!.modelKey}); score again with the loaded model.` : '');
}
