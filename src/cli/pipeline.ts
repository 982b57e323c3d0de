// The main job (`npm start`): score a slice of a real dataset with XTF, fine-tune the same model twice —
// once on every label token, once on the tokens XTF keeps — evaluate both on the same held-out set, and
// write an HTML report. Reads ../shared when it is there, else the public addresses.
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { batchOf, makeBatches } from '../data/batch.ts';
import { parseExamples } from '../data/examples.ts';
import { evaluateLoss } from '../train/step.ts';
import { shuffledSteps, train, type MetricRecord } from '../train/trainer.ts';
import { explainHtml } from '../report/xtf-explain.ts';
import { scoreExamples } from '../xtf/score.ts';
import { formatSummary } from '../xtf/summary.ts';
import { scoredToTraining } from '../xtf/to-training.ts';
import { labelRecord, tokenizeExample } from '../xtf/tokenize.ts';
import { LORA_DEFAULTS } from '../model/lora.ts';
import { runReportHtml, type RunCurve } from '../report/run-report.ts';
import { defaultSource, readText } from './defaults.ts';
import { numberFlag } from './flags.ts';
import { openModel } from './model-args.ts';
import { progressLine } from './progress.ts';
import { AtomicLineWriter, writeFileAtomic } from './score-io.ts';

const USAGE = `usage: xtf pipeline [--model M] [--data D] [--held-out H] [--examples N] [--held-out-examples N]
                    [--epochs E] [--batch-size B] [--lr LR] [--lora-rank R] [--seed S] [--out DIR]

Scores the training slice with XTF, fine-tunes LoRA twice (all label tokens / XTF-kept tokens; same
seed, order and steps), evaluates both on the same held-out set and writes DIR/index.html (comparison,
loss curves), DIR/xtf-scores.html (token heatmap), DIR/scores.jsonl and DIR/metrics-*.jsonl.
Defaults: stories260K and GSM8K from ../shared (else their public addresses), 128 + 32 examples.`;

