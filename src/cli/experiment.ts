// `xtf experiment`: the grid of filters x seeds on one model and dataset (src/experiment), with a folder
// as its store, so a stopped experiment resumes where it was.
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readRecordsFile } from '../data/files-fs.ts';
import { splitTrainValidation, taskExamples, type TaskExample, type TaskName } from '../data/tasks.ts';
import { EVAL_TASKS, type EvalTask } from '../eval/metrics.ts';
import type { LlamaModel } from '../model/llama.ts';
import { savePeftAdapter } from '../model/peft-fs.ts';
import { BUILTIN_DATA_DEFAULTS, builtinData, withAnswerNoise } from '../experiment/builtin-data.ts';
import { checkExperimentConfig, EXPERIMENT_DEFAULTS, type ExperimentConfig } from '../experiment/config.ts';
import { FILTERS, NEEDS_REFERENCE, parseFilters } from '../experiment/filters.ts';
import { experimentMarkdown } from '../experiment/report.ts';
import { runExperiment, type ExperimentData, type ExperimentEvent, type ExperimentStore } from '../experiment/runner.ts';
import { NOISE_KINDS } from '../xtf/noise.ts';
import { defaultSource } from './defaults.ts';
import { numberFlag } from './flags.ts';
import { MODEL_OPTIONS, MODEL_USAGE, openModel } from './model-args.ts';
import { progressLine } from './progress.ts';
import { readTextIfExists, writeFileAtomic } from './score-io.ts';

const TASKS: readonly TaskName[] = ['gsm8k', 'pubmedqa', 'medqa', 'mbpp'];
const D = EXPERIMENT_DEFAULTS, B = BUILTIN_DATA_DEFAULTS;

const USAGE = `usage: xtf experiment [--model M] [--data FILE --task T [--held-out FILE]] [options]

Compares filters on one model and dataset: for each seed and each filter, a fresh LoRA adapter trained
with the same initialisation, data order, steps and hyper-parameters (only the loss mask differs), then
evaluated on the same clean held-out set. Writes DIR/results.md, DIR/results.json, DIR/index.html
(table and charts), DIR/runs/*.json and DIR/adapters/* (PEFT). Run it again to resume.

Without --data: the built-in experiment — generated arithmetic word problems with worked answers, noise
injected into the training answers only (filler, off-domain words, duplicates, story formulae,
formatting debris), clean held-out and reference sets; the model defaults to stories260K.
${MODEL_USAGE}
  --data FILE            training data of a task (JSONL/JSON/.gz); --task gsm8k|pubmedqa|medqa|mbpp
  --held-out FILE        the task's held-out file (default: a seeded split of --data)
  --examples N           training examples (built-in ${B.train}; with --data: all)
  --held-out-examples N  (built-in ${B.heldOut}; with --data: 64)   --reference-examples N (built-in ${B.reference}; with --data: 64, taken from --data)
  --noise-rate R         injected share of a noisy answer's characters (built-in ${B.noiseRate}; with --data: 0 = none)
  --filters LIST         ${FILTERS.join(',')} or all (default: all that apply)
  --seeds LIST|N         seeds, e.g. 0,1,2 or 3 (default ${D.seeds.join(',')})
  --epochs E (${D.training.epochs})  --batch-size B (${D.training.batchSize})  --grad-accum G (1)  --lr LR (${D.training.lr})  --warmup N (${D.training.warmupSteps})
  --lora-rank R (${D.training.loraRank})  --lora-alpha A (${D.training.loraAlpha})  --eval-points N (${D.training.evalPoints})  --reference-epochs E (${D.referenceEpochs})
  --accuracy-examples N  held-out questions answered by generation (${D.accuracyExamples}; 0 = loss only)
  --max-new-tokens N     (${D.maxNewTokens})
  --out DIR              (xtf-experiment)`;

