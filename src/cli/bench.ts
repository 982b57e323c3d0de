// `xtf bench`: how much the training pipeline (reading and tokenizing the data, batching, the trainer's
// bookkeeping, checkpoint-free logging) costs on top of the bare training step, in one process on the
// same model and batches: tokens/s of `xtf train`'s path vs a loop of trainStep calls.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { makeBatches } from '../data/batch.ts';
import { readDataText, readTrainRecords } from '../data/files-fs.ts';
import { tokenizeRecords, unfiltered } from '../data/tokenize.ts';
import { LORA_DEFAULTS } from '../model/lora.ts';
import { AdamW } from '../train/optimizer.ts';
import { trainStep } from '../train/step.ts';
import { finetune, finetuneConfig } from '../train/finetune.ts';
import { openModel } from './model-args.ts';

const USAGE = `usage: xtf bench [--model M] [--text FILE] [--steps N] [--batch-size B] [--seq-len T]

Trains LoRA (rank 8, every projection) on full rows of B x T tokens of real text two ways in one process:
bare trainStep calls on prebuilt batches, and the xtf train path from a JSONL file (read, tokenize, shuffle,
batch, finetune()). Prints both tokens/s and the pipeline's overhead. Defaults: stories260K and TinyStories
from ../shared, 8 x 256, 6 steps.`;

export async function benchCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: 'string', default: resolve('../shared/models/stories260K/stories260K.bin') },
      text: { type: 'string', default: resolve('../shared/data/tinystories/sample.txt') },
      steps: { type: 'string', default: '6' },
      'batch-size': { type: 'string', default: '8' },
      'seq-len': { type: 'string', default: '256' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const steps = Number(values.steps), batchSize = Number(values['batch-size']), seqLen = Number(values['seq-len']);
  const m = await openModel({ model: values.model });
  const dir = await mkdtemp(join(tmpdir(), 'xtf-bench-'));
  try {
    const { model, tokenizer } = m;
    // Records of text long enough to fill a row once truncated: every row is exactly seqLen tokens.
    const paragraphs = readDataText(values.text!).split('\n').filter((p) => p.trim().length > 0);
    const records: string[] = [];
    for (let i = 0, cur = ''; i < paragraphs.length && records.length < (steps + 1) * batchSize; i++) {
      cur += (cur ? '\n' : '') + paragraphs[i];
      if (tokenizer.encode(cur).length > seqLen + 1) {
        records.push(JSON.stringify({ text: cur }));
        cur = '';
      }
    }
    const dataFile = join(dir, 'text.jsonl');
    await writeFile(dataFile, records.join('\n') + '\n');
    const lora = { ...LORA_DEFAULTS, rank: 8, alpha: 16 };
    const tokensPerStep = batchSize * seqLen;

    // 1. Bare steps on prebuilt batches.
    const prebuilt = tokenizeRecords(tokenizer, readTrainRecords(dataFile), { maxLength: seqLen }).examples;
    const batches = makeBatches(prebuilt, { batchSize, padId: tokenizer.eosId });
    model.addLora(lora, 0);
    const opt = new AdamW(m.rt, model.trainable('lora'));
    const step = async (i: number) => {
      const r = trainStep(model, opt, [batches[i % batches.length]], 'lora', 1e-4);
      await r.loss.read();
      r.loss.release();
    };
    await step(0); // compile
    let t0 = performance.now();
    for (let i = 1; i <= steps; i++) await step(i);
    const bare = (steps * tokensPerStep) / ((performance.now() - t0) / 1000);
    opt.release();
    model.removeLora();

    // 2. The xtf train path (finetune(), the one recipe), data loading included (pipelines are compiled
    // already: same shapes). No validation split, so both time the same steps.
    t0 = performance.now();
    const report = tokenizeRecords(tokenizer, readTrainRecords(dataFile), { maxLength: seqLen });
    await finetune({
      model,
      config: finetuneConfig({ steps, lr: 1e-4, batchSize, lora, validationFraction: 0 }),
      examples: report.examples.map(unfiltered),
      padId: tokenizer.eosId,
      loop: { logEvery: 1 },
    });
    const pipeline = (steps * tokensPerStep) / ((performance.now() - t0) / 1000);
    model.removeLora();

    const overhead = 1 - pipeline / bare;
    console.log(`${m.rt.report.summary}; LoRA rank 8, ${batchSize} x ${seqLen} tokens per step, ${steps} timed steps`);
    console.log(`bare trainStep        ${bare.toFixed(0).padStart(7)} tokens/s`);
    console.log(`xtf train pipeline    ${pipeline.toFixed(0).padStart(7)} tokens/s  (data loading included)`);
    console.log(`pipeline overhead     ${(100 * overhead).toFixed(1)}%`);
    console.log(JSON.stringify({ bare_tokens_per_s: Math.round(bare), pipeline_tokens_per_s: Math.round(pipeline), overhead }));
  } finally {
    await rm(dir, { recursive: true, force: true });
    m.release();
  }
  return 0;
}