export async function pipelineCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: 'string' },
      data: { type: 'string' },
      'held-out': { type: 'string' },
      examples: { type: 'string', default: '128' },
      'held-out-examples': { type: 'string', default: '32' },
      epochs: { type: 'string', default: '2' },
      'batch-size': { type: 'string', default: '8' },
      lr: { type: 'string', default: '3e-3' },
      'lora-rank': { type: 'string', default: '8' },
      seed: { type: 'string', default: '0' },
      out: { type: 'string', default: 'xtf-run' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  // Every numeric flag has a default, so each is present.
  const n = (k: 'examples' | 'held-out-examples' | 'epochs' | 'batch-size' | 'lr' | 'lora-rank' | 'seed') => numberFlag(k, values[k])!;
  const modelPath = values.model ?? defaultSource('model');
  const dataPath = values.data ?? defaultSource('gsm8kTrain');
  const heldOutPath = values['held-out'] ?? defaultSource('gsm8kTest');
  const out = values.out!;
  const seed = n('seed');
  const batchSize = n('batch-size');
  const t0 = performance.now();

  const examples = parseExamples(await readText(dataPath), dataPath, n('examples'));
  const heldOutExamples = parseExamples(await readText(heldOutPath), heldOutPath, n('held-out-examples'));
  const m = await openModel({ model: modelPath });
  try {
    const { model, tokenizer } = m;
    const maxLen = model.config.maxSeqLen;
    console.log(`model ${modelPath} (${model.config.architecture}, dim ${model.config.dim}, ${model.config.nLayers} layers) on ${m.rt.report.summary}`);
    console.log(`data: ${examples.length} training examples from ${dataPath}, ${heldOutExamples.length} held-out from ${heldOutPath}`);
    await mkdir(out, { recursive: true });

    // 1. XTF scores and mask.
    const scoring = progressLine('scoring', 'examples');
    const { scored, summary } = await scoreExamples(model, tokenizer, examples, {
      onProgress: (p) => scoring.update(p.examplesDone, p.examples, p.tokensPerSecond, p.etaSeconds),
    });
    scoring.done();
    console.log(formatSummary(summary));
    const scoreFile = new AtomicLineWriter(join(out, 'scores.jsonl'));
    for (const ex of scored) await scoreFile.write(JSON.stringify(ex));
    await scoreFile.commit();
    await writeFileAtomic(join(out, 'scores.summary.json'), JSON.stringify(summary, null, 2) + '\n');
    await writeFileAtomic(join(out, 'xtf-scores.html'), explainHtml(scored, summary, { examples: 12, title: `XTF token scores: ${examples.length} examples of ${dataPath.split('/').slice(-2).join('/')}` }));

    // 2. The same held-out set for both runs: every label token counts.
    const heldOutRecords = heldOutExamples.map((e) => labelRecord(tokenizeExample(tokenizer, e, maxLen)));
    const padId = tokenizer.eosId;
    const validationBatches = makeBatches(heldOutRecords, { batchSize, padId });
    const items = scored.map((ex) => scoredToTraining(ex, maxLen));

    // 3. Two runs that differ only in the loss mask.
    const lora = { ...LORA_DEFAULTS, rank: n('lora-rank'), alpha: 2 * n('lora-rank') };
    const runs: RunCurve[] = [];
    let heldOutBefore = NaN;
    for (const [name, colour, pick] of [
      ['normal (all label tokens)', '#64748b', (t: (typeof items)[number]) => t.labels],
      ['XTF (noisy tokens masked)', '#2563eb', (t: (typeof items)[number]) => t.train],
    ] as const) {
      model.addLora(lora, seed); // fresh adapter, same initialisation for both runs
      if (Number.isNaN(heldOutBefore)) heldOutBefore = await evaluateLoss(model, validationBatches);
      const records = items.map(pick);
      const trainedTokens = records.reduce((s, r) => s + r.labelMask.filter((m, i) => m && i > 0).length, 0);
      const metrics: MetricRecord[] = [];
      const progress = progressLine(`training ${name}`, 'steps');
      const started = performance.now();
      const result = await train({
        model,
        set: 'lora',
        trainBatches: (_epoch, random) => shuffledSteps(records, random, { microBatchSize: batchSize, keepLast: true }, (rs) => batchOf(rs, padId)),
        validationBatches,
        options: { epochs: n('epochs'), lr: n('lr'), seed, evalEvery: Math.max(1, Math.ceil(records.length / batchSize / 2)), warmupSteps: 2 },
        onProgress: (p) => progress.update(p.step, p.totalSteps, p.tokensPerSecond, p.etaMs / 1000, `loss ${p.loss.toFixed(3)}`),
        onMetrics: (r) => metrics.push(r),
      });
      progress.done();
      const seconds = (performance.now() - started) / 1000;
      const metricsFile = new AtomicLineWriter(join(out, `metrics-${name.startsWith('XTF') ? 'xtf' : 'normal'}.jsonl`));
      for (const r of metrics) await metricsFile.write(JSON.stringify(r));
      await metricsFile.commit();
      const trainRecords = metrics.filter((r) => r.type === 'train');
      runs.push({
        name,
        colour,
        train: trainRecords.map((r) => [r.step, r.loss]),
        validation: [[0, heldOutBefore], ...metrics.filter((r) => r.type === 'eval').map((r): [number, number] => [r.step, r.valLoss])],
        heldOutLoss: await evaluateLoss(model, validationBatches),
        heldOutBefore,
        trainedTokens: trainedTokens * result.epoch,
        maskedFraction: name.startsWith('XTF') ? summary.fractionMasked : 0,
        seconds,
        tokensPerSecond: trainRecords.at(-1)?.tokensPerSecond ?? 0,
      });
      model.removeLora();
    }

    // 4. The report.
    const report = join(out, 'index.html');
    await writeFileAtomic(report, runReportHtml({
      title: 'XTF vs normal fine-tuning',
      model: modelPath,
      data: `${examples.length} examples of ${dataPath}`,
      heldOut: `${heldOutExamples.length} examples of ${heldOutPath}`,
      runs,
      summary,
      heatmapHref: 'xtf-scores.html',
      settings: { 'LoRA': `rank ${lora.rank}, alpha ${lora.alpha}, ${lora.targets.join(', ')}`, epochs: n('epochs'), 'batch size': batchSize, 'learning rate': n('lr'), seed, device: m.rt.report.summary },
    }));
    console.log('\nrun                          held-out loss before   after    change');
    for (const r of runs) console.log(`${r.name.padEnd(28)} ${r.heldOutBefore.toFixed(4).padStart(13)} ${r.heldOutLoss.toFixed(4).padStart(8)} ${(r.heldOutLoss - r.heldOutBefore).toFixed(4).padStart(9)}`);
    console.log(`\nreport: ${resolve(report)} (${((performance.now() - t0) / 1000).toFixed(0)} s in all)`);
  } finally {
    m.release();
  }
  return 0;
}
