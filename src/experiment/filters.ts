// The filters an experiment compares, each a per-token mask over the same tokenized training set:
// normal (every label token), XTF with its defaults, each attribute alone and each pair (a re-selection
// of the same scores: XTF's thresholds do not depend on which attributes are on), the baselines of
// XTF.md (STM, SLM, Token Cleaning, random at XTF's masked fraction) and, when the injected noise is
// known, the oracle (exactly the injected tokens masked): the best any token filter could do.
// SLM comes twice: offline (`slm`: the excess loss against the base model, one mask like the others) and
// online (`slm-online`: Rho-1 as published, the excess loss against the model in training, chosen anew at
// every step, so it has no mask here; see ../xtf/slm-online.ts).
// XTF under a named rule set whatever the experiment's rules (`xtf-paper`, `xtf-released`: scored once more
// with that rule set when it is not the experiment's; the one that is the experiment's shares 'xtf''s run),
// and online XTF (`xtf-online`: KN re-scored at every step from the model in training, RI / TR fixed at
// the experiment's scoring, under the experiment's rules; no mask either, see ../xtf/xtf-online.ts).
// The default grid (DEFAULT_FILTERS) is the README table's: both rule sets, each attribute alone, online
// XTF and online SLM, random and the oracle, so one command says which helps on the user's data. The pairs,
// STM, offline SLM and Token Cleaning are opt-in (OPT_IN_FILTERS; the previous table, docs/experiments.md).
// Pure: masks are computed from score records; nothing here touches the GPU.
import { selectRandom, selectStm } from '../xtf/baselines.ts';
import { labelNoiseTokens, type NoiseSpan } from '../xtf/noise.ts';
import { BASELINE_DEFAULTS, xtfOptions, type BaselineOptions, type XtfOptions, type XtfRules } from '../xtf/options.ts';
import { reselect } from '../xtf/select.ts';
import { reselectReleased } from '../xtf/score-released.ts';
import type { Attribute, ScoredExample } from '../xtf/types.ts';
import { inLoss } from '../data/tokenize.ts';

/** Every filter, in the order runs are taken and rows are shown. */
export const FILTERS = ['normal', 'xtf', 'xtf-released', 'xtf-paper', 'ri', 'kn', 'tr', 'ri+kn', 'ri+tr', 'kn+tr', 'xtf-online', 'stm', 'slm', 'slm-online', 'tc', 'random', 'oracle'] as const;
export type FilterName = (typeof FILTERS)[number];

/** Filters run only when asked for (--filters, or 'all'): never in the default grid. */
export const OPT_IN_FILTERS: readonly FilterName[] = ['ri+kn', 'ri+tr', 'kn+tr', 'stm', 'slm', 'tc'];

/** The default grid (before the data drops what does not apply): every filter but the opt-in ones. */
export const DEFAULT_FILTERS: readonly FilterName[] = FILTERS.filter((f) => !OPT_IN_FILTERS.includes(f));

/** Filters chosen at every step while training (no mask to prepare; their masked share is counted as they train). */
export const ONLINE_FILTERS: readonly FilterName[] = ['xtf-online', 'slm-online'];

/** The rule set an XTF filter pins ('xtf-paper', 'xtf-released'), else null (the experiment's rules). */
export function pinnedRules(filter: FilterName): XtfRules | null {
  return filter === 'xtf-paper' ? 'paper' : filter === 'xtf-released' ? 'released' : null;
}

export const FILTER_LABELS: Record<FilterName, string> = {
  normal: 'Normal (all label tokens)',
  xtf: 'XTF (RI ∪ KN ∪ TR)',
  'xtf-released': "XTF, released rules (the authors' code: per-answer caps)",
  'xtf-paper': "XTF, paper rules (the paper's text)",
  ri: 'XTF: RI only',
  kn: 'XTF: KN only',
  tr: 'XTF: TR only',
  'ri+kn': 'XTF: RI + KN',
  'ri+tr': 'XTF: RI + TR',
  'kn+tr': 'XTF: KN + TR',
  'xtf-online': "XTF online (KN re-scored every step, RI / TR fixed; the experiment's rules)",
  stm: 'STM (perplexity > 2.5)',
  slm: 'SLM offline (vs the base model, top 60% per batch)',
  'slm-online': 'SLM / Rho-1 online (vs the model in training, top 60% per step)',
  tc: 'Token Cleaning (top 60%)',
  random: "Random (XTF's fraction)",
  oracle: 'Oracle (injected noise masked)',
};

