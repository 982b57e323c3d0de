// What an experiment works on and with: its data (records of any format, the noise where known), its
// store, the model, and the events it reports. The runner (runner.ts) and its preparation (prepare.ts)
// share these.
import { exampleRecord, type TrainRecord } from '../data/records.ts';
import type { TaskExample } from '../data/tasks.ts';
import type { LlamaModel } from '../model/llama.ts';
import type { Tokenizer } from '../model/tokenizer.ts';
import type { NoiseSpan } from '../xtf/noise.ts';
import type { ScoreProgress } from '../xtf/score.ts';
import type { RunResult } from './results.ts';

/** Where an experiment keeps its state: named text files written atomically, and adapters. */
export interface ExperimentStore {
  read(name: string): Promise<string | null>;
  write(name: string, text: string): Promise<void>;
  saveAdapter?(name: string, model: LlamaModel): Promise<void>;
}

/** The records of an experiment, in any format the trainer reads (tokenized by the one token path). */
export interface ExperimentData {
  train: TrainRecord[];
  /** Per training record, the injected noise spans and the completion they index (null: noise unknown).
   *  Known noise enables the oracle and the noise columns. */
  noise: { completion: string; noise: NoiseSpan[] }[] | null;
  /** Clean records the reference model of SLM / Token Cleaning trains on (may be empty without those). */
  reference: TrainRecord[];
  /** The reported set: its loss (every label token) and, with a task, the accuracy. Never chooses anything. */
  heldOut: TrainRecord[];
  /** The held-out examples with checkable answers (a task's), for the accuracy; empty without a task. */
  heldOutTasks: TaskExample[];
}

/** Experiment data from prompt/completion examples (a task's, or generated), the noise kept where known. */
export function examplesData(train: readonly (TaskExample & { noise?: NoiseSpan[] })[], reference: readonly TaskExample[], heldOut: readonly TaskExample[]): ExperimentData {
  const known = train.some((e) => e.noise !== undefined);
  return {
    train: train.map(exampleRecord),
    noise: known ? train.map((e) => ({ completion: e.completion, noise: e.noise ?? [] })) : null,
    reference: reference.map(exampleRecord),
    heldOut: heldOut.map(exampleRecord),
    heldOutTasks: [...heldOut],
  };
}

export type ExperimentEvent =
  | { type: 'phase'; text: string }
  | { type: 'score-progress'; what: string; progress: ScoreProgress }
  | { type: 'train-progress'; run: string; index: number; runs: number; step: number; totalSteps: number; loss: number; tokensPerSecond: number; etaSeconds: number }
  | { type: 'eval-progress'; run: string; done: number; total: number }
  | { type: 'run-done'; result: RunResult; index: number; runs: number; remainingSeconds: number }
  | { type: 'run-skipped'; key: string };

export interface ExperimentContext {
  model: LlamaModel;
  tokenizer: Tokenizer;
  /** Another model with the same weights on the same device (the reference model of SLM / Token Cleaning). */
  newModel: () => LlamaModel;
  store: ExperimentStore;
  /** The adapter's description for the report. */
  device: string;
  onEvent?: (e: ExperimentEvent) => void;
}

