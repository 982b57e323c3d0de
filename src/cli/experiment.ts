// `xtf experiment`: the grid of filters x seeds on one model and dataset (src/experiment), with a folder
// as its store, so a stopped experiment resumes where it was.
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { exampleOf, withCompletion } from '../data/examples.ts';
import { toTrainRecords, type RecordOptions } from '../data/records.ts';
import type { TrainRecord } from '../data/records.ts';
import type { RawRecord } from '../data/files.ts';
import { splitTrainValidation, taskExamples, type TaskExample, type TaskName } from '../data/tasks.ts';
import { chatOptionsFor } from '../data/chat.ts';
import { EVAL_TASKS, type EvalTask } from '../eval/metrics.ts';
import type { LlamaModel } from '../model/llama.ts';
import type { Tokenizer } from '../model/tokenizer.ts';
import { savePeftAdapter } from '../model/peft-fs.ts';
import { BUILTIN_DATA_DEFAULTS, builtinData, withAnswerNoise } from '../experiment/builtin-data.ts';
import { BUILTIN_RECIPE, checkExperimentConfig, EXPERIMENT_DEFAULTS, type ExperimentConfig } from '../experiment/config.ts';
import { DEFAULT_FILTERS, FILTERS, NEEDS_REFERENCE, OPT_IN_FILTERS, parseFilters, type FilterName } from '../experiment/filters.ts';
import { experimentMarkdown } from '../experiment/report.ts';
import { examplesData, type ExperimentData, type ExperimentEvent, type ExperimentStore } from '../experiment/context.ts';
import { runExperiment } from '../experiment/runner.ts';
import { NOISE_KINDS } from '../xtf/noise.ts';
import { defaultSource, readRecords } from './defaults.ts';
import { baselineOptionsFromFlags, finetuneConfigFromFlags, TRAINING_OPTIONS, trainingUsage, XTF_FLAG_OPTIONS, XTF_USAGE, xtfOptionsFromFlags } from './flag-blocks.ts';
import { numberFlag } from './flags.ts';
import { MODEL_OPTIONS, MODEL_USAGE, openModel } from './model-args.ts';
import { progressLine } from './progress.ts';
import { readTextIfExists, writeFileAtomic } from './score-io.ts';

const TASKS: readonly TaskName[] = ['gsm8k', 'pubmedqa', 'medqa', 'mbpp'];
const D = EXPERIMENT_DEFAULTS, B = BUILTIN_DATA_DEFAULTS;

const USAGE = `usage: xtf experiment [--model M] [--data FILE [--task T] [--held-out FILE]] [options]

Compares filters on one model and dataset: for each seed and each filter, a fresh LoRA adapter trained
with the one fine-tuning recipe — the same initialisation, data order, steps and validation split, only
the loss mask differing — then evaluated on the same held-out set, which chooses nothing (a validation
split of the training examples picks each run's checkpoint). Writes DIR/results.md, DIR/results.json,
DIR/index.html (table and charts), DIR/scores.jsonl (XTF's scores), DIR/runs/*.json and DIR/adapters/*
(PEFT). Run it again to resume.

Without --data: the built-in experiment — generated arithmetic word problems with worked answers, noise
injected into the training answers only (filler, off-domain words, duplicates, story formulae,
formatting debris), clean held-out and reference sets; the model defaults to stories260K, and the recipe
is the built-in one (lr ${BUILTIN_RECIPE.lr}, ${BUILTIN_RECIPE.epochs} epochs).
${MODEL_USAGE}
  --data FILE            training data in any format xtf train reads (JSONL/JSON/.gz: text, prompt/completion,
                         messages, alpaca, sharegpt, question/answer, input_ids/labels)
  --task T               ${TASKS.join('|')}: read --data and --held-out as that task's files and also
                         report the answer accuracy (gsm8k, pubmedqa, medqa); without it: loss and perplexity
  --held-out FILE        the reported set, any format (default: a seeded split of --data)
  --examples N           training examples (built-in ${B.train}; with --data: all)
  --held-out-examples N  (built-in ${B.heldOut}; with --data: 64)   --reference-examples N (built-in ${B.reference}; with --data: 64, taken from --data)
  --noise-rate R         injected share of a noisy answer's characters (built-in ${B.noiseRate}; with --data: 0 = none)
  --filters LIST         ${FILTERS.join(',')} or all (default: all that apply, except the opt-in ${OPT_IN_FILTERS.join(', ')})
  --seeds LIST|N         seeds, e.g. 0,1,2 or a count, 3 (0 alone: the seed 0) (default ${D.seeds.join(',')})
  --reference-epochs E   epochs of the reference model of SLM / Token Cleaning (${D.referenceEpochs})
  --accuracy-examples N  held-out questions answered by generation (${D.accuracyExamples}; 0 = loss only)
  --max-new-tokens N     (${D.maxNewTokens})
  --out DIR              (xtf-experiment)
training (the recipe's defaults; without --data, and in xtf pipeline, the built-in recipe: lr ${BUILTIN_RECIPE.lr},
${BUILTIN_RECIPE.epochs} epochs, ${BUILTIN_RECIPE.warmupSteps} warm-up steps, validation every ${BUILTIN_RECIPE.evalEvery} steps):
${trainingUsage(D.finetune)}
XTF:
${XTF_USAGE}`;

