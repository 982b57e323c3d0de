// Prompt + completion -> one token sequence with the label (completion) span marked. The prompt gets BOS,
// the completion is encoded on its own and appended (as TRL and most SFT code do), then the whole is
// truncated to the context, cutting from the end.
import type { TokenizedRecord } from '../data/tokenize.ts';
import type { Tokenizer } from '../model/tokenizer.ts';
import type { Example } from './types.ts';

export interface TokenizedExample {
  id: string;
  tokens: number[];
  /** Index of the first label token; tokens before it are prompt. */
  labelStart: number;
  /** Tokens cut from the end to fit maxSeqLen. */
  truncated: number;
}

export function tokenizeExample(tokenizer: Tokenizer, example: Example, maxSeqLen: number): TokenizedExample {
  const prompt = tokenizer.encode(example.prompt);
  const completion = tokenizer.encode(example.completion, { bos: false });
  const all = [...prompt, ...completion];
  const tokens = all.slice(0, maxSeqLen);
  return { id: example.id, tokens, labelStart: Math.min(prompt.length, tokens.length), truncated: all.length - tokens.length };
}

/** Every label token as a training record (nothing predicts token 0, so it never counts): what
 *  held-out loss is measured on, whatever mask a run trained with. */
export function labelRecord(t: TokenizedExample): TokenizedRecord {
  return { id: t.id, tokens: t.tokens, labelMask: t.tokens.map((_, j) => j >= t.labelStart && j > 0), truncated: t.truncated };
}
