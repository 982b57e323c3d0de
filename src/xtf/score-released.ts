// The released rule set (./released.ts: the authors' published code, restated) wired into scoring
// (./score.ts): task relevance from the model's last hidden states (./released-relevance.ts), the
// dataset-level TR cut over every token occurrence, and the per-answer selection with its caps.
//
// What scoring does under `rules: 'released'`, and the choices where the authors' code gave no answer:
// - RI is scored as under the paper's rules (the attention each label token receives, ./forward-scores.ts).
//   The authors' code averages each query's row of the first layer's attention, which gives every token
//   the same 1/L; we keep our reading of the paper's formula. KN uses the same teacher-forced p.
// - TR: releasedRelevance over the token ids of every scored sequence (prompts, BOS and EOS included) in
//   order of first occurrence, so each type's representative is the id the authors' walk meets first.
//   The domain words: xtf.domainWords, else the task's default list (./domain-words.ts) when the caller
//   names the task, else the "label-mean fallback": the paper's domain (the mean over every label-token
//   occurrence) taken over the released vectors, i.e. the mean of the label occurrences' type vectors
//   (last hidden state of the type's representative run alone), then the same cosine similarity.
// - The TR cut: releasedTrCut over one similarity per token OCCURRENCE of every scored sequence, prompts
//   included, computed before any example is selected (so chunks still stream).
// - Per example, the answer is its label tokens (the completion and its trained EOS): releasedSelectAnswer
//   over their ri, p and similarity (null scores, e.g. a first token nothing predicts, never count).
//   Flags and the loss mask follow the paper path's conventions: prompt tokens carry no flags and 0; a
//   label token is 1 unless some enabled rule masks it. The example's `cuts` records each rule's cuts.
import type { Tokenizer } from '../model/tokenizer.ts';
import type { TokenizedRecord } from '../data/tokenize.ts';
import { defaultDomainWords } from './domain-words.ts';
import type { XtfOptions } from './options.ts';
import { RELEASED_DEFAULTS, releasedOptions, releasedSelectAnswer, releasedTrCut, type ReleasedOptions, type ReleasedTrCut } from './released.ts';
import { RELEASED_RELEVANCE_BATCH, cosineSimilarity, finalHiddenStates, releasedRelevance, releasedTypeKey } from './released-relevance.ts';
import type { Scorable } from './scoring-model.ts';
import type { Attribute, DomainSummary, RulesSummary, ScoredExample } from './types.ts';

export interface ReleasedScoring {
  /** Per token id (model vocabSize): its type's similarity to the domain vector; NaN for ids not in the data. */
  similarity: Float64Array;
  /** The dataset-level TR cut over every token occurrence. */
  trCut: ReleasedTrCut;
  domain: DomainSummary;
  /** Caps and enabled rules, as releasedSelectAnswer takes them. */
  options: ReleasedOptions;
}

/** The distinct token ids of the sequences in order of first occurrence (every token: prompts included). */
export function tokenIdsInOrder(sequences: readonly { tokens: readonly number[] }[]): number[] {
  const seen = new Set<number>();
  const out: number[] = [];
  for (const s of sequences) for (const t of s.tokens) if (!seen.has(t)) { seen.add(t); out.push(t); }
  return out;
}

/** The domain words released TR uses: the option's, else the task's default list, else null (label-mean fallback). */
export function releasedDomainWords(xtf: XtfOptions, task?: string | null): { words: readonly string[] | null; source: DomainSummary['source']; task: string | null } {
  if (xtf.domainWords) return { words: xtf.domainWords, source: 'option', task: null };
  const list = task ? defaultDomainWords(task) : null;
  if (list) return { words: list, source: 'task', task: task! };
  return { words: null, source: 'label-mean fallback', task: null };
}

/** Stops before any scoring when the domain words cannot give a domain vector: none encodes to a token. */
export function checkDomainWords(tokenizer: Tokenizer, words: readonly string[]): void {
  if (words.length === 0) throw new RangeError('XTF option domainWords (--domain-words) is empty: give some domain words');
  if (words.every((w) => tokenizer.encode(w, { bos: false, eos: false }).length === 0)) {
    throw new RangeError(`XTF option domainWords (--domain-words): no word encodes to any token of this tokenizer (${words.map((w) => JSON.stringify(w)).join(', ')})`);
  }
}

/** Similarities, the TR cut and the domain, before any example is selected. */
export async function releasedScoring(model: Scorable, tokenizer: Tokenizer, tokenized: readonly TokenizedRecord[], xtf: XtfOptions, task?: string | null): Promise<ReleasedScoring> {
  const tokenIds = tokenIdsInOrder(tokenized);
  const chosen = releasedDomainWords(xtf, task);
  let similarity: Float64Array;
  let domain: DomainSummary;
  if (chosen.words) {
    const r = await releasedRelevance(model, tokenizer, { tokenIds, domainWords: chosen.words });
    similarity = r.similarity;
    domain = { source: chosen.source, words: r.domainWords, skipped: r.skippedWords, task: chosen.task };
  } else {
    similarity = await labelMeanSimilarity(model, tokenizer, tokenized, tokenIds);
    domain = { source: 'label-mean fallback', words: null, skipped: [], task: null };
  }
  let total = 0;
  for (const e of tokenized) total += e.tokens.length;
  const occurrences = new Float64Array(total);
  let k = 0;
  for (const e of tokenized) for (const t of e.tokens) occurrences[k++] = similarity[t];
  const trCut = releasedTrCut(occurrences);
  return { similarity, trCut, domain, options: releasedOptionsOf(xtf) };
}