export const EXPERIMENT_OPTIONS = {
  ...MODEL_OPTIONS,
  ...TRAINING_OPTIONS,
  ...XTF_FLAG_OPTIONS,
  data: { type: 'string' },
  task: { type: 'string' },
  'held-out': { type: 'string' },
  examples: { type: 'string' },
  'held-out-examples': { type: 'string' },
  'reference-examples': { type: 'string' },
  'noise-rate': { type: 'string' },
  filters: { type: 'string' },
  seeds: { type: 'string' },
  'reference-epochs': { type: 'string' },
  'accuracy-examples': { type: 'string' },
  'max-new-tokens': { type: 'string' },
  out: { type: 'string', default: 'xtf-experiment' },
} as const;

export async function experimentCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: EXPERIMENT_OPTIONS });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const plan = experimentPlan(values);
  return runPlan(plan, values.out!, values);
}

type Values = ReturnType<typeof parseArgs<{ args: string[]; options: typeof EXPERIMENT_OPTIONS }>>['values'];

export interface ExperimentPlan {
  config: ExperimentConfig;
  /** Reads the data once the model's tokenizer is known (chat templates need it). */
  data: (tokenizer: Tokenizer) => Promise<ExperimentData>;
}

/** Every flag checked and the config built before anything is loaded or written. */
export function experimentPlan(values: Values, preset: { filters?: FilterName[]; seeds?: number[]; data?: string; heldOut?: string; task?: TaskName } = {}): ExperimentPlan {
  const num = (name: keyof Values, fallback: number): number => numberFlag(name, values[name] as string | undefined) ?? fallback;
  const task = (values.task ?? preset.task) as TaskName | undefined;
  const dataPath = values.data ?? preset.data;
  const heldOutPath = values['held-out'] ?? preset.heldOut;
  if (task !== undefined && !TASKS.includes(task)) throw new RangeError(`--task must be one of ${TASKS.join(', ')}, got '${task}'`);
  if (task !== undefined && !dataPath) throw new RangeError("--task needs --data (the task's training file)");
  if (heldOutPath && !dataPath) throw new RangeError('--held-out needs --data (the built-in experiment makes its own held-out set)');
  if (values.seed !== undefined) throw new RangeError('--seed does not apply here: every run takes its seed from --seeds (e.g. --seeds 0,1,2)');
  const builtin = !dataPath;
  const noiseRate = num('noise-rate', builtin ? B.noiseRate : 0);
  const seeds = parseSeeds(values.seeds) ?? preset.seeds ?? D.seeds;
  const finetune = finetuneConfigFromFlags(values, builtin || preset.data ? BUILTIN_RECIPE : D.finetune);
  const xtf = xtfOptionsFromFlags(values, D.xtf);
  const baselines = baselineOptionsFromFlags(values, 0, D.baselines);
  const explicit = values.filters ? parseFilters(values.filters) : preset.filters;
  // A data file's reference examples are carved from its training pool only when a filter needs the
  // reference model, by default at most half the pool. (The built-in data always draws its reference set,
  // so the training set is the same whichever filters run.)
  const needsReference = explicit === undefined || explicit.some((f) => NEEDS_REFERENCE.includes(f));
  const referenceAsked = values['reference-examples'] !== undefined;
  const counts = {
    examples: num('examples', builtin ? B.train : Infinity),
    heldOut: num('held-out-examples', builtin ? B.heldOut : 64),
    reference: builtin ? num('reference-examples', B.reference) : needsReference ? num('reference-examples', 64) : 0,
    referenceCap: builtin || referenceAsked ? 1 : 0.5,
  };
  const modelPath = values.model ?? defaultSource('model');
  const evalTask: EvalTask | null = builtin ? 'gsm8k' : task && (EVAL_TASKS as readonly string[]).includes(task) ? (task as EvalTask) : null;
  const describe = builtin
    ? `built-in word problems (noise rate ${noiseRate})`
    : `${task ? `${task} ` : ''}${dataPath}${heldOutPath ? `, held out ${heldOutPath}` : ''}${noiseRate > 0 ? `, noise rate ${noiseRate}` : ''}`;
  const config = checkExperimentConfig({
    ...D,
    model: modelPath,
    data: describe,
    task: evalTask,
    filters: D.filters, // chosen below, once the data says which apply
    seeds,
    finetune,
    referenceEpochs: num('reference-epochs', D.referenceEpochs),
    accuracyExamples: evalTask ? num('accuracy-examples', D.accuracyExamples) : 0,
    maxNewTokens: num('max-new-tokens', D.maxNewTokens),
    xtf,
    baselines,
  } satisfies ExperimentConfig);
  return {
    config,
    data: async (tokenizer) => {
      const fetching = { refresh: values.refresh, offline: values.offline };
      const files = builtin ? null : { data: await readRecords(dataPath!, fetching), heldOut: heldOutPath ? await readRecords(heldOutPath, fetching) : null };
      const data = files === null
        ? builtinExperimentData(counts, noiseRate)
        : task
          ? taskData(files, dataPath!, task, heldOutPath, counts, noiseRate)
          : recordData(files, dataPath!, heldOutPath, counts, noiseRate, { chat: chatOptionsFor(tokenizer) });
      // Default filters: all that apply (the oracle needs known noise, SLM / TC a reference set), never the opt-in ones.
      config.filters = explicit ?? DEFAULT_FILTERS.filter((f) => (f !== 'oracle' || data.noise !== null) && (!NEEDS_REFERENCE.includes(f) || data.reference.length > 0));
      config.accuracyExamples = Math.min(config.accuracyExamples, data.heldOutTasks.length);
      return checkExperimentConfig(config) && data;
    },
  };
}

