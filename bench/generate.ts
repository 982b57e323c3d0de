// `npm run bench:generate`: greedy generation with a KV cache, one prompt at a time against several side
// by side (generateBatch), on stories260K (real weights) over the built-in experiment's 64 held-out word
// problems, scored as the experiment scores them (evaluateTask, 96 new tokens, stop at "#### N").
// Every batch size must give the same outputs; the table is tokens/s and wall time, beside PyTorch on the
// CPU decoding as many tokens greedily with a KV cache (bench/torch_llama.py --generate: random prompts of
// our mean prompt length, no stopping). Last line: one JSON object.
//   npm run bench:generate [-- --examples 64 --batches 1,4,16,64 --no-torch]
import { describePeer, runTorchPeer } from './torch-peer.ts';
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
    'no-torch': { type: 'boolean', default: false },
  },
});
const batches = args.batches.split(',').map(Number);
const maxNewTokens = Number(args['max-new-tokens']);
const examples = builtinData({ train: 0, reference: 0, heldOut: Number(args.examples) }).heldOut;

const { rt, model, tokenizer, release } = await openModel({ model: defaultSource('model') });
console.log(`adapter: ${rt.report.summary}; stories260K, ${examples.length} word problems, greedy, up to ${maxNewTokens} new tokens`);
await evaluateTask(model, tokenizer, examples.slice(0, 2), { task: 'gsm8k', maxNewTokens: 4, batchSize: 2 }); // compiles every pipeline

interface Row { batch: number; seconds: number; tokens: number; tokens_per_s: number; same_outputs: boolean; pytorch_tokens_per_s?: number }
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

const promptLen = Math.round(examples.reduce((n, e) => n + tokenizer.encode(e.prompt).length, 0) / examples.length);
if (!args['no-torch']) {
  const peer = runTorchPeer<{ generate: { batch: number; tokens_per_s: number }[] }>(['--checkpoint', defaultSource('model'), '--generate', '--batches', batches.join(','), '--prompt-len', String(promptLen), '--new-tokens', String(maxNewTokens)]);
  console.log(`\n${describePeer(peer)}`);
  if (peer.ok) {
    console.log(`PyTorch (CPU) on ${promptLen}-token prompts:`);
    for (const row of rows) {
      row.pytorch_tokens_per_s = Math.round(peer.value.generate.find((t) => t.batch === row.batch)!.tokens_per_s);
      console.log(`batch ${String(row.batch).padStart(3)}: ${String(row.pytorch_tokens_per_s).padStart(5)} tokens/s   ours ${(row.tokens_per_s / row.pytorch_tokens_per_s).toFixed(2)}x`);
    }
  }
}
console.log(JSON.stringify({ adapter: rt.report.summary, examples: examples.length, max_new_tokens: maxNewTokens, rows }));
if (rows.some((r) => !r.same_outputs)) process.exitCode = 1;
