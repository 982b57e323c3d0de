// `npm run bench:score`: XTF scoring against a plain forward pass of the same batches, in tokens/s, on
// stories260K (real weights and tokenizer) and GSM8K train examples. The baseline is a forward pass as
// training's loss or an evaluation runs it: logits at every position, each next token's p read back, on
// the batches scoring forms (sorted by length, XTF's batch size). Scoring computes logits only at the
// rows it reads (the label tokens') and adds the attention each token receives, task relevance and the
// selection, under the paper's rules and the released ones; the middle rows show each part. Each is
// timed after a warm-up run that compiles its pipelines. `--model 15m-shape` runs the same on random
// weights of stories15M's shape (vocabulary 32,000, context 256: the examples are cut to fit), where the
// classifier is most of a forward pass. Last line: one JSON object.
//   npm run bench:score [-- --examples 256 --repeats 5 --model stories260K|15m-shape --profile]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { exampleRecord, type TrainRecord } from '../src/data/records.ts';
import { gsm8kExample } from '../src/data/tasks.ts';
import { tokenizeRecord } from '../src/data/tokenize.ts';
import { Runtime } from '../src/gpu/index.ts';
import { contextLength } from '../src/model/config.ts';
import { parseLlama2cCheckpoint } from '../src/model/llama2c.ts';
import { LlamaModel } from '../src/model/llama.ts';
import { parseLlama2cTokenizer } from '../src/model/tokenizer-llama2c.ts';
import { forwardScores } from '../src/xtf/forward-scores.ts';
import { scoringModel } from '../src/xtf/scoring-model.ts';
import { xtfOptions } from '../src/xtf/options.ts';
import { lengthSortedBatches, scoreExamples } from '../src/xtf/score.ts';
import { randomLlamaWeights, STORIES15M_SHAPE } from './random-weights.ts';

const { values: args } = parseArgs({ options: { examples: { type: 'string', default: '256' }, repeats: { type: 'string', default: '5' }, profile: { type: 'boolean', default: false }, model: { type: 'string', default: 'stories260K' } } });
if (!['stories260K', '15m-shape'].includes(args.model!)) throw new Error(`--model ${args.model}: stories260K or 15m-shape`);
const EXAMPLES = Number(args.examples);
const REPEATS = Number(args.repeats);
const SHARED = new URL('../../shared/', import.meta.url);

const tokenizer = parseLlama2cTokenizer(new Uint8Array(readFileSync(new URL('models/stories260K/tok512.bin', SHARED))), { name: 'tok512.bin', vocabSize: 512 });
const weights = args.model === '15m-shape' ? randomLlamaWeights(STORIES15M_SHAPE) : parseLlama2cCheckpoint(new Uint8Array(readFileSync(new URL('models/stories260K/stories260K.bin', SHARED))), { name: 'stories260K.bin' });
const records: TrainRecord[] = readFileSync(new URL('data/gsm8k/train.jsonl', SHARED), 'utf8').split('\n').filter(Boolean).slice(0, EXAMPLES)
  .map((line, i) => exampleRecord(gsm8kExample({ line: i + 1, value: JSON.parse(line) }, 'train.jsonl', i)));

const rt = await Runtime.create();
const model = LlamaModel.fromWeights(rt, weights);
const paper = xtfOptions({ rules: 'paper' });
const released = xtfOptions({ rules: 'released' });
const tokenized = records.map((r) => tokenizeRecord(tokenizer, r, { maxLength: contextLength(weights.config) }));
const tokens = tokenized.reduce((s, e) => s + e.tokens.length, 0);

/** Each pass's median tokens/s over REPEATS rounds after one warm-up round, and its median ratio to the
 *  first pass within a round. A round runs every pass once, in turn, so that the machine's drift (±15%
 *  here between minutes) falls on all of them alike. */