/** Loads the model, reads the data and runs the grid with a folder as the store. */
export async function runPlan(plan: ExperimentPlan, outDir: string, values: { model?: string; tokenizer?: string; adapter?: string }): Promise<number> {
  const out = resolve(outDir);
  const m = await openModel({ ...values, model: plan.config.model });
  try {
    const data = await plan.data(m.tokenizer);
    await mkdir(out, { recursive: true });
    const { config } = plan;
    console.error(`experiment: ${config.filters.length} filters x ${config.seeds.length} seeds on ${m.rt.report.summary}; ${data.train.length} training, ${data.heldOut.length} held-out, ${data.reference.length} reference examples -> ${out}`);
    const progress = new ExperimentProgress();
    const summary = await runExperiment(config, data, {
      model: m.model,
      tokenizer: m.tokenizer,
      newModel: m.newModel,
      store: folderStore(out, config.model),
      device: m.rt.report.summary,
      onEvent: (e) => progress.on(e),
    });
    console.log(`\n${experimentMarkdown(summary)}\nreport: ${join(out, 'index.html')}`);
  } finally {
    m.release();
  }
  return 0;
}

interface Counts { examples: number; heldOut: number; reference: number; /** share of the pool the reference may take */ referenceCap: number }

function builtinExperimentData(counts: Counts, noiseRate: number): ExperimentData {
  const d = builtinData({ train: counts.examples, heldOut: counts.heldOut, reference: counts.reference, noiseRate });
  return examplesData(d.train, d.reference, d.heldOut);
}