/** Filters that need a reference model trained on clean data. */
export const NEEDS_REFERENCE: readonly FilterName[] = ['slm', 'slm-online', 'tc'];

/** "xtf,kn+tr,random" or "all" (every filter, the opt-in ones included) -> filter names, in FILTERS order;
 *  unknown names are a RangeError. */
export function parseFilters(text: string): FilterName[] {
  if (text.trim() === 'all') return [...FILTERS];
  const names = text.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  for (const n of names) if (!(FILTERS as readonly string[]).includes(n)) throw new RangeError(`unknown filter '${n}': use any of ${FILTERS.join(', ')} or 'all'`);
  if (names.length === 0) throw new RangeError('no filter given');
  return FILTERS.filter((f) => names.includes(f));
}

/** A filter's mask: per example, per token, 1 = this label token trains. */
export interface Mask {
  lossMask: number[][];
  /** Masked label tokens / label tokens (the label tokens of the normal filter). */
  maskedFraction: number;
}

/** The attributes an XTF filter uses, or null for a filter that is not an XTF variant. */
export function xtfAttributes(filter: FilterName): Attribute[] | null {
  if (filter === 'xtf') return ['ri', 'kn', 'tr'];
  if (filter === 'ri' || filter === 'kn' || filter === 'tr') return [filter];
  if (filter.includes('+')) return filter.split('+') as Attribute[];
  return null;
}

/** Label tokens that can train (token 0 is predicted by nothing), as a 0/1 mask: the normal filter. */
export function normalWeights(scored: readonly ScoredExample[]): number[][] {
  return scored.map((ex) => ex.label.map((_, i) => (inLoss(ex.label, i) && ex.p[i] !== null ? 1 : 0)));
}

export function maskOf(lossMask: number[][], normal: number[][]): Mask {
  let labels = 0, masked = 0;
  normal.forEach((row, e) => row.forEach((w, i) => {
    if (w > 0) {
      labels++;
      if (!(lossMask[e][i] > 0)) masked++;
    }
  }));
  return { lossMask, maskedFraction: labels > 0 ? masked / labels : 0 };
}

export interface MaskInputs {
  /** Scores of every training example (any selection: XTF filters re-select). */
  scored: readonly ScoredExample[];
  xtf?: XtfOptions;
  baselines?: BaselineOptions;
  /** Masks the SLM and Token Cleaning scoring passes chose (they need a reference model). */
  slm?: number[][];
  tc?: number[][];
  /** The released rules' dataset-level TR cut (the scoring summary's rules.released.tr.cut). */
  trCut?: number | null;
  /** The same examples scored under the other rule set (for 'xtf-paper' / 'xtf-released' when the
   *  experiment's rules are not theirs), with that scoring's TR cut under the released rules. */
  otherRules?: { rules: XtfRules; scored: readonly ScoredExample[]; trCut: number | null };
  /** Per training example, the injected noise spans and its completion (the built-in data). */
  noise?: readonly { completion: string; noise: NoiseSpan[] }[];
}

