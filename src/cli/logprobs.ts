import { parseArgs } from 'node:util';
import { crossEntropyForward } from '../ops/cross-entropy.ts';
import { contextLength } from '../model/config.ts';
import { MODEL_OPTIONS, MODEL_USAGE, openModel } from './model-args.ts';

const USAGE = `usage: xtf logprobs --model M --text "..."

Prints JSON {tokens, pieces, logprobs}: the token ids of the text (with BOS), each token's vocabulary
piece, and logprobs[i] = log p(tokens[i+1] | tokens[0..i]) under the model (teacher-forced).
${MODEL_USAGE}`;

export async function logprobsCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { ...MODEL_OPTIONS, text: { type: 'string', short: 't' } } });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.text === undefined || !values.model) {
    console.error(USAGE);
    return 2;
  }
  const m = await openModel(values);
  try {
    const tokens = m.tokenizer.encode(values.text);
    const context = contextLength(m.model.config);
    if (tokens.length > context) throw new RangeError(`the text has ${tokens.length} tokens, more than the model's context of ${context}`);
    const rt = m.rt;
    const ids = rt.upload(new Uint32Array(tokens), [1, tokens.length], 'u32', 'ids');
    const fwd = m.model.forward(ids);
    const targets = rt.upload(new Uint32Array([...tokens.slice(1), 0]), [tokens.length], 'u32', 'targets');
    const { loss } = crossEntropyForward(rt, fwd.logits, targets);
    const nll = await loss.read();
    const logprobs = Array.from(nll.subarray(0, tokens.length - 1), (x) => -x);
    console.log(JSON.stringify({ tokens, pieces: tokens.map((t) => m.tokenizer.piece(t)), logprobs }));
  } finally {
    m.release();
  }
  return 0;
}
