// `npm run bench:score`: XTF scoring against a plain forward pass of the same batches, in tokens/s, on
// stories260K (real weights and tokenizer) and GSM8K train examples. The baseline is a forward pass as
// training's loss or an evaluation runs it: logits at every position, each next token's p read back, on
// the batches scoring forms (sorted by length, XTF's batch size). Scoring computes logits only at the
// rows it reads (the label tokens') and adds the attention each token receives, task relevance and the
// selection, under the paper's rules and the released ones; the first rows show each part. Each pass
// runs with the plain forward of each of its batches beside it, so that the two are timed under the same
// machine speed (againstForward), after a warm-up run that compiles the pipelines. `--model 15m-shape` runs the same on random
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
import { scoringModel, type ScoringModel } from '../src/xtf/scoring-model.ts';
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

/**
 * Each pass against the plain forward, batch by batch: the pass runs on a model that, for each batch the
 * pass asks it to score, also runs the plain forward of the same batch (logits at every row, no attention)
 * and times it apart. This machine's speed drifts by ±20% over seconds, so two passes timed one after the
 * other differ by more than what is measured here; a batch and its plain forward run within a few hundred
 * ms of each other. The pass's own time is its wall time less the plain forwards inside it: every host step
 * (tokenising, task relevance, the selection, each token's text) counts against it. Odd rounds run the
 * plain forward after the pass's batch instead of before. Per pass: the median over REPEATS rounds (after
 * a warm-up) of the ratio of the two times, and its range.
 */
async function againstForward(pass: (model: ScoringModel) => Promise<unknown>): Promise<{ rate: number; forwardRate: number; ratio: number; ratios: number[] }> {
  const inner = scoringModel(model);
  const passMs: number[] = [];
  const forwardMs: number[] = [];
  for (let r = -1; r < REPEATS; r++) {
    let plain = 0;
    const timed: ScoringModel = {
      ...inner,
      async teacherForced(ids, batch, seqLen, targets, attention, rows) {
        const runPlain = async () => {
          const t0 = performance.now();
          await inner.teacherForced(ids, batch, seqLen, targets, null);
          plain += performance.now() - t0;
        };
        if (r % 2 === 0) await runPlain();
        const result = await inner.teacherForced(ids, batch, seqLen, targets, attention, rows);
        if (r % 2 !== 0) await runPlain();
        return result;
      },
    };
    const t0 = performance.now();
    await pass(timed);
    if (r < 0) continue; // warm-up: compiles the pipelines
    passMs.push(performance.now() - t0 - plain);
    forwardMs.push(plain);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const ratios = passMs.map((ms, r) => forwardMs[r] / ms).sort((a, b) => a - b);
  return { rate: tokens / (median(passMs) / 1000), forwardRate: tokens / (median(forwardMs) / 1000), ratio: median(ratios), ratios };
}

// The batches scoring forms: its own, for up to 256 examples (one of its chunks).
const batches = lengthSortedBatches(tokenized, paper.batchSize).map((idx) => idx.map((i) => tokenized[i]));

async function runBatches(run: (batch: typeof tokenized) => Promise<unknown>): Promise<void> {
  for (const batch of batches) await run(batch);
}

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

console.log(`adapter: ${rt.report.summary}; ${args.model} on ${records.length} GSM8K examples, ${tokens} tokens, batches of ${paper.batchSize}; each pass against the plain forward of the same batches, batch by batch; median of ${REPEATS} rounds after a warm-up`);
const passes = [
  ['forward, logits at label rows', (m: ScoringModel) => runBatches((batch) => forwardScores(m, batch, paper.ri, false))],
  ['  + attention received', (m: ScoringModel) => runBatches((batch) => forwardScores(m, batch, paper.ri, true))],
  ['XTF scoring, paper rules', (m: ScoringModel) => scoreExamples(m, tokenizer, records, { xtf: paper, task: 'gsm8k' })],
  ['XTF scoring, released rules', (m: ScoringModel) => scoreExamples(m, tokenizer, records, { xtf: released, task: 'gsm8k' })],
] as const;
const results: Record<string, Awaited<ReturnType<typeof againstForward>>> = {};
console.log('');
console.log(`${'pass'.padEnd(40)}${'tokens/s'.padStart(10)}${'forward'.padStart(10)}${'vs forward'.padStart(12)}  (median of the rounds' ratios; their range)`);
for (const [name, pass] of passes) {
  const r = (results[name] = await againstForward(pass));
  console.log(`${name.padEnd(40)}${r.rate.toFixed(0).padStart(10)}${r.forwardRate.toFixed(0).padStart(10)}${`${r.ratio.toFixed(2)}x`.padStart(12)}  ${r.ratios[0].toFixed(2)}–${r.ratios.at(-1)!.toFixed(2)}`);
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
const [labelRows, withAttention, scorePaper, scoreReleased] = passes.map(([name]) => results[name]);
console.log(JSON.stringify({
  adapter: rt.report.summary, model: args.model, examples: records.length, tokens,
  forward_tokens_per_s: Math.round(scorePaper.forwardRate), forward_label_rows_tokens_per_s: Math.round(labelRows.rate), forward_attention_tokens_per_s: Math.round(withAttention.rate),
  score_paper_tokens_per_s: Math.round(scorePaper.rate), score_released_tokens_per_s: Math.round(scoreReleased.rate),
  forward_label_rows_vs_forward: +labelRows.ratio.toFixed(3), forward_attention_vs_forward: +withAttention.ratio.toFixed(3),
  score_paper_vs_forward: +scorePaper.ratio.toFixed(3), score_released_vs_forward: +scoreReleased.ratio.toFixed(3),
}));
rt.destroy();
process.exit(0);