/** The label-mean fallback: types keyed as releasedRelevance keys them (the first id of a stripped text
 *  stands for it); the domain vector is the mean of the type vectors over every label-token occurrence;
 *  each id gets its type's cosine similarity to it. Two passes over the types (the domain, then the
 *  similarities), so memory stays at one batch of hidden states. All NaN without label tokens. */
async function labelMeanSimilarity(model: Scorable, tokenizer: Tokenizer, tokenized: readonly TokenizedRecord[], tokenIds: readonly number[]): Promise<Float64Array> {
  const { vocabSize, dim } = model.config;
  const typeOf = new Map<number, number>();
  const byKey = new Map<string, number>();
  const reps: number[] = [];
  for (const id of tokenIds) {
    const key = releasedTypeKey(tokenizer, id);
    let t = byKey.get(key);
    if (t === undefined) {
      t = reps.length;
      byKey.set(key, t);
      reps.push(id);
    }
    typeOf.set(id, t);
  }
  const weight = new Float64Array(reps.length);
  let labels = 0;
  for (const e of tokenized) {
    for (let j = 0; j < e.tokens.length; j++) {
      if (!e.lossMask[j]) continue;
      weight[typeOf.get(e.tokens[j])!]++;
      labels++;
    }
  }
  const similarity = new Float64Array(vocabSize).fill(NaN);
  if (labels === 0) return similarity;
  const inLabels = reps.map((_, t) => t).filter((t) => weight[t] > 0);
  const domain = new Float64Array(dim);
  await finalHiddenStates(model, inLabels.map((t) => [reps[t]]), RELEASED_RELEVANCE_BATCH, (i, row) => {
    const w = weight[inLabels[i]] / labels;
    for (let d = 0; d < dim; d++) domain[d] += w * row[d];
  });
  const typeSimilarity = new Float64Array(reps.length);
  await finalHiddenStates(model, reps.map((id) => [id]), RELEASED_RELEVANCE_BATCH, (i, row) => {
    typeSimilarity[i] = cosineSimilarity(row, domain);
  });
  for (const [id, t] of typeOf) similarity[id] = typeSimilarity[t];
  return similarity;
}

/** The caps and enabled rules of the XTF options, as released.ts takes them. */
export function releasedOptionsOf(xtf: XtfOptions): ReleasedOptions {
  return releasedOptions({ riMax: xtf.caps.ri, knMax: xtf.caps.kn, trMax: xtf.caps.tr, attributes: xtf.attributes });
}

const NO_FLAGS: Attribute[] = Object.freeze([]) as unknown as Attribute[];

/** The released union over each example's label tokens: flags, loss mask and the answer's cuts. */
export function selectReleased(raw: readonly ScoredExample[], scoring: ReleasedScoring): ScoredExample[] {
  return selectReleasedWith(raw, scoring.trCut.cut, scoring.options);
}

/** Re-run the released selection on already scored examples (their `tr` holds the released similarity)
 *  with other caps or attributes, given the dataset's TR cut (the summary's rules.released.tr.cut): the
 *  released counterpart of select.ts's reselect, for filters that switch attributes off. */
export function reselectReleased(scored: readonly ScoredExample[], xtf: XtfOptions, trCut: number | null): ScoredExample[] {
  return selectReleasedWith(scored, trCut, releasedOptionsOf(xtf));
}

function selectReleasedWith(raw: readonly ScoredExample[], trCut: number | null, options: ReleasedOptions): ScoredExample[] {
  return raw.map((ex) => {
    const at: number[] = [];
    ex.label.forEach((l, j) => l && at.push(j));
    const answer = releasedSelectAnswer({ ri: at.map((j) => ex.ri[j]), p: at.map((j) => ex.p[j]), tr: at.map((j) => ex.tr[j]) }, trCut, options);
    const flags: Attribute[][] = ex.tokens.map(() => NO_FLAGS);
    const lossMask: number[] = ex.tokens.map(() => 0);
    at.forEach((j, k) => {
      flags[j] = answer.flags[k];
      lossMask[j] = answer.masked[k] ? 0 : 1;
    });
    return { ...ex, flags, lossMask, cuts: answer.cuts };
  });
}

/** The summary's record of the released rules as scored. */
export function releasedRulesSummary(scoring: ReleasedScoring): RulesSummary {
  const { options: o, trCut: t } = scoring;
  return {
    rules: 'released',
    caps: { ri: o.riMax, kn: o.knMax, tr: o.trMax },
    domain: scoring.domain,
    released: {
      iqrFactor: RELEASED_DEFAULTS.iqrFactor,
      knFloor: RELEASED_DEFAULTS.knFloor,
      tr: { classes: RELEASED_DEFAULTS.trClasses, thresholds: t.thresholds, shares: t.shares, cut: t.cut, exceededAt: t.exceededAt, occurrences: t.n },
    },
  };
}

/** The summary's record of the paper's rules: no caps; the domain is the expert words or the label mean. */
export function paperRulesSummary(xtf: XtfOptions): RulesSummary {
  const words = xtf.tr.expertWords && xtf.tr.expertWords.length > 0 ? [...xtf.tr.expertWords] : null;
  return { rules: 'paper', caps: null, domain: { source: words ? 'option' : 'label-mean', words, skipped: [], task: null }, released: null };
}
