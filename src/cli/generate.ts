import { parseArgs } from 'node:util';
import { generateIds } from '../model/generate.ts';
import { numberFlag } from './flags.ts';
import { MODEL_OPTIONS, MODEL_USAGE, openModel } from './model-args.ts';

const USAGE = `usage: xtf generate --model M --prompt "..." [--max-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S] [--json]

Continues the prompt with a KV cache and streams the text to stdout. --temperature 0 is greedy.
Stops at the tokenizer's end-of-sequence (or BOS, as llama2.c does) or after --max-tokens.
${MODEL_USAGE}`;

export async function generateCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      ...MODEL_OPTIONS,
      prompt: { type: 'string', short: 'p', default: '' },
      'max-tokens': { type: 'string', default: '128' },
      temperature: { type: 'string', default: '1' },
      'top-k': { type: 'string', default: '0' },
      'top-p': { type: 'string', default: '1' },
      seed: { type: 'string', default: '0' },
      json: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.model) {
    console.error(USAGE);
    return 2;
  }
  // Every numeric flag has a default, so each is present.
  const num = (name: keyof typeof values) => numberFlag(name, values[name])!;
  const options = { maxTokens: num('max-tokens'), temperature: num('temperature'), topK: num('top-k'), topP: num('top-p'), seed: num('seed') };
  const m = await openModel(values);
  try {
    const tok = m.tokenizer;
    const promptIds = tok.encode(values.prompt!);
    let shown = tok.decode(promptIds);
    const generatedSoFar: number[] = [];
    if (!values.json) process.stdout.write(shown);
    const t0 = performance.now();
    const g = await generateIds(m.model, promptIds, {
      ...options,
      stopTokens: [tok.eosId, tok.bosId],
      onToken: (id) => {
        if (values.json) return;
        // Decode the whole text so far: byte-fallback tokens only make characters together.
        const text = tok.decode([...promptIds, ...generatedSoFar, id]);
        generatedSoFar.push(id);
        if (text.startsWith(shown) && !text.endsWith('\uFFFD')) {
          process.stdout.write(text.slice(shown.length));
          shown = text;
        }
      },
    });
    const seconds = (performance.now() - t0) / 1000;
    const text = tok.decode(g.tokens);
    if (values.json) console.log(JSON.stringify({ text, tokens: g.tokens, generated: g.generated.length, finish_reason: g.finishReason }));
    else {
      process.stdout.write(text.slice(shown.length) + '\n');
      process.stderr.write(`${g.generated.length} tokens in ${seconds.toFixed(2)} s (${(g.generated.length / seconds).toFixed(1)} tokens/s), ${g.finishReason}\n`);
    }
  } finally {
    m.release();
  }
  return 0;
}
