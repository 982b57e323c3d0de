// SLM / Rho-1 as published (Lin et al. 2024): the excess loss of a label token is its loss under the model
// BEING TRAINED minus its loss under a reference model trained on clean data, recomputed at every step; the
// top keepFraction of the step's label tokens train. selectSlm (./baselines.ts) is the offline form a score
// file can carry (the "current" model frozen at the base model); this is the online one, a token selector
// for the trainer (TrainArgs.selectTokens).
import type { LlamaModel } from '../model/llama.ts';
import type { Tokenizer } from '../model/tokenizer.ts';
import type { TokenBatch } from '../data/batch.ts';
import type { TrainRecord } from '../data/records.ts';
import { keepCount, topMask } from './baselines.ts';
import { BASELINE_DEFAULTS, type BaselineOptions } from './options.ts';
import { scoreExamples, type ScoreOptions } from './score.ts';
import type { ScoredExample } from './types.ts';

export interface OnlineSlmOptions {
  /** Per example id: the reference model's loss of each token given the ones before it (index = token
   *  position; null where there is none, e.g. prompt tokens). */
  referenceLoss: ReadonlyMap<string, readonly (number | null)[]>;
  keepFraction?: BaselineOptions['slm']['keepFraction'];
  /** Told about every label token the step considered: the example, the token's position, and whether it trains. */
  onToken?: (id: string, position: number, kept: boolean) => void;
}

/** The trainer's selectTokens for online SLM. Label tokens without a reference loss are kept, unranked. */
export function onlineSlmSelector(options: OnlineSlmOptions): (microBatches: TokenBatch[], currentLoss: Float32Array[]) => TokenBatch[] {
  const keepFraction = options.keepFraction ?? BASELINE_DEFAULTS.slm.keepFraction;
  return (microBatches, currentLoss) => {
    // Every label position of the step with a finite excess loss, ranked together ("top k% per batch").
    const where: number[] = [], excess: number[] = [];
    const ids = microBatches.map((mb, b) => rowIds(mb, b));
    microBatches.forEach((mb, b) => {
      for (let at = 0; at < mb.lossMask.length; at++) {
        if (mb.lossMask[at] === 0) continue;
        const row = Math.floor(at / mb.seqLen);
        // Position t predicts token t + 1 of the row's example.
        const ref = options.referenceLoss.get(ids[b][row])?.[(at % mb.seqLen) + 1];
        const cur = currentLoss[b][at];
        if (ref === null || ref === undefined || !Number.isFinite(ref) || !Number.isFinite(cur)) continue;
        where.push(b, at);
        excess.push(cur - ref);
      }
    });
    const kept = topMask(Float64Array.from(excess), keepCount(excess.length, keepFraction));
    const lossMask = microBatches.map((mb) => mb.lossMask.slice());
    for (let k = 0; k < excess.length; k++) if (!kept[k]) lossMask[where[2 * k]][where[2 * k + 1]] = 0;
    if (options.onToken) {
      microBatches.forEach((mb, b) => {
        for (let at = 0; at < mb.lossMask.length; at++) {
          if (mb.lossMask[at] !== 0) options.onToken!(ids[b][Math.floor(at / mb.seqLen)], (at % mb.seqLen) + 1, lossMask[b][at] !== 0);
        }
      });
    }
    return microBatches.map((mb, b) => ({ ...mb, lossMask: lossMask[b] }));
  };
}

function rowIds(mb: TokenBatch, index: number): string[] {
  const rows = mb.rows;
  if (!rows || rows.length !== mb.batch || rows.some((r) => r.length !== 1)) {
    throw new RangeError(`online SLM: micro-batch ${index} must hold one example per row with its id (batchOf in padding mode), to find each token's reference loss`);
  }
  return rows.map((r) => r[0]);
}

/**
 * The reference model's loss of every token of every example (−log p, teacher-forced; null on prompt tokens),
 * by example id, with the examples as tokenized for scoring (method 'none': every label token weighs 1).
 */
export async function referenceTokenLosses(
  reference: LlamaModel,
  tokenizer: Tokenizer,
  examples: readonly TrainRecord[],
  options: Pick<ScoreOptions, 'xtf' | 'onProgress'> = {},
): Promise<{ scored: ScoredExample[]; referenceLoss: Map<string, (number | null)[]> }> {
  const { scored } = await scoreExamples(reference, tokenizer, examples, { ...options, method: 'none' });
  const ids = new Set<string>();
  for (const ex of scored) {
    if (ids.has(ex.id)) throw new RangeError(`online SLM: example id '${ex.id}' appears twice; each example needs its own id`);
    ids.add(ex.id);
  }
  return { scored, referenceLoss: new Map(scored.map((ex) => [ex.id, ex.p.map((p) => (p === null ? null : -Math.log(p)))])) };
}
