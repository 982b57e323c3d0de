// Text generation on the gpu.js model: the options and results of src/model/generate.ts (the sampler
// included, so greedy is the same argmax), one sequence at a time. There is no KV cache here: each step
// re-runs the whole sequence and reads back the last position's logits. For the small models a browser
// without WebGPU can hold that costs little next to a step's fixed cost (one readback), and it keeps the
// gpu.js backend to a single forward.
import { checkSequenceLength, contextLength } from '../model/config.ts';
import { checkMaxTokens, generateTextWith, type GenerateOptions, type Generation } from '../model/generate.ts';
import { createSampler } from '../model/sampling.ts';
import type { Tokenizer } from '../model/tokenizer.ts';
import type { GpuJsLlama } from './llama.ts';

export async function generateIdsGpuJs(model: GpuJsLlama, promptIds: readonly number[], options: GenerateOptions): Promise<Generation> {
  if (promptIds.length === 0) throw new RangeError('generate: the prompt must have at least one token (e.g. BOS)');
  checkMaxTokens(options);
  checkSequenceLength(model.config, promptIds.length, 'generate');
  const sample = createSampler(options);
  const stop = new Set(options.stopTokens ?? []);
  const tokens = [...promptIds];
  const generated: number[] = [];
  const limit = Math.min(contextLength(model.config), promptIds.length + options.maxTokens);
  while (tokens.length < limit) {
    const { logits } = await model.forward(Uint32Array.from(tokens), 1, tokens.length, { logitsOfRows: [tokens.length - 1] });
    const next = sample(logits!);
    if (stop.has(next)) return { tokens, generated, finishReason: 'stop' };
    tokens.push(next);
    generated.push(next);
    options.onToken?.(next, 0);
    if (options.stopWhen?.(generated, 0)) return { tokens, generated, finishReason: 'stop' };
  }
  return { tokens, generated, finishReason: 'length' };
}

export function generateTextGpuJs(model: GpuJsLlama, tokenizer: Tokenizer, prompt: string, options: GenerateOptions): Promise<Generation & { text: string }> {
  return generateTextWith((ids, o) => generateIdsGpuJs(model, ids, o), tokenizer, prompt, options);
}
