import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { batchOf, makeBatches } from '../data/batch.ts';
import { chatOptionsFor } from '../data/chat.ts';
import { parseExamples } from '../data/examples.ts';
import { readDataText, readTrainRecords } from '../data/files-fs.ts';
import { splitTrainValidation } from '../data/tasks.ts';
import { tokenizeRecords } from '../data/tokenize.ts';
import { LORA_TARGETS, type LoraTarget } from '../model/lora.ts';
import { savePeftAdapter } from '../model/peft-fs.ts';
import { checkMemoryPlan, memoryReport } from '../model/memory.ts';
import { FolderCheckpointStorage } from '../train/checkpoint-fs.ts';
import { shuffledSteps, train, type TrainOptions } from '../train/trainer.ts';
import { baselineOptions, xtfOptions } from '../xtf/options.ts';
import { SCORE_METHODS, scoreExamples, type ScoreMethod } from '../xtf/score.ts';
import { scoredToTraining, type TrainingExample } from '../xtf/to-training.ts';
import { onlineSlmSelector, referenceTokenLosses } from '../xtf/slm-online.ts';
import { MODEL_OPTIONS, MODEL_USAGE, REFERENCE_OPTIONS, REFERENCE_USAGE, openModel, openReference } from './model-args.ts';
import { readScoreFile } from './score-io.ts';
import { progressLine } from './progress.ts';
import { numberFlag } from './flags.ts';

const USAGE = `usage: xtf train --model M (--data D | --scores S.jsonl) --out DIR [options]

Fine-tunes with LoRA (or --full) on the label tokens that survive the filter, validating on a held-out
split with ALL label tokens, keeping the best validated adapter. Writes DIR/adapter (PEFT format),
DIR/metrics.jsonl and resumable checkpoints in DIR/checkpoints (--resume continues a killed run).
${MODEL_USAGE}
  --data FILE          training data: JSONL / JSON / .gz with text, prompt/completion, messages, alpaca,
                       sharegpt, question/answer or input_ids/labels records
  --scores FILE        a score file from \`xtf score\`: its tokens and weights (the mask) are used as they are
  --filter F           with --data: none (default), or score on the fly with xtf, stm, random, slm, tc;
                       slm-online chooses at every step (Rho-1: loss now − the reference's, top 60%)
${REFERENCE_USAGE}
  --full               full fine-tuning instead of LoRA
  --lora-rank R        (8)   --lora-alpha A (16)   --lora-dropout P (0)   --targets q_proj,v_proj,... (all)
  --steps N            optimiser steps (default: one epoch)   --epochs E
  --batch-size B       examples per micro-batch (8)   --grad-accum G (1)   --max-len T (model context)
  --lr LR (2e-4)  --warmup N (0)  --schedule cosine|constant  --weight-decay W (0)  --max-grad-norm C (1)
  --val-fraction F     held-out share of the examples (0.1)   --eval-every N (0: at the end)   --patience N
  --seed S (0)  --resume`;

