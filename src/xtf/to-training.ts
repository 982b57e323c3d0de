// A scored example as training input: the kept tokens (weight > 0) train; validation measures every
// label token, so masked and unmasked runs are compared on the same held-out tokens.
import type { TokenizedRecord } from '../data/tokenize.ts';
import type { ScoredExample } from './types.ts';

export interface TrainingExample {
  id: string;
  /** Labels = the tokens the filter kept. */
  train: TokenizedRecord;
  /** Labels = every label token (nothing predicts token 0, so it never counts). */
  labels: TokenizedRecord;
}

export function scoredToTraining(ex: ScoredExample, maxLen = Infinity): TrainingExample {
  const tokens = ex.tokens.slice(0, maxLen);
  const truncated = ex.tokens.length - tokens.length + (ex.truncated ?? 0);
  return {
    id: ex.id,
    train: { id: ex.id, tokens, labelMask: tokens.map((_, i) => ex.weight[i] > 0), truncated },
    labels: { id: ex.id, tokens, labelMask: tokens.map((_, i) => ex.label[i] && i > 0), truncated },
  };
}
