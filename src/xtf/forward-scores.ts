// One batched, teacher-forced forward pass over prompt + label gives, per token, the probability the
// model assigns to it (knowledge novelty) and the attention it receives from later positions
// (reasoning importance). Per batch the backend (./scoring-model.ts) does the forward; the host reads the
// per-token results once and reduces them over heads and layers here, the same for every backend.
import type { ReasoningImportanceOptions } from './options.ts';
import { scoringModel, type Scorable } from './scoring-model.ts';
import { firstInLoss, inLoss, type TokenizedRecord } from '../data/tokenize.ts';

export interface TokenForwardScores {
  /** p(tokens[j] | tokens[<j]) at the positions that enter the loss (the label tokens after position 0);
   *  NaN elsewhere: scoring reads no other, and the forward computes no other. */
  p: Float32Array;
  /** Mean attention token j receives from each counted later query (reduced over heads, mean over
   *  layers); NaN where no counted query comes later (e.g. the last token), and before the first label
   *  token after position 0 (never scored). */
  ri: Float32Array;
}

export function selectedLayers(nLayers: number, layers: ReasoningImportanceOptions['layers']): number[] {
  if (layers === 'all') return [...Array(nLayers).keys()];
  if (layers === 'last') return [nLayers - 1];
  for (const l of layers) if (l >= nLayers) throw new RangeError(`XTF option ri.layers: layer ${l} does not exist (the model has ${nLayers})`);
  return [...new Set(layers)].sort((a, b) => a - b);
}

/** Scores one batch of examples (at most the model's context long). `withAttention: false` skips RI (baselines). */
export async function forwardScores(
  model: Scorable,
  batch: TokenizedRecord[],
  ri: ReasoningImportanceOptions,
  withAttention = true,
): Promise<TokenForwardScores[]> {
  const B = batch.length;
  const T = Math.max(2, ...batch.map((e) => e.tokens.length));
  const ids = new Uint32Array(B * T);
  const targets = new Uint32Array(B * T);
  const queryWeights = new Float32Array(B * T);
  // RI is read at label positions after the first token only (score.ts): the keys before a row's first
  // such position are never asked for, and the attention pass skips them.
  const keyStart = new Uint32Array(B);
  // p is read at label positions only: the row before each predicts it, and only those rows get logits.
  const rows: number[] = [];
  batch.forEach((e, b) => {
    for (let j = 1; j < e.tokens.length; j++) if (inLoss(e.lossMask, j)) rows.push(b * T + j - 1);
    ids.set(e.tokens, b * T);
    targets.set(e.tokens.slice(1), b * T);
    // Padding never counts as a query; with queries = 'output' only label positions do.
    for (let i = 0; i < e.tokens.length; i++) queryWeights[b * T + i] = ri.queries === 'all' || e.lossMask[i] ? 1 : 0;
    const first = firstInLoss(e.lossMask);
    keyStart[b] = first < 0 ? e.tokens.length : first;
  });
  const layers = selectedLayers(model.config.nLayers, ri.layers);
  const { prob, received: perLayer } = await scoringModel(model).teacherForced(ids, B, T, targets, withAttention ? { layers, queryWeights, keyStart } : null, Uint32Array.from(rows));

  const H = model.config.nHeads;
  return batch.map((e, b) => {
    const n = e.tokens.length;
    const p = new Float32Array(n).fill(NaN);
    for (let j = 1; j < n; j++) if (inLoss(e.lossMask, j)) p[j] = prob[b * T + j - 1];
    const score = new Float32Array(n).fill(NaN);
    if (withAttention) {
      // later[j] = Σ_{i>j} w_i: how many counted queries come after j.
      let later = 0;
      for (let j = n - 1; j >= 0; j--) {
        if (later > 0 && j >= keyStart[b]) {
          let sum = 0;
          for (const rec of perLayer) {
            let reduced = ri.headReduction === 'max' ? -Infinity : 0;
            for (let h = 0; h < H; h++) {
              const v = rec[(b * H + h) * T + j];
              reduced = ri.headReduction === 'max' ? Math.max(reduced, v) : reduced + v / H;
            }
            sum += reduced;
          }
          score[j] = sum / perLayer.length / later;
        }
        later += queryWeights[b * T + j];
      }
    }
    return { p, ri: score };
  });
}
