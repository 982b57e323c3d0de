// A scored example as training input: the kept tokens (lossMask 1) train; validation measures every
// label token, so masked and unmasked runs are compared on the same held-out tokens.
import { inLoss, type TrainingExample } from '../data/tokenize.ts';
import type { ScoredExample } from './types.ts';

export function scoredToTraining(ex: ScoredExample, maxLen = Infinity): TrainingExample {
  const tokens = ex.tokens.slice(0, maxLen);
  const truncated = ex.tokens.length - tokens.length + (ex.truncated ?? 0);
  return {
    id: ex.id,
    train: { id: ex.id, tokens, lossMask: tokens.map((_, i) => ex.lossMask[i] > 0), truncated },
    labels: { id: ex.id, tokens, lossMask: tokens.map((_, i) => inLoss(ex.label, i)), truncated },
  };
}
