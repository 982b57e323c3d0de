// One batched, teacher-forced forward pass over prompt + label gives, per token, the probability the
// model assigns to it (knowledge novelty) and the attention it receives from later positions
// (reasoning importance). Per batch the GPU does everything; the host reads the per-token results once.
import type { Tensor } from '../gpu/index.ts';
import type { LlamaModel } from '../model/llama.ts';
import { crossEntropyForward } from '../ops/cross-entropy.ts';
import type { ReasoningImportanceOptions } from './options.ts';
import type { TokenizedRecord } from '../data/tokenize.ts';

export interface TokenForwardScores {
  /** p(tokens[j] | tokens[<j]); NaN at j = 0 (nothing predicts the first token). */
  p: Float32Array;
  /** Mean attention token j receives from each counted later query (reduced over heads, mean over
   *  layers); NaN where no counted query comes later (e.g. the last token). */
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
  model: LlamaModel,
  batch: TokenizedRecord[],
  ri: ReasoningImportanceOptions,
  withAttention = true,
): Promise<TokenForwardScores[]> {
  const rt = model.rt;
  const B = batch.length;
  const T = Math.max(2, ...batch.map((e) => e.tokens.length));
  const ids = new Uint32Array(B * T);
  const targets = new Uint32Array(B * T);
  const queryWeights = new Float32Array(B * T);
  batch.forEach((e, b) => {
    ids.set(e.tokens, b * T);
    targets.set(e.tokens.slice(1), b * T);
    // Padding never counts as a query; with queries = 'output' only label positions do.
    for (let i = 0; i < e.tokens.length; i++) queryWeights[b * T + i] = ri.queries === 'all' || e.lossMask[i] ? 1 : 0;
  });
  const layers = selectedLayers(model.config.nLayers, ri.layers);
  const idsT = rt.upload(ids, [B, T], 'u32', 'score ids');
  const weightsT = rt.upload(queryWeights, [B, T], 'f32', 'query weights');
  const targetsT = rt.upload(targets, [B * T], 'u32', 'score targets');
  const fwd = model.forward(idsT, withAttention ? { attentionReceived: { queryWeights: weightsT, layers } } : {});
  const ce = crossEntropyForward(rt, fwd.logits, targetsT);
  const received: Tensor[] = layers.map((l) => fwd.attentionReceived.get(l)!).filter(Boolean);
  const prob = (await ce.prob.read()) as Float32Array;
  const perLayer = (await Promise.all(received.map((t) => t.read()))) as Float32Array[];
  model.releaseForward(fwd);
  for (const t of [idsT, weightsT, targetsT, ce.loss, ce.prob]) t.release();

  const H = model.config.nHeads;
  return batch.map((e, b) => {
    const n = e.tokens.length;
    const p = new Float32Array(n).fill(NaN);
    for (let j = 1; j < n; j++) p[j] = prob[b * T + j - 1];
    const score = new Float32Array(n).fill(NaN);
    if (withAttention) {
      // later[j] = Σ_{i>j} w_i: how many counted queries come after j.
      let later = 0;
      for (let j = n - 1; j >= 0; j--) {
        if (later > 0) {
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
