import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chatOptionsFor } from '../data/chat.ts';
import { readTrainRecords } from '../data/files-fs.ts';
import { tokenizeRecords, unfiltered, type TrainingExample } from '../data/tokenize.ts';
import { contextLength } from '../model/config.ts';
import { savePeftAdapter } from '../model/peft-fs.ts';
import { FolderCheckpointStorage } from '../train/checkpoint-fs.ts';
import { FINETUNE_DEFAULTS, finetune } from '../train/finetune.ts';
import { SCORE_METHODS, scoreExamples, type ScoreMethod } from '../xtf/score.ts';
import { scoredToTraining } from '../xtf/to-training.ts';
import { onlineSlmSelector, referenceTokenLosses } from '../xtf/slm-online.ts';
import { onlineXtfIdentity, onlineXtfSelector } from '../xtf/xtf-online.ts';
import type { Attribute } from '../xtf/types.ts';
import { baselineOptionsFromFlags, finetuneConfigFromFlags, TRAINING_OPTIONS, trainingUsage, XTF_FLAG_OPTIONS, XTF_USAGE, xtfOptionsFromFlags } from './flag-blocks.ts';
import { MODEL_OPTIONS, MODEL_USAGE, REFERENCE_OPTIONS, REFERENCE_USAGE, openModel, openReference } from './model-args.ts';
import { readScoreFile } from './score-io.ts';
import { progressLine } from './progress.ts';
import { numberFlag } from './flags.ts';

const USAGE = `usage: xtf train --model M (--data D | --scores S.jsonl) --out DIR [options]

Fine-tunes with the one recipe (LoRA, or --full) on the label tokens that survive the filter. A seeded
validation split of the examples, measured on ALL their label tokens, picks the best checkpoint. Writes
DIR/adapter (PEFT format), DIR/metrics.jsonl and resumable checkpoints in DIR/checkpoints (--resume
continues a killed run).
${MODEL_USAGE}
  --data FILE          training data: JSONL / JSON / .gz with text, prompt/completion, messages, alpaca,
                       sharegpt, question/answer or input_ids/labels records
  --scores FILE        a score file from \`xtf score\`: its tokens and loss mask are used as they are
  --filter F           with --data: none (default), or score on the fly with xtf, stm, random, slm, tc;
                       slm-online chooses at every step (Rho-1: loss now − the reference's, top 60%);
                       xtf-online scores once with XTF, keeps its RI and TR flags, and re-scores KN at
                       every step from the model in training (same rules and caps)
${REFERENCE_USAGE}
  --resume             continue the run in DIR from its last checkpoint; it must be the same run (recipe,
                       data as tokenized, filter and mask), else it is refused naming what differs
  --checkpoint-every N save a resumable checkpoint every N steps (50); Ctrl-C / SIGTERM save one and stop
training:
${trainingUsage(FINETUNE_DEFAULTS)}
XTF (with --filter):
${XTF_USAGE}`;