export async function experimentCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      ...MODEL_OPTIONS,
      data: { type: 'string' },
      task: { type: 'string' },
      'held-out': { type: 'string' },
      examples: { type: 'string' },
      'held-out-examples': { type: 'string' },
      'reference-examples': { type: 'string' },
      'noise-rate': { type: 'string' },
      filters: { type: 'string' },
      seeds: { type: 'string' },
      epochs: { type: 'string' },
      'batch-size': { type: 'string' },
      'grad-accum': { type: 'string' },
      lr: { type: 'string' },
      warmup: { type: 'string' },
      'lora-rank': { type: 'string' },
      'lora-alpha': { type: 'string' },
      'eval-points': { type: 'string' },
      'reference-epochs': { type: 'string' },
      'accuracy-examples': { type: 'string' },
      'max-new-tokens': { type: 'string' },
      out: { type: 'string', default: 'xtf-experiment' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const num = (name: keyof typeof values, fallback: number): number => numberFlag(name, values[name]) ?? fallback;
  if (values.data && !values.task) throw new RangeError(`--data needs --task (${TASKS.join(', ')}): it says how to read the records and score the answers`);
  if (values.task && !TASKS.includes(values.task as TaskName)) throw new RangeError(`--task must be one of ${TASKS.join(', ')}, got '${values.task}'`);
  if (values.task && !values.data) throw new RangeError('--task needs --data (the task\'s training file)');

  const data = values.data ? taskData(values.data, values.task as TaskName, values['held-out'], num) : builtin(num);
  const hasNoise = data.train.some((e) => (e.noise?.length ?? 0) > 0);
  const seeds = parseSeeds(values.seeds) ?? D.seeds;
  // Default filters: all that apply (the oracle needs known noise, SLM / TC a reference set).
  const filters = values.filters
    ? parseFilters(values.filters)
    : FILTERS.filter((f) => (f !== 'oracle' || hasNoise) && (!NEEDS_REFERENCE.includes(f) || data.reference.length > 0));
  const modelPath = values.model ?? defaultSource('model');
  const task: EvalTask | null = values.data ? ((EVAL_TASKS as readonly string[]).includes(values.task!) ? (values.task as EvalTask) : null) : 'gsm8k';
  const config = checkExperimentConfig({
    ...D,
    model: modelPath,
    data: values.data
      ? `${values.task} ${values.data}${values['held-out'] ? `, held out ${values['held-out']}` : ''}${hasNoise ? `, noise rate ${num('noise-rate', 0)}` : ''}`
      : `built-in word problems (noise rate ${num('noise-rate', B.noiseRate)})`,
    task,
    filters,
    seeds,
    training: {
      epochs: num('epochs', D.training.epochs),
      batchSize: num('batch-size', D.training.batchSize),
      // Only present when given, so experiments started without it resume unchanged.
      ...(values['grad-accum'] !== undefined ? { gradientAccumulation: num('grad-accum', 1) } : {}),
      lr: num('lr', D.training.lr),
      warmupSteps: num('warmup', D.training.warmupSteps),
      loraRank: num('lora-rank', D.training.loraRank),
      loraAlpha: num('lora-alpha', D.training.loraAlpha),
      evalPoints: num('eval-points', D.training.evalPoints),
    },
    referenceEpochs: num('reference-epochs', D.referenceEpochs),
    accuracyExamples: Math.min(num('accuracy-examples', D.accuracyExamples), data.heldOut.length),
    maxNewTokens: num('max-new-tokens', D.maxNewTokens),
  } satisfies ExperimentConfig);

  const out = resolve(values.out!);
  await mkdir(out, { recursive: true });
  const m = await openModel({ ...values, model: modelPath });
  try {
    console.error(`experiment: ${filters.length} filters x ${seeds.length} seeds on ${m.rt.report.summary}; ${data.train.length} training, ${data.heldOut.length} held-out, ${data.reference.length} reference examples -> ${out}`);
    const progress = new ExperimentProgress();
    const summary = await runExperiment(config, data, {
      model: m.model,
      tokenizer: m.tokenizer,
      newModel: m.newModel,
      store: folderStore(out, modelPath),
      device: m.rt.report.summary,
      onEvent: (e) => progress.on(e),
    });
    console.log(`\n${experimentMarkdown(summary)}\nreport: ${join(out, 'index.html')}`);
  } finally {
    m.release();
  }
  return 0;
}

type Num = (name: 'examples' | 'held-out-examples' | 'reference-examples' | 'noise-rate', fallback: number) => number;

function builtin(num: Num): ExperimentData {
  const d = builtinData({ train: num('examples', B.train), heldOut: num('held-out-examples', B.heldOut), reference: num('reference-examples', B.reference), noiseRate: num('noise-rate', B.noiseRate) });
  return { train: d.train, reference: d.reference, heldOut: d.heldOut };
}