async function rates(passes: (() => Promise<unknown>)[]): Promise<{ rate: number; ratio: number; ratios: number[] }[]> {
  for (const run of passes) await run();
  const times: number[][] = passes.map(() => []);
  for (let r = 0; r < REPEATS; r++) {
    for (const [i, run] of passes.entries()) {
      const t0 = performance.now();
      await run();
      times[i].push(performance.now() - t0);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return times.map((t) => {
    const ratios = t.map((ms, r) => times[0][r] / ms);
    return { rate: tokens / (median(t) / 1000), ratio: median(ratios), ratios: [...ratios].sort((a, b) => a - b) };
  });
}

// The batches scoring forms: its own, for up to 256 examples (one of its chunks).
const batches = lengthSortedBatches(tokenized, paper.batchSize).map((idx) => idx.map((i) => tokenized[i]));

/** The plain forward of one batch: ids and next-token targets, right-padded; logits at every row. */
async function plainForward(batch: typeof tokenized): Promise<void> {
  const T = Math.max(...batch.map((e) => e.tokens.length));
  const ids = new Uint32Array(batch.length * T);
  const targets = new Uint32Array(batch.length * T);
  batch.forEach((e, b) => {
    ids.set(e.tokens, b * T);
    targets.set(e.tokens.slice(1), b * T);
  });
  await scoringModel(model).teacherForced(ids, batch.length, T, targets, null);
}

console.log(`adapter: ${rt.report.summary}; ${args.model} on ${records.length} GSM8K examples, ${tokens} tokens, batches of ${paper.batchSize}; median of ${REPEATS} interleaved rounds after a warm-up`);
const [forward, labelRows, withAttention, scorePaper, scoreReleased] = await rates([
  async () => {
    for (const batch of batches) await plainForward(batch);
  },
  async () => {
    for (const batch of batches) await forwardScores(model, batch, paper.ri, false);
  },
  async () => {
    for (const batch of batches) await forwardScores(model, batch, paper.ri, true);
  },
  () => scoreExamples(model, tokenizer, records, { xtf: paper, task: 'gsm8k' }),
  () => scoreExamples(model, tokenizer, records, { xtf: released, task: 'gsm8k' }),
]);
console.log('');
console.log(`${'pass'.padEnd(40)}${'tokens/s'.padStart(10)}${'vs forward'.padStart(12)}  (median of the rounds' ratios; their range)`);
for (const [name, r] of [['forward (logits at every row)', forward], ['forward, logits at label rows', labelRows], ['  + attention received', withAttention], ['XTF scoring, paper rules', scorePaper], ['XTF scoring, released rules', scoreReleased]] as const) {
  console.log(`${name.padEnd(40)}${r.rate.toFixed(0).padStart(10)}${`${r.ratio.toFixed(2)}x`.padStart(12)}  ${r.ratios[0].toFixed(2)}–${r.ratios.at(-1)!.toFixed(2)}`);
}
if (args.profile) {
  // GPU time by kernel of one pass over the batches: the plain forward beside scoring's (label rows, attention received).
  const profile = async (pass: (batch: typeof tokenized) => Promise<unknown>) => {
    rt.startProfiling();
    for (const batch of batches) await pass(batch);
    return rt.stopProfiling();
  };
  const plain = await profile(plainForward);
  const scoring = await profile((batch) => forwardScores(model, batch, paper.ri, true));
  const sum = (times: typeof plain) => times.reduce((s, t) => s + t.totalMs, 0);
  // The ratio of GPU time alone: the model work each pass asks for, without the host's share.
  console.log(`\nGPU time of one pass by kernel, ms: the plain forward (total ${sum(plain).toFixed(0)}) and scoring's forward (total ${sum(scoring).toFixed(0)}; ${(sum(plain) / sum(scoring)).toFixed(2)}x the forward's speed)`);
  const kernels = [...new Set([...plain, ...scoring].map((t) => t.kernel))];
  const ms = (times: typeof plain, k: string) => times.find((t) => t.kernel === k)?.totalMs ?? 0;
  for (const k of kernels.sort((a, b) => ms(scoring, b) + ms(plain, b) - ms(scoring, a) - ms(plain, a)).slice(0, 12)) {
    console.log(`  ${k.padEnd(40)} ${ms(plain, k).toFixed(1).padStart(9)} ${ms(scoring, k).toFixed(1).padStart(9)}`);
  }
}
console.log(JSON.stringify({
  adapter: rt.report.summary, model: args.model, examples: records.length, tokens,
  forward_tokens_per_s: Math.round(forward.rate), forward_label_rows_tokens_per_s: Math.round(labelRows.rate), forward_attention_tokens_per_s: Math.round(withAttention.rate),
  score_paper_tokens_per_s: Math.round(scorePaper.rate), score_released_tokens_per_s: Math.round(scoreReleased.rate),
  score_paper_vs_forward: +scorePaper.ratio.toFixed(3), score_released_vs_forward: +scoreReleased.ratio.toFixed(3),
}));
rt.destroy();
process.exit(0);