/** The mask of every filter that does not depend on the run's seed ('random' does: see randomMask). */
export function seedFreeMasks(filters: readonly FilterName[], inputs: MaskInputs): Partial<Record<FilterName, Mask>> {
  const xtf = inputs.xtf ?? xtfOptions();
  const normal = normalWeights(inputs.scored);
  const out: Partial<Record<FilterName, Mask>> = {};
  for (const f of filters) {
    const attributes = xtfAttributes(f);
    const pinned = pinnedRules(f);
    if (f === 'normal') out[f] = maskOf(normal, normal);
    else if (attributes) {
      // Each ablation re-selects the same scores under the experiment's rule set.
      out[f] = maskOf(xtfSelection(inputs.scored, xtf, attributes, inputs.trCut ?? null).map((ex) => ex.lossMask), normal);
    } else if (pinned) {
      // XTF under a named rule set: the experiment's own scores when the rules are its own (then the mask
      // is bit-identical to 'xtf''s), else the scores of the other rule set's pass.
      const other = inputs.otherRules;
      let selected: ScoredExample[];
      if (pinned === xtf.rules) selected = xtfSelection(inputs.scored, xtf, ['ri', 'kn', 'tr'], inputs.trCut ?? null);
      else if (other && other.rules === pinned) {
        sameTokens(inputs.scored, other.scored, pinned);
        selected = xtfSelection(other.scored, xtfOptions({ ...xtf, rules: pinned }), ['ri', 'kn', 'tr'], other.trCut);
      } else throw new Error(`filter '${f}' needs the examples scored under the ${pinned} rules (the experiment's rules are ${xtf.rules})`);
      out[f] = maskOf(selected.map((ex) => ex.lossMask), normal);
    } else if (f === 'stm') {
      out[f] = maskOf(selectStm(inputs.scored, (inputs.baselines ?? BASELINE_DEFAULTS).stm).lossMask, normal);
    } else if (f === 'slm' || f === 'tc') {
      const w = inputs[f];
      if (!w) throw new Error(`filter '${f}' needs the mask of its scoring pass (a reference model)`);
      out[f] = maskOf(w, normal);
    } else if (f === 'oracle') {
      if (!inputs.noise) throw new Error("filter 'oracle' needs the injected noise spans (the built-in data, or --noise-rate > 0)");
      const noise = inputs.noise;
      out[f] = maskOf(inputs.scored.map((ex, e) => labelNoiseTokens(ex, noise[e]).map((k, i) => (k === 'clean' && normal[e][i] > 0 ? 1 : 0))), normal);
    }
  }
  return out;
}

/** XTF's selection of the given attributes over scores of its rule set (`xtf.rules`). */
export function xtfSelection(scored: readonly ScoredExample[], xtf: XtfOptions, attributes: readonly Attribute[], trCut: number | null): ScoredExample[] {
  const options = xtfOptions({ ...xtf, attributes: { ri: attributes.includes('ri'), kn: attributes.includes('kn'), tr: attributes.includes('tr') } });
  return xtf.rules === 'released' ? reselectReleased(scored, options, trCut) : reselect(scored, options);
}

/** Two scorings of the same examples must hold the same tokens and label tokens (masks index both). */
function sameTokens(a: readonly ScoredExample[], b: readonly ScoredExample[], rules: XtfRules): void {
  const same = a.length === b.length && a.every((ex, e) => ex.id === b[e].id && ex.tokens.join() === b[e].tokens.join() && ex.label.join() === b[e].label.join());
  if (!same) throw new Error(`the ${rules} rules' scoring holds other examples or tokens than the experiment's`);
}

/** The random control for one seed: XTF's masked fraction, masked uniformly at random among label tokens. */
export function randomMask(normal: number[][], fraction: number, seed: number): Mask {
  const selection = selectRandom(normal.map((row) => ({ label: row.map((w) => w > 0) })), fraction, { seed });
  return maskOf(selection.lossMask, normal);
}

/** Per example, per token: true on injected-noise label tokens (for a mask's recall / false-mask rate). */
export function noiseTokens(scored: readonly ScoredExample[], noise: readonly { completion: string; noise: NoiseSpan[] }[]): boolean[][] {
  return scored.map((ex, e) => labelNoiseTokens(ex, noise[e]).map((k) => k !== null && k !== 'clean'));
}

export interface MaskQuality {
  /** Share of the injected-noise label tokens the mask removes. */
  noiseRecall: number;
  /** Share of the clean label tokens the mask removes. */
  cleanMasked: number;
}

export function maskQuality(mask: Mask, normal: number[][], isNoise: boolean[][]): MaskQuality {
  let noise = 0, noiseHit = 0, clean = 0, cleanHit = 0;
  normal.forEach((row, e) => row.forEach((w, i) => {
    if (!(w > 0)) return;
    const masked = !(mask.lossMask[e][i] > 0);
    if (isNoise[e][i]) { noise++; if (masked) noiseHit++; } else { clean++; if (masked) cleanHit++; }
  }));
  return { noiseRecall: noise > 0 ? noiseHit / noise : NaN, cleanMasked: clean > 0 ? cleanHit / clean : NaN };
}