export async function trainCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      ...MODEL_OPTIONS,
      data: { type: 'string' },
      scores: { type: 'string' },
      filter: { type: 'string', default: 'none' },
      ...REFERENCE_OPTIONS,
      out: { type: 'string', short: 'o' },
      full: { type: 'boolean' },
      'lora-rank': { type: 'string', default: '8' },
      'lora-alpha': { type: 'string', default: '16' },
      'lora-dropout': { type: 'string', default: '0' },
      targets: { type: 'string' },
      steps: { type: 'string' },
      epochs: { type: 'string' },
      'batch-size': { type: 'string', default: '8' },
      'grad-accum': { type: 'string', default: '1' },
      'max-len': { type: 'string' },
      lr: { type: 'string' },
      warmup: { type: 'string' },
      schedule: { type: 'string' },
      'weight-decay': { type: 'string' },
      'max-grad-norm': { type: 'string' },
      'val-fraction': { type: 'string', default: '0.1' },
      'eval-every': { type: 'string' },
      patience: { type: 'string' },
      seed: { type: 'string', default: '0' },
      resume: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.model || !values.out || (!values.data === !values.scores)) {
    console.error(values.data && values.scores ? `xtf train: give --data or --scores, not both\n\n${USAGE}` : USAGE);
    return 2;
  }
  const num = (name: keyof typeof values) => numberFlag(name, values[name]);
  const filters = [...SCORE_METHODS, 'slm-online'] as const;
  const filter = values.filter as (typeof filters)[number];
  if (!filters.includes(filter)) throw new RangeError(`--filter must be one of ${filters.join(', ')}, got '${values.filter}'`);
  const targets = (values.targets?.split(',').map((t) => t.trim()) ?? [...LORA_TARGETS]) as LoraTarget[];
  const seed = num('seed')!;

  const m = await openModel(values);
  try {
    const maxLen = Math.min(num('max-len') ?? m.model.config.maxSeqLen, m.model.config.maxSeqLen);
    // Every example as tokens + the tokens that train (the mask) + all label tokens (for validation).
    let items: TrainingExample[];
    let selectTokens: ReturnType<typeof onlineSlmSelector> | undefined;
    const online = { seen: 0, masked: 0 };
    if (values.scores) {
      items = [];
      for await (const ex of readScoreFile(values.scores)) items.push(scoredToTraining(ex, maxLen));
    } else if (filter === 'none') {
      const report = tokenizeRecords(m.tokenizer, readTrainRecords(values.data!, { chat: chatOptionsFor(m.tokenizer) }), { maxLength: maxLen });
      items = report.examples.map((r) => ({ id: r.id, train: r, labels: r }));
      if (report.truncatedExamples) console.error(`truncated ${report.truncatedExamples} examples (${report.truncatedTokens} tokens) to ${maxLen} tokens`);
      if (report.emptyLabels.count) console.error(`skipped ${report.emptyLabels.count} examples with no label token (${report.emptyLabels.firstIds.join(', ')}${report.emptyLabels.count > 5 ? ', ...' : ''})`);
    } else if (filter === 'slm-online') {
      const reference = await openReference(m.rt, values);
      if (!reference) throw new Error("--filter slm-online needs a reference model (a model or adapter trained on clean data): pass --reference or --reference-adapter");
      const progress = progressLine('reference losses', 'examples');
      try {
        const examples = parseExamples(readDataText(values.data!), values.data!);
        const { scored, referenceLoss } = await referenceTokenLosses(reference, m.tokenizer, examples, {
          xtf: xtfOptions({ maxSeqLen: maxLen }),
          onProgress: (p) => progress.update(p.examplesDone, p.examples, p.tokensPerSecond, p.etaSeconds),
        });
        items = scored.map((ex) => scoredToTraining(ex, maxLen));
        selectTokens = onlineSlmSelector({ referenceLoss, onToken: (_id, _at, kept) => { online.seen++; if (!kept) online.masked++; } });
      } finally {
        progress.done();
        reference.release();
      }
    } else {
      const examples = parseExamples(readDataText(values.data!), values.data!);
      const progress = progressLine(`scoring (${filter})`, 'examples');
      const reference = await openReference(m.rt, values);
      const { scored, summary } = await scoreExamples(m.model, m.tokenizer, examples, {
        method: filter as ScoreMethod,
        reference,
        xtf: xtfOptions({ maxSeqLen: maxLen }),
        baselines: baselineOptions({ random: { seed } }),
        onProgress: (p) => progress.update(p.examplesDone, p.examples, p.tokensPerSecond, p.etaSeconds),
      });
      progress.done();
      reference?.release();
      console.error(`${filter}: masked ${(100 * summary.fractionMasked).toFixed(1)}% of ${summary.labelTokens} label tokens`);
      items = scored.map((ex) => scoredToTraining(ex, maxLen));
    }
    const { train: trainItems, validation } = splitTrainValidation(items, { validationFraction: num('val-fraction')!, seed });
    if (trainItems.length === 0) throw new RangeError('no training examples left after the validation split');
    const batchSize = num('batch-size')!;
    // Refuse a plan the device cannot hold before anything big is allocated.
    const longest = Math.max(...items.map((t) => t.train.tokens.length));
    const plan = { batch: batchSize, seqLen: longest, mode: values.full ? ('full' as const) : ('lora' as const) };
    const lora = { rank: num('lora-rank')!, alpha: num('lora-alpha')!, dropout: num('lora-dropout')!, targets };
    checkMemoryPlan(m.rt, memoryReport(m.model.config, plan, values.full ? null : lora), plan);
    const padId = m.tokenizer.eosId;
    const validationBatches = makeBatches(validation.map((v) => v.labels), { batchSize, padId });

    if (values.full) m.model.dropoutSeed = seed;
    else m.model.addLora(lora, seed);
    await mkdir(values.out, { recursive: true });
    const metricsFile = join(values.out, 'metrics.jsonl');
    if (!values.resume) await writeFile(metricsFile, '');
    const options: Partial<TrainOptions> = Object.fromEntries(
      Object.entries({
        steps: num('steps'),
        epochs: num('epochs'),
        lr: num('lr'),
        warmupSteps: num('warmup'),
        schedule: values.schedule as TrainOptions['schedule'] | undefined,
        weightDecay: num('weight-decay'),
        maxGradNorm: num('max-grad-norm'),
        evalEvery: num('eval-every'),
        patience: num('patience'),
        seed,
        checkpointEvery: 50,
      }).filter(([, v]) => v !== undefined),
    );
    const progress = progressLine('training', 'steps');
    const result = await train({
      model: m.model,
      set: values.full ? 'full' : 'lora',
      trainBatches: (_epoch, random) =>
        shuffledSteps(trainItems.map((t) => t.train), random, { microBatchSize: batchSize, gradientAccumulation: num('grad-accum')!, keepLast: true }, (rs) => batchOf(rs, padId)),
      validationBatches,
      options,
      storage: new FolderCheckpointStorage(join(values.out, 'checkpoints')),
      resume: values.resume,
      onProgress: (p) => progress.update(p.step, p.totalSteps, p.tokensPerSecond, p.etaMs / 1000, `loss ${p.loss.toFixed(4)} lr ${p.lr.toExponential(2)}`),
      onMetrics: (r) => void appendFile(metricsFile, JSON.stringify(r) + '\n'),
      selectTokens,
    });
    progress.done();
    if (selectTokens) console.error(`slm-online: masked ${(100 * online.masked / Math.max(1, online.seen)).toFixed(1)}% of ${online.seen} label tokens seen in training`);
    if (!values.full) await savePeftAdapter(join(values.out, 'adapter'), m.model, { overwrite: true, baseModelName: values.model });
    const best = result.best ? `best validation loss ${result.best.valLoss.toFixed(4)} at step ${result.best.step}` : 'no validation';
    console.log(`${result.steps} steps (${result.reason}), ${best}; wrote ${values.full ? '' : join(values.out, 'adapter') + ', '}${metricsFile}`);
  } finally {
    m.release();
  }
  return 0;
}
