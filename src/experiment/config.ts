// One home for an experiment's settings: what is compared (filters x seeds) and everything that must be
// the same for every run (training, reference model, evaluation, XTF and baseline options). A
// half-finished experiment resumes only with the same fixed settings; filters and seeds may grow.
import type { EvalTask } from '../eval/metrics.ts';
import { checkFinetuneConfig, FINETUNE_DEFAULTS, finetuneConfig, type FinetuneConfig } from '../train/finetune.ts';
import { BASELINE_DEFAULTS, XTF_DEFAULTS, type BaselineOptions, type XtfOptions } from '../xtf/options.ts';
import { DEFAULT_FILTERS, type FilterName } from './filters.ts';

export interface ExperimentConfig {
  /** What the model and the data are (paths or a description), for the report and the resume check. */
  model: string;
  data: string;
  /** The accuracy metric's task, or null when the data has no checkable answer (loss and perplexity only). */
  task: EvalTask | null;
  filters: FilterName[];
  seeds: number[];
  /** The one fine-tuning recipe (src/train/finetune.ts) every run follows; its seed is each run's seed. */
  finetune: FinetuneConfig;
  /** The reference model of SLM and Token Cleaning: the same recipe, trained this many epochs on clean reference data. */
  referenceEpochs: number;
  /** Held-out examples whose answers are generated for the accuracy (the loss uses every held-out example). */
  accuracyExamples: number;
  maxNewTokens: number;
  xtf: XtfOptions;
  baselines: BaselineOptions;
}

export const EXPERIMENT_DEFAULTS: ExperimentConfig = {
  model: '',
  data: '',
  task: null,
  filters: [...DEFAULT_FILTERS],
  seeds: [0, 1, 2],
  finetune: FINETUNE_DEFAULTS,
  referenceEpochs: 4,
  accuracyExamples: 32,
  maxNewTokens: 96,
  xtf: XTF_DEFAULTS,
  baselines: BASELINE_DEFAULTS,
};

/**
 * The recipe of the built-in runs (`xtf experiment` without --data, and `npm start`), which fine-tune the
 * 260K-parameter stories260K for about 60 steps: at the defaults' lr (2e-4, right for 0.1-8B models) such a
 * run barely moves, so these runs take a larger one. One home: both commands and the README read it.
 */
export const BUILTIN_RECIPE: FinetuneConfig = finetuneConfig({ epochs: 2, lr: 3e-3, warmupSteps: 2, evalEvery: 16 });

/** Checks the settings a user can give; throws a RangeError naming the field. */
export function checkExperimentConfig(c: ExperimentConfig): ExperimentConfig {
  const bad = (field: string, value: unknown, rule: string): never => {
    throw new RangeError(`experiment option ${field} must be ${rule}, got ${JSON.stringify(value)}`);
  };
  checkFinetuneConfig(c.finetune);
  if (c.finetune.method !== 'lora') bad('finetune.method', c.finetune.method, "'lora' (every run of a seed starts from the same adapter initialisation)");
  const positiveInt = (field: string, v: number) => (Number.isInteger(v) && v >= 1) || bad(field, v, 'a positive whole number');
  positiveInt('referenceEpochs', c.referenceEpochs);
  if (!(Number.isInteger(c.accuracyExamples) && c.accuracyExamples >= 0)) bad('accuracyExamples', c.accuracyExamples, 'a whole number >= 0');
  if (!(Number.isInteger(c.maxNewTokens) && c.maxNewTokens >= 1)) bad('maxNewTokens', c.maxNewTokens, 'a positive whole number');
  if (c.filters.length === 0) bad('filters', c.filters, 'at least one filter');
  if (c.seeds.length === 0 || !c.seeds.every((s) => Number.isInteger(s) && s >= 0 && s < 2 ** 32)) bad('seeds', c.seeds, 'whole numbers in [0, 2^32)');
  if (new Set(c.seeds).size !== c.seeds.length) bad('seeds', c.seeds, 'distinct');
  return c;
}

/** The settings every run must share: the config without the grid (filters, seeds). */
export function fixedSettings(c: ExperimentConfig): Omit<ExperimentConfig, 'filters' | 'seeds'> {
  const { filters: _f, seeds: _s, ...fixed } = c;
  return fixed;
}

/** Fields whose values differ between two fixed settings (dotted paths), for a clear resume error. */
export function differingFields(a: unknown, b: unknown, path = ''): string[] {
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => differingFields((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path ? `${path}.${k}` : k));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [path || '(root)'];
}

/** Runs in the order they are taken: seed by seed, every filter per seed, so a partial grid already has
 *  a complete table at its first seeds. */
export function runKeys(c: Pick<ExperimentConfig, 'filters' | 'seeds'>): { filter: FilterName; seed: number; key: string }[] {
  return c.seeds.flatMap((seed) => c.filters.map((filter) => ({ filter, seed, key: runKey(filter, seed) })));
}

export const runKey = (filter: FilterName, seed: number) => `${filter}.seed${seed}`;
