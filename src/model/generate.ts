// Text generation with a KV cache: the prompt is decoded in one pass, then one token per step.
// Several prompts decode side by side (generateBatch): shorter prompts are left-padded, and attention
// hides the padding (attentionForward's keyStart). RoPE scores depend only on the distance between
// two positions, so a sequence shifted right by its padding attends as it would alone.
import type { Tensor } from '../gpu/index.ts';
import { matmulWeightT } from '../ops/matmul-packed.ts';
import type { RmsNormForward } from '../ops/rmsnorm.ts';
import { checkSequenceLength, contextLength } from './config.ts';
import { attendCached, newKvCache, releaseKvCache, type KvCache } from './kv-cache.ts';
import type { LlamaModel } from './llama.ts';
import type { Tokenizer } from './tokenizer.ts';
import { createSampler, type SamplingOptions } from './sampling.ts';

export interface GenerateOptions extends SamplingOptions {
  maxTokens: number;
  /** Token ids that end generation (not included in the output). Default: the tokenizer's EOS (and BOS, as llama2.c stops at it). */
  stopTokens?: number[];
  /** Called with each new token id as soon as it is chosen (streaming); `row` is the prompt's index in a batch. */
  onToken?: (id: number, row: number) => void;
  /** Ends a sequence after a token when it returns true (e.g. the answer is complete); finishReason 'stop'. */
  stopWhen?: (generated: readonly number[], row: number) => boolean;
}

export interface Generation {
  /** Prompt ids followed by the generated ids. */
  tokens: number[];
  /** Generated ids only. */
  generated: number[];
  /** 'stop' when a stop token was produced, 'length' when maxTokens or the context ran out. */
  finishReason: 'stop' | 'length';
}

/**
 * One step of incremental decoding: run `ids` [B, n] at positions cache.length .. cache.length + n − 1, append
 * their keys and values to the cache (B = cache.batch), and return the logits of each row's LAST position [B, vocab].
 */
export function decodeStep(model: LlamaModel, ids: Tensor, cache: KvCache): Tensor {
  const c = model.config;
  const [batch, n] = ids.shape;
  if (ids.shape.length !== 2 || batch !== cache.batch || ids.dtype !== 'u32') {
    throw new RangeError(`decode: ids ${ids} must be u32 [${cache.batch}, n] (the cache's batch)`);
  }
  if (cache.length + n > cache.capacity) {
    throw new RangeError(`decode: ${cache.length} cached + ${n} new positions exceed the cache capacity ${cache.capacity}`);
  }
  checkSequenceLength(c, cache.length + n, 'decode');
  const rt = model.rt;
  // The embedding and the classifier in whichever storage the base has (--base-dtype): read in place.
  let x = model.embed(ids.view([batch * n])).view([batch * n, c.dim]);
  // Only each row's last position gives logits: the last layer runs its FFN on rows (b + 1)·n − 1 alone.
  const lastRows = n > 1 ? rt.upload(Uint32Array.from({ length: batch }, (_, b) => (b + 1) * n - 1), [batch], 'u32', 'last positions') : undefined;
  let norm: RmsNormForward | undefined;
  for (let l = 0; l < c.nLayers; l++) {
    const outputRows = l === c.nLayers - 1 ? lastRows : undefined;
    ({ x, norm } = model.layerStep(l, x, batch, n, { startPos: cache.length, attend: (q, k, v) => attendCached(model, cache, l, q, k, v), outputRows, ...(norm ? { inputNorm: norm } : {}) }));
  }
  lastRows?.release();
  cache.length += n;
  // The last layer's output norm is the final norm (nLayers >= 1: validateConfig).
  const finalNorm = norm!;
  const logits = matmulWeightT(rt, finalNorm.y, model.classifierWeight());
  x.release();
  finalNorm.y.release();
  finalNorm.rstd.release();
  return logits;
}

export async function generateIds(model: LlamaModel, promptIds: number[], options: GenerateOptions): Promise<Generation> {
  const [g] = await generateBatch(model, [promptIds], options);
  return g;
}

