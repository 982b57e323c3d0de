// `xtf score` as a library call: tokenize the records through the one token path (src/data/tokenize.ts, so
// the score file's tokens and labels are the trainer's), run the batched forward pass on the GPU
// (p and attention received per token; a reference model's p for SLM / Token Cleaning), compute task
// relevance from the embedding table, then select noisy tokens with XTF or a baseline.
// XTF selects under the rule set xtf.rules names: 'paper' here (./select.ts), 'released' through
// ./score-released.ts (task relevance from last hidden states and domain words, per-answer caps).
import { contextLength } from '../model/config.ts';
import type { Tokenizer } from '../model/tokenizer.ts';
import { tokenPieces } from '../model/pieces.ts';
import { applyBaseline, selectRandom, selectSlm, selectStm, selectTokenCleaning, type BaselineSelection } from './baselines.ts';
import { forwardScores, type TokenForwardScores } from './forward-scores.ts';
import { BASELINE_DEFAULTS, XTF_DEFAULTS, type BaselineOptions, type XtfOptions } from './options.ts';
import { applySelection, selectTokens, taskRelevanceCutsOf } from './select.ts';
import { checkDomainWords, paperRulesSummary, releasedDomainWords, releasedRulesSummary, releasedScoring, selectReleased } from './score-released.ts';
import { SummaryAccumulator, summarize } from './summary.ts';
import { scoringModel, type Scorable } from './scoring-model.ts';
import { taskRelevanceScores } from './task-relevance.ts';
import type { TrainRecord } from '../data/records.ts';
import { inLoss, tokenizeRecord, type TokenizedRecord } from '../data/tokenize.ts';
import type { DatasetSummary, RulesSummary, ScoredExample, SelectionThresholds } from './types.ts';

export const SCORE_METHODS = ['xtf', 'stm', 'slm', 'tc', 'random', 'none'] as const;
export type ScoreMethod = (typeof SCORE_METHODS)[number];

export interface ScoreProgress {
  examplesDone: number;
  examples: number;
  tokensDone: number;
  tokensPerSecond: number;
  etaSeconds: number;
}

export interface ScoreOptions {
  method?: ScoreMethod;
  xtf?: XtfOptions;
  baselines?: BaselineOptions;
  /** The model trained on clean data that SLM and Token Cleaning compare against. */
  reference?: Scorable;
  /** The task the data belongs to (e.g. 'gsm8k'): under the released rules, its default domain words
   *  (./domain-words.ts) stand in when xtf.domainWords is null. Unknown or absent: the label-mean fallback. */
  task?: string | null;
  onProgress?: (p: ScoreProgress) => void;
}

export interface ScoreResult {
  scored: ScoredExample[];
  summary: DatasetSummary;
}

// Examples scored per chunk: the chunk is sorted by length so batches pad little, then emitted in input
// order. With XTF (and STM, SLM, none) memory stays bounded by the chunk, whatever the dataset's size;
// Token Cleaning and random rank the whole dataset and keep its scores in memory.
const CHUNK = 256;

/** Scoring's batches of `examples`, as indices: sorted by length, longest first (so batches pad little),
 *  `batchSize` at a time. */
export function lengthSortedBatches(examples: readonly { tokens: ArrayLike<number> }[], batchSize: number): number[][] {
  const order = examples.map((_, i) => i).sort((a, b) => examples[b].tokens.length - examples[a].tokens.length);
  return Array.from({ length: Math.ceil(order.length / batchSize) }, (_, k) => order.slice(k * batchSize, (k + 1) * batchSize));
}

/** Scores every example and collects the results (see scoreStream for datasets of any size). */
export async function scoreExamples(model: Scorable, tokenizer: Tokenizer, examples: readonly TrainRecord[], options: ScoreOptions = {}): Promise<ScoreResult> {
  const scored: ScoredExample[] = [];
  const summary = await scoreStream(model, tokenizer, examples, options, (ex) => void scored.push(ex));
  return { scored, summary };
}