export async function trainCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      ...MODEL_OPTIONS,
      ...TRAINING_OPTIONS,
      ...XTF_FLAG_OPTIONS,
      data: { type: 'string' },
      scores: { type: 'string' },
      filter: { type: 'string', default: 'none' },
      ...REFERENCE_OPTIONS,
      out: { type: 'string', short: 'o' },
      resume: { type: 'boolean' },
      'checkpoint-every': { type: 'string', default: '50' },
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
  const filters = [...SCORE_METHODS, 'slm-online', 'xtf-online'] as const;
  const filter = values.filter as (typeof filters)[number];
  if (!filters.includes(filter)) throw new RangeError(`--filter must be one of ${filters.join(', ')}, got '${values.filter}'`);
  // Every flag is checked before anything is loaded or written.
  const config = finetuneConfigFromFlags(values, FINETUNE_DEFAULTS);
  const xtfFlags = xtfOptionsFromFlags(values);
  const baselines = baselineOptionsFromFlags(values, config.seed);
  const checkpointEvery = numberFlag('checkpoint-every', values['checkpoint-every']);
  if (!(Number.isInteger(checkpointEvery) && checkpointEvery! >= 0)) throw new RangeError(`--checkpoint-every must be a whole number >= 0 (0: only at the end), got '${values['checkpoint-every']}'`);

  const m = await openModel(values);
  try {
    const maxLen = Math.min(xtfFlags.maxSeqLen ?? contextLength(m.model.config), contextLength(m.model.config));
    const xtf = { ...xtfFlags, maxSeqLen: maxLen };
    const records = () => readTrainRecords(values.data!, { chat: chatOptionsFor(m.tokenizer) });
    // Every example as tokens + the tokens that train (the mask) + all label tokens (for validation).
    let items: TrainingExample[];
    let selectTokens: ReturnType<typeof onlineSlmSelector> | undefined;
    let identity: Record<string, string> = {};
    const online = { seen: 0, masked: 0, by: { ri: 0, kn: 0, tr: 0 } as Record<Attribute, number> };
    if (values.scores) {
      items = [];
      for await (const ex of readScoreFile(values.scores, { vocabSize: m.model.config.vocabSize })) items.push(scoredToTraining(ex, maxLen));
    } else if (filter === 'none') {
      const report = tokenizeRecords(m.tokenizer, records(), { maxLength: maxLen });
      items = report.examples.map(unfiltered);
      if (report.truncatedExamples) console.error(`truncated ${report.truncatedExamples} examples (${report.truncatedTokens} tokens) to ${maxLen} tokens`);
      if (report.emptyLabels.count) console.error(`skipped ${report.emptyLabels.count} examples with no label token (${report.emptyLabels.firstIds.join(', ')}${report.emptyLabels.count > 5 ? ', ...' : ''})`);
    } else if (filter === 'slm-online') {
      const reference = await openReference(m.rt, values);
      if (!reference) throw new Error("--filter slm-online needs a reference model (a model or adapter trained on clean data): pass --reference or --reference-adapter");
      const progress = progressLine('reference losses', 'examples');
      try {
        const { scored, referenceLoss } = await referenceTokenLosses(reference, m.tokenizer, records(), {
          xtf,
          onProgress: (p) => progress.update(p.examplesDone, p.examples, p.tokensPerSecond, p.etaSeconds),
        });
        items = scored.map((ex) => scoredToTraining(ex, maxLen));
        selectTokens = onlineSlmSelector({ referenceLoss, keepFraction: baselines.slm.keepFraction, onToken: (_id, _at, kept) => { online.seen++; if (!kept) online.masked++; } });
      } finally {
        progress.done();
        reference.release();
      }
    } else if (filter === 'xtf-online') {
      // Scored once for the fixed RI / TR flags; every label token goes to the trainer, the selector masks.
      const progress = progressLine('scoring (xtf)', 'examples');
      const { scored, summary } = await scoreExamples(m.model, m.tokenizer, records(), {
        method: 'xtf',
        xtf,
        onProgress: (p) => progress.update(p.examplesDone, p.examples, p.tokensPerSecond, p.etaSeconds),
      });
      progress.done();
      const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
      const f = summary.fractionFlagged;
      console.error(`xtf-online: ${xtf.rules} rules over ${summary.labelTokens} label tokens: RI ${pct(f.ri)} and TR ${pct(f.tr)} fixed; KN (${pct(f.kn)} at the base model) re-scored at every step`);
      items = scored.map((ex) => scoredToTraining({ ...ex, lossMask: ex.label.map((l) => (l ? 1 : 0)) }, maxLen));
      selectTokens = onlineXtfSelector({
        scored,
        xtf,
        onToken: (_id, _at, kept, flags) => {
          online.seen++;
          if (!kept) online.masked++;
          for (const a of flags) online.by[a]++;
        },
      });
      identity = { 'xtf-online': onlineXtfIdentity({ scored, xtf }) };
    } else {
      const progress = progressLine(`scoring (${filter})`, 'examples');
      const reference = await openReference(m.rt, values);
      const { scored, summary } = await scoreExamples(m.model, m.tokenizer, records(), {
        method: filter as ScoreMethod,
        reference,
        xtf,
        baselines,
        onProgress: (p) => progress.update(p.examplesDone, p.examples, p.tokensPerSecond, p.etaSeconds),
      });
      progress.done();
      reference?.release();
      console.error(`${filter}: masked ${(100 * summary.fractionMasked).toFixed(1)}% of ${summary.labelTokens} label tokens`);
      items = scored.map((ex) => scoredToTraining(ex, maxLen));
    }
    if (items.length === 0) throw new RangeError(`${values.data ?? values.scores} has no example with a label token to train on`);
    await mkdir(values.out, { recursive: true });
    const metricsFile = join(values.out, 'metrics.jsonl');
    const checkpoints = join(values.out, 'checkpoints');
    const storage = new FolderCheckpointStorage(checkpoints);
    if (!values.resume) {
      // A fresh run: no checkpoint of an earlier run may be left for a later --resume to pick up.
      await storage.remove('train');
      await storage.remove('train.best');
      writeFileSync(metricsFile, '');
    }
    // Ctrl-C / SIGTERM: finish the step, save a checkpoint, stop (a second signal ends at once).
    const stop = new AbortController();
    const onSignal = (signal: NodeJS.Signals) => {
      if (stop.signal.aborted) process.exit(signal === 'SIGINT' ? 130 : 143);
      console.error(`\n${signal}: saving a checkpoint after this step (again to quit at once)`);
      stop.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const progress = progressLine('training', 'steps');
    let result;
    try {
      result = await finetune({
        model: m.model,
        config,
        examples: items,
        padId: m.tokenizer.eosId,
        storage,
        checkpointEvery: checkpointEvery!,
        resume: values.resume,
        signal: stop.signal,
        identity: { filter: values.scores ? `score file ${values.scores}` : filter, ...identity },
        onStart: (from) => {
          if (!values.resume) return;
          if (from === null) console.error(`no checkpoint in ${checkpoints}: starting at step 0`);
          else {
            console.error(`resumed from step ${from} (${checkpoints})`);
            // The steps after the checkpoint were lost with the killed run: metrics.jsonl keeps each step once.
            keepMetricsUpTo(metricsFile, from);
          }
        },
        onProgress: (p) => progress.update(p.step, p.totalSteps, p.tokensPerSecond, p.etaMs / 1000, `loss ${p.loss.toFixed(4)} lr ${p.lr.toExponential(2)}`),
        onMetrics: (r) => appendFileSync(metricsFile, JSON.stringify(r) + '\n'),
        selectTokens,
      });
    } finally {
      progress.done();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    if (result.reason === 'aborted') {
      console.error(`stopped at step ${result.steps}: the checkpoint in ${checkpoints} holds it; the same command with --resume continues`);
      return 130;
    }
    if (selectTokens) {
      const share = (n: number) => `${(100 * n / Math.max(1, online.seen)).toFixed(1)}%`;
      const by = filter === 'xtf-online' ? ` (RI ${share(online.by.ri)}, KN ${share(online.by.kn)}, TR ${share(online.by.tr)})` : '';
      console.error(`${filter}: masked ${share(online.masked)} of ${online.seen} label tokens seen in training${by}`);
    }
    const full = config.method === 'full';
    if (!full) await savePeftAdapter(join(values.out, 'adapter'), m.model, { overwrite: true, baseModelName: values.model });
    const best = result.best ? `best validation loss ${result.best.valLoss.toFixed(4)} at step ${result.best.step} (${result.validationIds.length} validation examples)` : 'no validation';
    console.log(`${result.steps} steps (${result.reason}), ${best}; wrote ${full ? '' : join(values.out, 'adapter') + ', '}${metricsFile}`);
  } finally {
    m.release();
  }
  return 0;
}

/** metrics.jsonl without the records of steps after `step` (and without an 'end' record). */
function keepMetricsUpTo(file: string, step: number): void {
  if (!existsSync(file)) return;
  const kept = readFileSync(file, 'utf8').split('\n').filter((line) => {
    if (line.trim() === '') return false;
    try {
      const r = JSON.parse(line) as { type: string; step: number };
      return r.type !== 'end' && r.step <= step;
    } catch {
      return false;
    }
  });
  writeFileSync(file, kept.map((l) => l + '\n').join(''));
}
