// Text generation with a KV cache: the prompt is decoded in one pass, then one token per step.
import type { LlamaModel } from './llama.ts';
import type { Tokenizer } from './tokenizer.ts';
import { createSampler, type SamplingOptions } from './sampling.ts';

export interface GenerateOptions extends SamplingOptions {
  maxTokens: number;
  /** Token ids that end generation (not included in the output). Default: the tokenizer's EOS (and BOS, as llama2.c stops at it). */
  stopTokens?: number[];
  /** Called with each new token id as soon as it is chosen (streaming). */
  onToken?: (id: number) => void;
  /** Ends generation after a token when it returns true (e.g. the answer is complete); finishReason 'stop'. */
  stopWhen?: (generated: readonly number[]) => boolean;
}

export interface Generation {
  /** Prompt ids followed by the generated ids. */
  tokens: number[];
  /** Generated ids only. */
  generated: number[];
  /** 'stop' when a stop token was produced, 'length' when maxTokens or the context ran out. */
  finishReason: 'stop' | 'length';
}

export async function generateIds(model: LlamaModel, promptIds: number[], options: GenerateOptions): Promise<Generation> {
  if (promptIds.length === 0) throw new RangeError('generate: the prompt must have at least one token (e.g. BOS)');
  if (!Number.isInteger(options.maxTokens) || options.maxTokens < 0) throw new RangeError(`generate: maxTokens must be a whole number >= 0, got ${options.maxTokens}`);
  const rt = model.rt;
  const capacity = Math.min(model.config.maxSeqLen, promptIds.length + options.maxTokens);
  if (promptIds.length > capacity) throw new RangeError(`generate: the prompt has ${promptIds.length} tokens, more than the model's context ${model.config.maxSeqLen}`);
  const sample = createSampler(options);
  const stop = new Set(options.stopTokens ?? []);
  const cache = model.newKvCache(capacity);
  const generated: number[] = [];
  let finishReason: Generation['finishReason'] = 'length';
  try {
    let input = promptIds;
    while (generated.length < options.maxTokens && cache.length + input.length <= capacity) {
      const ids = rt.upload(new Uint32Array(input), [1, input.length], 'u32', 'decode ids');
      const logits = model.decode(ids, cache);
      const host = await logits.read();
      ids.release();
      logits.release();
      const next = sample(host);
      if (stop.has(next)) {
        finishReason = 'stop';
        break;
      }
      generated.push(next);
      options.onToken?.(next);
      if (options.stopWhen?.(generated)) {
        finishReason = 'stop';
        break;
      }
      input = [next];
    }
  } finally {
    for (const t of [...cache.keys, ...cache.values]) t.release();
  }
  return { tokens: [...promptIds, ...generated], generated, finishReason };
}

export async function generateText(
  model: LlamaModel,
  tokenizer: Tokenizer,
  prompt: string,
  options: GenerateOptions,
): Promise<Generation & { text: string }> {
  const stopTokens = options.stopTokens ?? [tokenizer.eosId, tokenizer.bosId];
  const g = await generateIds(model, tokenizer.encode(prompt), { ...options, stopTokens });
  return { ...g, text: tokenizer.decode(g.tokens) };
}