/** Held-out from its own file or a seeded split; reference examples carved from the training pool (assumed clean). */
function carve<T extends { id: string }>(all: T[], heldOutFile: T[] | null, counts: Counts): { train: T[]; reference: T[]; heldOut: T[] } {
  let pool = all, heldOut: T[];
  if (heldOutFile) heldOut = heldOutFile.slice(0, counts.heldOut);
  else {
    const split = splitTrainValidation(all, { validationFraction: Math.min(1, counts.heldOut / Math.max(1, all.length)), seed: 0 });
    pool = split.train;
    heldOut = split.validation;
  }
  const reference = pool.slice(pool.length - Math.min(counts.reference, Math.floor(pool.length * counts.referenceCap)));
  const rest = pool.slice(0, pool.length - reference.length);
  return { train: rest.slice(0, counts.examples), reference, heldOut };
}

/** A task's files: its prompts, and the answers checked for accuracy. */
type Files = { data: RawRecord[]; heldOut: RawRecord[] | null };

function taskData(files: Files, path: string, task: TaskName, heldOutPath: string | undefined, counts: Counts, noiseRate: number): ExperimentData {
  const all = taskExamples(task, files.data, path);
  const heldOutFile = files.heldOut ? taskExamples(task, files.heldOut, heldOutPath!) : null;
  const { train, reference, heldOut } = carve<TaskExample>(all, heldOutFile, counts);
  return examplesData(noiseRate > 0 ? withAnswerNoise(train, { rate: noiseRate, groups: [...NOISE_KINDS, 'clean'], seed: 0 }) : train, reference, heldOut);
}

/** Any data file (no task): records as xtf train reads them; loss and perplexity only. */
function recordData(files: Files, path: string, heldOutPath: string | undefined, counts: Counts, noiseRate: number, options: RecordOptions): ExperimentData {
  const all = toTrainRecords(files.data, path, options);
  const heldOutFile = files.heldOut ? toTrainRecords(files.heldOut, heldOutPath!, options) : null;
  const { train, reference, heldOut } = carve<TrainRecord>(all, heldOutFile, counts);
  if (noiseRate <= 0) return { train, noise: null, reference, heldOut, heldOutTasks: [] };
  const examples = train.map((r) => {
    const e = exampleOf(r);
    if (typeof e === 'string') throw new RangeError(`--noise-rate: record ${r.id} of ${path} ${e}; noise goes into one completion per record`);
    return e;
  });
  const noisy = withAnswerNoise(examples, { rate: noiseRate, groups: [...NOISE_KINDS, 'clean'], seed: 0 });
  return { train: train.map((r, i) => withCompletion(r, noisy[i].completion)), noise: noisy.map((e) => ({ completion: e.completion, noise: e.noise })), reference, heldOut, heldOutTasks: [] };
}

function parseSeeds(text: string | undefined): number[] | null {
  if (text === undefined) return null;
  // A lone number is a count (3 -> 0,1,2), except 0, which can only mean the seed 0.
  if (/^\d+$/.test(text.trim())) return Number(text) === 0 ? [0] : Array.from({ length: Number(text) }, (_, i) => i);
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