/** Scores the examples in input order, handing each finished example to `emit` as soon as it is selected. */
export async function scoreStream(
  model: Scorable,
  tokenizer: Tokenizer,
  examples: readonly TrainRecord[],
  options: ScoreOptions,
  emit: (ex: ScoredExample) => void | Promise<void>,
): Promise<DatasetSummary> {
  const method = options.method ?? 'xtf';
  const xtf = options.xtf ?? XTF_DEFAULTS;
  const baselines = options.baselines ?? BASELINE_DEFAULTS;
  if ((method === 'slm' || method === 'tc') && !options.reference) {
    throw new Error(`method '${method}' needs a reference model (a model or adapter trained on clean data): pass --reference`);
  }
  // XTF's rule set; the other baselines (STM, SLM, Token Cleaning, none) do not depend on it.
  const released = xtf.rules === 'released' && (method === 'xtf' || method === 'random');
  if (released) {
    const { words } = releasedDomainWords(xtf, options.task);
    if (words) checkDomainWords(tokenizer, words);
  }
  const t0 = performance.now();
  const maxSeqLen = Math.min(xtf.maxSeqLen ?? contextLength(model.config), contextLength(model.config));
  // Token ids of every example first: the task-relevance domain is every label token of the dataset (paper),
  // and the released TR cut is over every token occurrence; both are known before any example is selected.
  const tokenized = examples.map((e) => tokenizeRecord(tokenizer, e, { maxLength: maxSeqLen }));
  const releasedTr = released ? await releasedScoring(model, tokenizer, tokenized, xtf, options.task) : null;
  const relevance = releasedTr ? releasedTr.similarity : await taskRelevance(model, tokenizer, tokenized, xtf);
  const trCuts = releasedTr ? [] : taskRelevanceCutsOf(relevance.filter((v) => Number.isFinite(v)), xtf);
  const rules: RulesSummary | null = method === 'xtf' || method === 'random' ? (releasedTr ? releasedRulesSummary(releasedTr) : paperRulesSummary(xtf)) : null;
  const totalTokens = tokenized.reduce((s, e) => s + e.tokens.length, 0);
  const needAttention = method === 'xtf' || method === 'random';
  const global = method === 'tc' || method === 'random';
  const summary = new SummaryAccumulator();
  const riFences: Record<string, number | null> = {};
  const held: { raw: ScoredExample; forward: TokenForwardScores; reference?: TokenForwardScores; ex: TokenizedRecord }[] = [];
  let done = 0;
  let tokensDone = 0;

  const finish = async (ex: ScoredExample) => {
    summary.add(ex);
    await emit(ex);
  };

  for (let chunkStart = 0; chunkStart < tokenized.length; chunkStart += CHUNK) {
    const chunk = tokenized.slice(chunkStart, chunkStart + CHUNK);
    const forward: TokenForwardScores[] = new Array(chunk.length);
    const reference: TokenForwardScores[] = new Array(chunk.length);
    const batches = lengthSortedBatches(chunk, xtf.batchSize);
    for (const idx of batches) {
      const batch = idx.map((i) => chunk[i]);
      const scores = await forwardScores(model, batch, xtf.ri, needAttention);
      idx.forEach((i, k) => (forward[i] = scores[k]));
      if (options.reference && (method === 'slm' || method === 'tc')) {
        const ref = await forwardScores(options.reference, batch, xtf.ri, false);
        idx.forEach((i, k) => (reference[i] = ref[k]));
      }
      done += idx.length;
      tokensDone += batch.reduce((s, e) => s + e.tokens.length, 0);
      const rate = tokensDone / ((performance.now() - t0) / 1000);
      options.onProgress?.({ examplesDone: done, examples: tokenized.length, tokensDone, tokensPerSecond: rate, etaSeconds: (totalTokens - tokensDone) / rate });
    }
    const raw = chunk.map((e, i) => rawScoredExample(tokenizer, e, forward[i], relevance));
    if (global) {
      chunk.forEach((ex, i) => held.push({ raw: raw[i], forward: forward[i], reference: reference[i], ex }));
      continue;
    }
    let selected: ScoredExample[];
    if (method === 'xtf' && releasedTr) {
      selected = selectReleased(raw, releasedTr);
    } else if (method === 'xtf') {
      const selection = selectTokens(raw, xtf, { trCuts });
      Object.assign(riFences, selection.thresholds.riFences);
      selected = applySelection(raw, selection);
    } else if (method === 'none') {
      selected = raw.map((ex) => ({ ...ex, lossMask: ex.label.map((l, i) => (l && ex.p[i] !== null ? 1 : 0)) }));
    } else if (method === 'stm') {
      selected = applyBaseline(raw, selectStm(raw, baselines.stm));
    } else {
      // SLM / Rho-1: "top k% per batch" over the scoring batches.
      const rows = chunk.map((ex, i) => ({ label: raw[i].label, lossCurrent: tokenLoss(forward[i], ex), lossRef: tokenLoss(reference[i], ex) }));
      selected = applyBaseline(raw, selectSlm(rows, batches, baselines.slm));
    }
    for (const ex of selected) await finish(ex);
  }

  let thresholds: SelectionThresholds | null = method === 'xtf' && !releasedTr ? { riFences, knThreshold: xtf.kn.threshold, trCuts } : null;
  if (global) {
    const raw = held.map((h) => h.raw);
    let selection: BaselineSelection;
    if (method === 'tc') {
      selection = selectTokenCleaning(held.map((h) => ({ label: h.raw.label, lossBase: tokenLoss(h.forward, h.ex), lossRef: tokenLoss(h.reference!, h.ex) })), baselines.tokenCleaning);
    } else if (releasedTr) {
      // Random control: the fraction XTF (released rules) masks on the same scores, masked uniformly at random.
      const fraction = summarize(selectReleased(raw, releasedTr), { method: 'xtf' }).fractionMasked;
      selection = selectRandom(raw, fraction, baselines.random);
    } else {
      // Random control: the fraction XTF masks on the same scores, masked uniformly at random.
      const xtfSelection = selectTokens(raw, xtf, { trCuts });
      thresholds = xtfSelection.thresholds;
      const fraction = summarize(applySelection(raw, xtfSelection), { method: 'xtf' }).fractionMasked;
      selection = selectRandom(raw, fraction, baselines.random);
    }
    for (const ex of applyBaseline(raw, selection)) await finish(ex);
  }
  const seconds = (performance.now() - t0) / 1000;
  return summary.result({ method, seconds, tokensPerSecond: totalTokens / seconds, thresholds, rules });
}

