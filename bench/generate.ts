// `npm run bench:generate`: greedy generation with a KV cache, one prompt at a time against several side
// by side (generateBatch), on stories260K (real weights) over the built-in experiment's 64 held-out word
// problems, scored as the experiment scores them (evaluateTask, 96 new tokens, stop at "#### N").
// Every batch size must give the same outputs; the table is tokens/s and wall time. Last line: one JSON object.
//   npm run bench:generate [-- --examples 64 --batches 1,4,16,64]
import { parseArgs } from 'node:util';
import { openModel } from '../src/cli/model-args.ts';
import { defaultSource } from '../src/cli/defaults.ts';
import { evaluateTask } from '../src/eval/metrics.ts';
import { builtinData } from '../src/experiment/builtin-data.ts';

const { values: args } = parseArgs({
  options: {
    examples: { type: 'string', default: '64' },
    batches: { type: 'string', default: '1,4,16,64' },
    'max-new-tokens': { type: 'string', default: '96' },
  },
});
const batches = args.batches.split(',').map(Number);
const maxNewTokens = Number(args['max-new-tokens']);
const examples = builtinData({ train: 0, reference: 0, heldOut: Number(args.examples) }).heldOut;

const { rt, model, tokenizer, release } = await openModel({ model: defaultSource('model') });
console.log(`adapter: ${rt.report.summary}; stories260K, ${examples.length} word problems, greedy, up to ${maxNewTokens} new tokens`);
await evaluateTask(model, tokenizer, examples.slice(0, 2), { task: 'gsm8k', maxNewTokens: 4, batchSize: 2 }); // compiles every pipeline

interface Row { batch: number; seconds: number; tokens: number; tokens_per_s: number; same_outputs: boolean }
const rows: Row[] = [];
let first: string[] | null = null;
for (const batchSize of batches) {
  const t0 = performance.now();
  const r = await evaluateTask(model, tokenizer, examples, { task: 'gsm8k', maxNewTokens, batchSize });
  const seconds = (performance.now() - t0) / 1000;
  const outputs = r.perExample.map((e) => e.output);
  first ??= outputs;
  const tokens = r.perExample.reduce((n, e) => n + e.generatedTokens, 0);
  rows.push({ batch: batchSize, seconds: +seconds.toFixed(2), tokens, tokens_per_s: Math.round(tokens / seconds), same_outputs: outputs.every((o, i) => o === first![i]) });
  const row = rows.at(-1)!;
  console.log(`batch ${String(batchSize).padStart(3)}: ${row.seconds.toFixed(1).padStart(6)} s  ${String(tokens).padStart(5)} tokens  ${String(row.tokens_per_s).padStart(5)} tokens/s  ${(rows[0].seconds / row.seconds).toFixed(1).padStart(5)}x  outputs ${row.same_outputs ? 'identical' : 'DIFFER'}`);
}
release();
console.log(JSON.stringify({ adapter: rt.report.summary, examples: examples.length, max_new_tokens: maxNewTokens, rows }));
if (rows.some((r) => !r.same_outputs)) process.exitCode = 1;