/** A task file: held-out from --held-out or a seeded split, reference examples carved from the training
 *  file (assumed clean), optional injected noise in the training answers. */
function taskData(path: string, task: TaskName, heldOutPath: string | undefined, num: Num): ExperimentData {
  const all = taskExamples(task, readRecordsFile(path), path);
  const heldOutCount = num('held-out-examples', 64);
  let pool: TaskExample[] = all, heldOut: TaskExample[];
  if (heldOutPath) heldOut = taskExamples(task, readRecordsFile(heldOutPath), heldOutPath).slice(0, heldOutCount);
  else {
    const split = splitTrainValidation(all, { validationFraction: Math.min(1, heldOutCount / all.length), seed: 0 });
    pool = split.train;
    heldOut = split.validation;
  }
  const referenceCount = num('reference-examples', 64);
  const reference = pool.slice(pool.length - Math.min(referenceCount, pool.length));
  const rest = pool.slice(0, pool.length - reference.length);
  const train = rest.slice(0, num('examples', rest.length));
  const rate = num('noise-rate', 0);
  return { train: rate > 0 ? withAnswerNoise(train, { rate, groups: [...NOISE_KINDS, 'clean'], seed: 0 }) : train, reference, heldOut };
}

function parseSeeds(text: string | undefined): number[] | null {
  if (text === undefined) return null;
  if (/^\d+$/.test(text.trim())) return Array.from({ length: Number(text) }, (_, i) => i);
  const seeds = text.split(',').map((s) => Number(s.trim()));
  if (seeds.some((s) => !Number.isInteger(s) || s < 0)) throw new RangeError(`--seeds must be a count (3) or a list of whole numbers (0,1,2), got '${text}'`);
  return seeds;
}

function folderStore(dir: string, baseModelName: string): ExperimentStore {
  return {
    read: (name) => readTextIfExists(join(dir, name)),
    async write(name, text) {
      await mkdir(dirname(join(dir, name)), { recursive: true });
      await writeFileAtomic(join(dir, name), text);
    },
    async saveAdapter(name: string, model: LlamaModel) {
      await savePeftAdapter(join(dir, name), model, { overwrite: true, baseModelName });
    },
  };
}

/** The experiment's progress on stderr: one line per phase and run, with the grid's ETA. */
class ExperimentProgress {
  private line: ReturnType<typeof progressLine> | null = null;
  private label = '';

  on(e: ExperimentEvent): void {
    switch (e.type) {
      case 'phase':
        this.close();
        console.error(e.text);
        break;
      case 'score-progress':
        this.open(`scoring (${e.what})`, 'examples');
        this.line!.update(e.progress.examplesDone, e.progress.examples, e.progress.tokensPerSecond, e.progress.etaSeconds);
        break;
      case 'train-progress':
        this.open(`run ${e.index}/${e.runs} ${e.run}`, 'steps');
        this.line!.update(e.step, e.totalSteps, e.tokensPerSecond, e.etaSeconds, `loss ${e.loss.toFixed(3)}`);
        break;
      case 'eval-progress':
        if (e.done === 1 || e.done === e.total) {
          this.close();
          if (e.done === 1) console.error(`${e.run}: answering ${e.total} held-out questions`);
        }
        break;
      case 'run-skipped':
        console.error(`${e.key}: done in an earlier session`);
        break;
      case 'run-done': {
        this.close();
        const r = e.result;
        const eta = e.remainingSeconds > 0 ? `; about ${Math.ceil(e.remainingSeconds / 60)} min left` : '';
        const shared = r.sameMaskAs ? ` (the same mask as ${r.sameMaskAs}: its run)` : '';
        console.error(`run ${e.index}/${e.runs} ${r.filter} seed ${r.seed}: held-out loss ${r.heldOutLoss.toFixed(4)}${r.accuracy !== null ? `, accuracy ${(100 * r.accuracy).toFixed(1)}%` : ''}, masked ${(100 * r.maskedFraction).toFixed(1)}%, ${r.seconds.toFixed(0)} s${shared}${eta}`);
        break;
      }
    }
  }

  private open(label: string, unit: string) {
    if (this.line && this.label === label) return;
    this.close();
    this.label = label;
    this.line = progressLine(label, unit);
  }

  private close() {
    this.line?.done();
    this.line = null;
    this.label = '';
  }
}