function tokenLoss(s: TokenForwardScores, ex: TokenizedRecord): (number | null)[] {
  return Array.from(s.p, (p, j) => (ex.lossMask[j] && Number.isFinite(p) ? -Math.log(p) : null));
}

/** S_TR per token type from the label tokens (or the expert words), NaN for types not in the labels. */
async function taskRelevance(model: Scorable, tokenizer: Tokenizer, tokenized: TokenizedRecord[], xtf: XtfOptions): Promise<Float32Array> {
  const vocab = model.config.vocabSize;
  const inLabels = new Uint8Array(vocab);
  const labelCounts = new Float32Array(vocab);
  for (const e of tokenized) {
    for (let j = 0; j < e.tokens.length; j++) {
      if (!e.lossMask[j]) continue;
      inLabels[e.tokens[j]] = 1;
      labelCounts[e.tokens[j]]++;
    }
  }
  let domainCounts = labelCounts;
  if (xtf.tr.expertWords && xtf.tr.expertWords.length > 0) {
    domainCounts = new Float32Array(vocab);
    for (const id of tokenizer.encode(xtf.tr.expertWords.join(' '), { bos: false })) domainCounts[id]++;
  }
  if (!labelCounts.some((c) => c > 0)) return new Float32Array(vocab).fill(NaN);
  const distances = await scoringModel(model).tokenDistances(domainCounts, xtf.tr.distance);
  return taskRelevanceScores(distances, (t) => inLabels[t] === 1);
}

/** `relevance`: per token id, S_TR (paper) or the released similarity. */
function rawScoredExample(tokenizer: Tokenizer, e: TokenizedRecord, s: TokenForwardScores, relevance: ArrayLike<number>): ScoredExample {
  const n = e.tokens.length;
  // A label token nothing predicts (position 0: no BOS) cannot be scored or trained.
  const scoredAt = (j: number) => inLoss(e.lossMask, j);
  const num = (v: number) => (Number.isFinite(v) ? v : null);
  return {
    id: e.id,
    tokens: e.tokens,
    pieces: tokenPieces(tokenizer, e.tokens),
    label: [...e.lossMask],
    p: e.tokens.map((_, j) => (scoredAt(j) ? num(s.p[j]) : null)),
    ri: e.tokens.map((_, j) => (scoredAt(j) ? num(s.ri[j]) : null)),
    kn: e.tokens.map((_, j) => (scoredAt(j) ? num(1 - s.p[j]) : null)),
    tr: e.tokens.map((t, j) => (scoredAt(j) ? num(relevance[t]) : null)),
    flags: e.tokens.map(() => []),
    lossMask: new Array(n).fill(0),
    ...(e.truncated > 0 ? { truncated: e.truncated } : {}),
  };
}