/**
 * Generates for several prompts at once: one forward pass per step for all of them, which on a GPU costs
 * about as much as one prompt's step. Each result is what generateIds gives for that prompt alone (up to
 * float rounding); a sequence that stops early rides along until every one has stopped.
 */
export async function generateBatch(model: LlamaModel, prompts: readonly number[][], options: GenerateOptions): Promise<Generation[]> {
  if (prompts.length === 0) return [];
  prompts.forEach((p, i) => {
    if (p.length === 0) throw new RangeError(`generate: prompt ${i} must have at least one token (e.g. BOS)`);
  });
  checkMaxTokens(options);
  const rt = model.rt;
  const width = Math.max(...prompts.map((p) => p.length));
  if (width > model.config.maxSeqLen) throw new RangeError(`generate: a prompt has ${width} tokens, more than the model's context ${model.config.maxSeqLen}`);
  checkSequenceLength(model.config, width, 'generate');
  // Generation ends ('length') where the model's context ends, the sliding window included.
  const capacity = Math.min(contextLength(model.config), width + options.maxTokens);
  const stop = new Set(options.stopTokens ?? []);
  const samplers = prompts.map(() => createSampler(options));
  const padding = prompts.map((p) => width - p.length);
  const cache = newKvCache(model, capacity, prompts.length, padding);
  const generated: number[][] = prompts.map(() => []);
  const finish: (Generation['finishReason'] | null)[] = prompts.map(() => null);
  try {
    // Left-pad with each prompt's own first token: pad rows only ever see each other.
    let input = prompts.map((p, b) => [...Array<number>(padding[b]).fill(p[0]), ...p]);
    let steps = 0;
    while (steps < options.maxTokens && cache.length + input[0].length <= capacity && finish.some((f) => f === null)) {
      const ids = rt.upload(new Uint32Array(input.flat()), [prompts.length, input[0].length], 'u32', 'decode ids');
      const logits = decodeStep(model, ids, cache);
      const host = await logits.read();
      ids.release();
      logits.release();
      steps++;
      const vocab = host.length / prompts.length;
      input = prompts.map((_, b) => {
        const next = samplers[b](host.subarray(b * vocab, (b + 1) * vocab));
        if (finish[b] !== null) return [next]; // already finished: its tokens are not kept
        if (stop.has(next)) finish[b] = 'stop';
        else {
          generated[b].push(next);
          options.onToken?.(next, b);
          if (options.stopWhen?.(generated[b], b)) finish[b] = 'stop';
        }
        return [next];
      });
    }
  } finally {
    releaseKvCache(cache);
  }
  return prompts.map((p, b) => ({ tokens: [...p, ...generated[b]], generated: generated[b], finishReason: finish[b] ?? 'length' }));
}

/** The check every generator (this one, the gpu.js one) makes of maxTokens. */
export function checkMaxTokens(options: GenerateOptions): void {
  if (!Number.isInteger(options.maxTokens) || options.maxTokens < 0) throw new RangeError(`generate: maxTokens must be a whole number >= 0, got ${options.maxTokens}`);
}

/** Text in, text out around any generator of ids: it stops at EOS or BOS unless options.stopTokens says otherwise. */
export async function generateTextWith(
  generate: (promptIds: number[], options: GenerateOptions) => Promise<Generation>,
  tokenizer: Tokenizer,
  prompt: string,
  options: GenerateOptions,
): Promise<Generation & { text: string }> {
  const stopTokens = options.stopTokens ?? [tokenizer.eosId, tokenizer.bosId];
  const g = await generate(tokenizer.encode(prompt), { ...options, stopTokens });
  return { ...g, text: tokenizer.decode(g.tokens) };
}

export function generateText(model: LlamaModel, tokenizer: Tokenizer, prompt: string, options: GenerateOptions): Promise<Generation & { text: string }> {
  return generateTextWith((ids, o) => generateIds(model, ids, o), tokenizer, prompt, options);
}
