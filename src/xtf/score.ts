// `xtf score` as a library call: tokenize the examples, run the batched forward pass on the GPU
// (p and attention received per token; a reference model's p for SLM / Token Cleaning), compute task
// relevance from the embedding table, then select noisy tokens with XTF or a baseline.
import type { LlamaModel } from '../model/llama.ts';
import type { Tokenizer } from '../model/tokenizer.ts';
import { tokenPieces } from '../model/pieces.ts';
import { applyBaseline, selectRandom, selectSlm, selectStm, selectTokenCleaning, type BaselineSelection } from './baselines.ts';
import { forwardScores, type TokenForwardScores } from './forward-scores.ts';
import { BASELINE_DEFAULTS, XTF_DEFAULTS, type BaselineOptions, type XtfOptions } from './options.ts';
import { applySelection, selectTokens } from './select.ts';
import { summarize } from './summary.ts';
import { taskRelevanceScores, tokenDistances } from './task-relevance.ts';
import { tokenizeExample, type TokenizedExample } from './tokenize.ts';
import type { DatasetSummary, Example, ScoredExample } from './types.ts';

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
  reference?: LlamaModel;
  onProgress?: (p: ScoreProgress) => void;
}

export interface ScoreResult {
  scored: ScoredExample[];
  summary: DatasetSummary;
}

export async function scoreExamples(model: LlamaModel, tokenizer: Tokenizer, examples: Example[], options: ScoreOptions = {}): Promise<ScoreResult> {
  const method = options.method ?? 'xtf';
  const xtf = options.xtf ?? XTF_DEFAULTS;
  const baselines = options.baselines ?? BASELINE_DEFAULTS;
  if ((method === 'slm' || method === 'tc') && !options.reference) {
    throw new Error(`method '${method}' needs a reference model (a model or adapter trained on clean data): pass --reference`);
  }
  const t0 = performance.now();
  const maxSeqLen = Math.min(xtf.maxSeqLen ?? model.config.maxSeqLen, model.config.maxSeqLen);
  const tokenized = examples.map((e) => tokenizeExample(tokenizer, e, maxSeqLen));
  const relevance = await taskRelevance(model, tokenizer, tokenized, xtf);

  // Longest first so that each batch pads little; results go back to the input order.
  const order = tokenized.map((_, i) => i).sort((a, b) => tokenized[b].tokens.length - tokenized[a].tokens.length);
  const forward: TokenForwardScores[] = new Array(tokenized.length);
  const reference: TokenForwardScores[] = new Array(tokenized.length);
  const totalTokens = tokenized.reduce((s, e) => s + e.tokens.length, 0);
  const needAttention = method === 'xtf' || method === 'random';
  let done = 0;
  let tokensDone = 0;
  for (let start = 0; start < order.length; start += xtf.batchSize) {
    const idx = order.slice(start, start + xtf.batchSize);
    const batch = idx.map((i) => tokenized[i]);
    const scores = await forwardScores(model, batch, xtf.ri, needAttention);
    idx.forEach((i, k) => (forward[i] = scores[k]));
    if (options.reference && (method === 'slm' || method === 'tc')) {
      const ref = await forwardScores(options.reference, batch, xtf.ri, false);
      idx.forEach((i, k) => (reference[i] = ref[k]));
    }
    done += idx.length;
    tokensDone += batch.reduce((s, e) => s + e.tokens.length, 0);
    const seconds = (performance.now() - t0) / 1000;
    const rate = tokensDone / seconds;
    options.onProgress?.({ examplesDone: done, examples: tokenized.length, tokensDone, tokensPerSecond: rate, etaSeconds: (totalTokens - tokensDone) / rate });
  }

  const raw = tokenized.map((e, i) => rawScoredExample(tokenizer, e, forward[i], relevance));
  const seconds = (performance.now() - t0) / 1000;
  const meta = { method, seconds, tokensPerSecond: totalTokens / seconds };
  let scored: ScoredExample[];
  let thresholds = null;
  if (method === 'xtf' || method === 'random') {
    const selection = selectTokens(raw, xtf);
    scored = applySelection(raw, selection);
    thresholds = selection.thresholds;
    if (method === 'random') {
      const fraction = summarize(scored, meta).fractionMasked;
      scored = applyBaseline(raw, selectRandom(raw, fraction, baselines.random));
    }
  } else if (method === 'none') {
    scored = raw.map((ex) => ({ ...ex, weight: ex.label.map((l, i) => (l && ex.p[i] !== null ? 1 : 0)) }));
  } else {
    const loss = (s: TokenForwardScores, ex: TokenizedExample) => Array.from(s.p, (p, j) => (j >= ex.labelStart && Number.isFinite(p) ? -Math.log(p) : null));
    let selection: BaselineSelection;
    if (method === 'stm') selection = selectStm(raw, baselines.stm);
    else if (method === 'slm') {
      const rows = tokenized.map((ex, i) => ({ label: raw[i].label, lossCurrent: loss(forward[i], ex), lossRef: loss(reference[i], ex) }));
      // "Top k% per batch": the scoring batches.
      const batches: number[][] = [];
      for (let s = 0; s < order.length; s += xtf.batchSize) batches.push(order.slice(s, s + xtf.batchSize));
      selection = selectSlm(rows, batches, baselines.slm);
    } else {
      const rows = tokenized.map((ex, i) => ({ label: raw[i].label, lossBase: loss(forward[i], ex), lossRef: loss(reference[i], ex) }));
      selection = selectTokenCleaning(rows, baselines.tokenCleaning);
    }
    scored = applyBaseline(raw, selection);
  }
  return { scored, summary: summarize(scored, { ...meta, thresholds }) };
}

/** S_TR per token type from the label tokens (or the expert words), NaN for types not in the labels. */
async function taskRelevance(model: LlamaModel, tokenizer: Tokenizer, tokenized: TokenizedExample[], xtf: XtfOptions): Promise<Float32Array> {
  const vocab = model.config.vocabSize;
  const inLabels = new Uint8Array(vocab);
  const labelCounts = new Float32Array(vocab);
  for (const e of tokenized) {
    for (let j = e.labelStart; j < e.tokens.length; j++) {
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
  const distances = await tokenDistances(model.rt, model.params.tokEmbedding, domainCounts, xtf.tr.distance);
  return taskRelevanceScores(distances, (t) => inLabels[t] === 1);
}

function rawScoredExample(tokenizer: Tokenizer, e: TokenizedExample, s: TokenForwardScores, relevance: Float32Array): ScoredExample {
  const n = e.tokens.length;
  // A label token nothing predicts (position 0: no BOS) cannot be scored or trained.
  const scoredAt = (j: number) => j >= e.labelStart && j > 0;
  const num = (v: number) => (Number.isFinite(v) ? v : null);
  return {
    id: e.id,
    tokens: e.tokens,
    pieces: tokenPieces(tokenizer, e.tokens),
    label: e.tokens.map((_, j) => j >= e.labelStart),
    p: e.tokens.map((_, j) => (scoredAt(j) ? num(s.p[j]) : null)),
    ri: e.tokens.map((_, j) => (scoredAt(j) ? num(s.ri[j]) : null)),
    kn: e.tokens.map((_, j) => (scoredAt(j) ? num(1 - s.p[j]) : null)),
    tr: e.tokens.map((t, j) => (scoredAt(j) ? num(relevance[t]) : null)),
    flags: e.tokens.map(() => []),
    weight: new Array(n).fill(0),
    ...(e.truncated > 0 ? { truncated: e.truncated } : {}),
  };
}
