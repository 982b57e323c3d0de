// The training loop: seeded data order, learning-rate schedule, gradient accumulation (each step is
// its micro-batches; trainStep normalises the loss over the whole step), periodic validation with
// best-checkpoint selection and early stopping, progress and metric records, and checkpoints that
// resume exactly: trainable tensors, AdamW moments and step, the position in the data order, the
// RNG state (data order and LoRA dropout) and the best-so-far record.
//
// RNG state is positional, so nothing opaque needs saving: epoch e's data order is drawn from
// seededRandom(mix(seed, e)), and dropout masks from (model.dropoutSeed, model.dropoutStep).
import type { LlamaModel, TrainableSet } from '../model/llama.ts';
import { seededRandom } from '../model/random.ts';
import type { CheckpointStorage } from './checkpoint.ts';
import { MemoryCheckpointStorage } from './checkpoint.ts';
import { AdamW } from './optimizer.ts';
import { checkIdentity, readAll, restore, snapshot, writeAll, type TrainState } from './train-state.ts';
import { learningRate, validateSchedule, type ScheduleKind, type ScheduleOptions } from './schedule.ts';
import type { TokenBatch } from '../data/batch.ts';
import { evaluateLoss, tokenLosses, trainStep } from './step.ts';

export interface TrainOptions {
  /** Optimiser steps to take; with `epochs` too, whichever ends first. */
  steps?: number;
  /** Passes over the data (default 1 when `steps` is not given). */
  epochs?: number;
  lr: number;
  schedule: ScheduleKind;
  warmupSteps: number;
  /** Cosine floor as a fraction of `lr`. */
  minLrRatio: number;
  maxGradNorm: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Seeds the data order of every epoch and the LoRA dropout masks. */
  seed: number;
  /** Validate every N optimiser steps (and after the last one); 0 validates only at the end. */
  evalEvery: number;
  /** Stop after this many validations in a row without improvement; 0 never stops early. */
  patience: number;
  /** A validation loss must beat the best by more than this to count as an improvement. */
  minDelta: number;
  /** At the end, load the best validated weights back into the model. */
  restoreBest: boolean;
  /** Save a resumable checkpoint every N steps (needs `storage`); 0 saves only at the end. */
  checkpointEvery: number;
  /** Read loss and gradient norm back (a GPU sync) and report progress every N steps. */
  logEvery: number;
}

export const TRAIN_DEFAULTS: TrainOptions = {
  lr: 2e-4,
  schedule: 'cosine',
  warmupSteps: 0,
  minLrRatio: 0,
  maxGradNorm: 1.0,
  weightDecay: 0.0,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  seed: 0,
  evalEvery: 0,
  patience: 0,
  minDelta: 0,
  restoreBest: true,
  checkpointEvery: 0,
  logEvery: 1,
};

/**
 * The optimiser steps of one epoch, each a list of micro-batches. `random` is this epoch's seeded
 * generator: shuffle with it (see `shuffledSteps`) and the order is repeatable and resumable. An
 * array, or any iterable (a generator building batches lazily); a resumed run skips the steps
 * already taken by iterating past them.
 */
export type EpochSteps = (epoch: number, random: () => number) => Iterable<TokenBatch[]>;

export interface TrainArgs {
  model: LlamaModel;
  set: TrainableSet;
  trainBatches: EpochSteps;
  /** Held-out batches for validation loss (best-checkpoint selection, early stopping). */
  validationBatches?: TokenBatch[];
  /** A reported set: its loss is recorded at each validation (eval records' reportLoss), never used to choose. */
  reportBatches?: TokenBatch[];
  options?: Partial<TrainOptions>;
  /** Where resumable checkpoints and the best weights go; without it the best weights stay in memory. */
  storage?: CheckpointStorage;
  /** Checkpoint name in `storage` (the best weights go under `<name>.best`). Default 'train'. */
  checkpointName?: string;
  /** Continue from the checkpoint in `storage` if there is one (the model must have the same adapters attached). */
  resume?: boolean;
  /**
   * What determines the run besides the trainer's own options (a data fingerprint, the filter, each
   * recipe setting), field -> value. Saved in every checkpoint; a resume whose fields differ is refused
   * naming the field, so a checkpoint of another run is never continued.
   */
  identity?: Record<string, string>;
  /** Told, before the first step, where the run starts: the checkpoint's step, or 0 (null: no checkpoint found). */
  onStart?: (resumedFrom: number | null) => void;
  onProgress?: (p: TrainProgress) => void;
  /** Every metric record as it is made (the CLI writes them as JSONL). */
  onMetrics?: (r: MetricRecord) => void;
  /** Stops after the current step, saving a checkpoint first when there is storage. */
  signal?: AbortSignal;
  /**
   * Online token selection (SLM / Rho-1): before each step, called with the step's micro-batches and the
   * current model's loss at every position of each ([batch·seqLen]); returns the micro-batches with the
   * weights to train on. Costs one extra forward pass per micro-batch.
   */
  selectTokens?: (microBatches: TokenBatch[], currentLoss: Float32Array[]) => TokenBatch[];
}

export interface TrainProgress {
  step: number;
  totalSteps: number;
  epoch: number;
  loss: number;
  lr: number;
  gradNorm: number;
  tokensPerSecond: number;
  /** Estimated milliseconds to the last step at this session's pace. */
  etaMs: number;
}

export type MetricRecord =
  | { type: 'train'; step: number; epoch: number; loss: number; lr: number; gradNorm: number; trainedTokens: number; tokensPerSecond: number; elapsedMs: number; etaMs: number }
  | { type: 'eval'; step: number; epoch: number; valLoss: number; best: boolean; bestStep: number; bestValLoss: number; reportLoss?: number }
  | { type: 'end'; step: number; epoch: number; reason: StopReason; bestStep: number | null; bestValLoss: number | null };

export type StopReason = 'steps' | 'epochs' | 'early-stop' | 'aborted';

export interface BestRecord {
  step: number;
  valLoss: number;
}

export interface TrainResult {
  /** Optimiser steps taken in total (including those before a resume). */
  steps: number;
  epoch: number;
  reason: StopReason;
  best: BestRecord | null;
  /** This session's metric records. */
  metrics: MetricRecord[];
  resumedFrom: number | null;
}

/** A step gave a loss or gradient norm that is not a finite number: the run stops, nothing from it is kept. */
export class NonFiniteLossError extends Error {
  override name = 'NonFiniteLossError';
  constructor(readonly step: number, readonly what: 'loss' | 'gradient norm' | 'validation loss', readonly value: number, readonly lastFinite: { step: number; loss: number } | null) {
    super(
      `step ${step}: the ${what} is ${value} (not a finite number), so training stopped and nothing from this step was saved. ` +
      `${lastFinite ? `The last finite loss was ${lastFinite.loss.toFixed(4)} at step ${lastFinite.step}. ` : ''}` +
      'Try a lower learning rate (--lr), gradient clipping (--max-grad-norm) or warm-up (--warmup), and check that the data\'s token ids belong to this model.',
    );
  }
}

export async function train(args: TrainArgs): Promise<TrainResult> {
  const { model, set, trainBatches, validationBatches = [] } = args;
  const o: TrainOptions = { ...TRAIN_DEFAULTS, ...args.options };
  checkOptions(o);
  const name = args.checkpointName ?? 'train';
  const bestStore = args.storage ?? new MemoryCheckpointStorage();
  const params = model.trainable(set);
  const optimizer = new AdamW(model.rt, params, { beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weightDecay, maxGradNorm: o.maxGradNorm });
  try {
    let state: TrainState = {
      format: 'xtf-train-checkpoint', version: 1, set, lora: model.lora, seed: o.seed,
      step: 0, epoch: 0, stepInEpoch: 0, dropoutStep: 0, dropoutSeed: o.seed >>> 0,
      best: null, badEvals: 0, trainedTokens: 0, done: null, ...(args.identity ? { identity: args.identity } : {}),
    };
    let resumedFrom: number | null = null;
    const saved = args.resume && args.storage ? await args.storage.load(name) : null;
    if (saved) {
      checkIdentity(saved.json as TrainState, args.identity);
      state = restore(saved, model, set, optimizer, o);
      resumedFrom = state.step;
    }
    args.onStart?.(resumedFrom);
    model.dropoutSeed = state.dropoutSeed;
    model.dropoutStep = state.dropoutStep;

    const maxEpochs = o.epochs ?? (o.steps === undefined ? 1 : Infinity);
    const maxSteps = o.steps ?? Infinity;
    // With an epoch limit alone, the schedule and ETA assume every epoch is as long as the first.
    const totalSteps = o.steps ?? maxEpochs * countSteps(trainBatches(0, epochRandom(o.seed, 0)));
    const schedule: ScheduleOptions = validateSchedule({ kind: o.schedule, lr: o.lr, warmupSteps: o.warmupSteps, totalSteps, minLrRatio: o.minLrRatio });
    // A finished run given a larger budget continues; an early-stopped one stays stopped.
    if ((state.done === 'steps' && state.step < maxSteps) || (state.done === 'epochs' && state.epoch < maxEpochs)) state.done = null;
    const metrics: MetricRecord[] = [];
    const emit = (r: MetricRecord) => {
      metrics.push(r);
      args.onMetrics?.(r);
    };

    const saveState = async () => {
      if (!args.storage) return;
      state.dropoutStep = model.dropoutStep;
      state.dropoutSeed = model.dropoutSeed;
      await args.storage.save(name, await snapshot(state, params, optimizer));
    };
    const validate = async () => {
      const valLoss = await evaluateLoss(model, validationBatches);
      if (!Number.isFinite(valLoss)) throw new NonFiniteLossError(state.step, 'validation loss', valLoss, lastFinite);
      const improved = state.best === null || valLoss < state.best.valLoss - o.minDelta;
      if (improved) {
        state.best = { step: state.step, valLoss };
        state.badEvals = 0;
        await bestStore.save(`${name}.best`, { json: state.best, tensors: await readAll(params) });
      } else {
        state.badEvals++;
      }
      const reportLoss = args.reportBatches?.length ? await evaluateLoss(model, args.reportBatches) : undefined;
      emit({ type: 'eval', step: state.step, epoch: state.epoch, valLoss, best: improved, bestStep: state.best!.step, bestValLoss: state.best!.valLoss, ...(reportLoss === undefined ? {} : { reportLoss }) });
    };

    let lastFinite: { step: number; loss: number } | null = null;
    const started = now();
    const startStep = state.step;
    const alreadyDone = state.done !== null;
    let lastEval = -1;
    let sessionTokens = 0;
    let reason: StopReason | null = state.done;
    while (reason === null) {
      if (state.step >= maxSteps) { reason = 'steps'; break; }
      if (state.epoch >= maxEpochs) { reason = 'epochs'; break; }
      const iterator = trainBatches(state.epoch, epochRandom(o.seed, state.epoch))[Symbol.iterator]();
      let stepsSeen = 0;
      for (; stepsSeen < state.stepInEpoch; stepsSeen++) {
        if (iterator.next().done) break;
      }
      for (let next = iterator.next(); !next.done; next = iterator.next()) {
        stepsSeen++;
        let microBatches = next.value;
        if (args.selectTokens) {
          const losses: Float32Array[] = [];
          for (const mb of microBatches) losses.push(await tokenLosses(model, mb));
          microBatches = args.selectTokens(microBatches, losses);
        }
        const lr = learningRate(state.step, schedule);
        const result = trainStep(model, optimizer, microBatches, set, lr);
        state.step++;
        state.stepInEpoch++;
        state.trainedTokens += result.weightSum;
        for (const mb of microBatches) sessionTokens += mb.batch * mb.seqLen;
        // The loss is read (a GPU sync) at every logged step, and before anything is validated or saved:
        // a non-finite loss or gradient norm stops the run before it can reach a checkpoint or the adapter.
        const mustCheck = (validationBatches.length > 0 && o.evalEvery > 0 && state.step % o.evalEvery === 0) || (o.checkpointEvery > 0 && state.step % o.checkpointEvery === 0) || state.step >= maxSteps;
        if (state.step % o.logEvery === 0 || state.step >= totalSteps || mustCheck) {
          const loss = (await result.loss.read())[0];
          const gradNorm = (await result.gradNorm.read())[0];
          result.loss.release();
          if (!Number.isFinite(loss)) throw new NonFiniteLossError(state.step, 'loss', loss, lastFinite);
          if (!Number.isFinite(gradNorm)) throw new NonFiniteLossError(state.step, 'gradient norm', gradNorm, lastFinite);
          lastFinite = { step: state.step, loss };
          const elapsedMs = now() - started;
          const etaMs = (elapsedMs / (state.step - startStep)) * (totalSteps - state.step);
          const tokensPerSecond = elapsedMs > 0 ? (sessionTokens / elapsedMs) * 1000 : 0;
          emit({ type: 'train', step: state.step, epoch: state.epoch, loss, lr, gradNorm, trainedTokens: state.trainedTokens, tokensPerSecond, elapsedMs, etaMs });
          args.onProgress?.({ step: state.step, totalSteps, epoch: state.epoch, loss, lr, gradNorm, tokensPerSecond, etaMs });
        } else {
          result.loss.release();
        }
        if (validationBatches.length > 0 && o.evalEvery > 0 && state.step % o.evalEvery === 0) {
          await validate();
          lastEval = state.step;
          if (o.patience > 0 && state.badEvals >= o.patience) reason = 'early-stop';
        }
        if (state.step >= maxSteps) reason ??= 'steps';
        if (args.signal?.aborted) reason ??= 'aborted';
        if (reason === null && o.checkpointEvery > 0 && state.step % o.checkpointEvery === 0) await saveState();
        if (reason !== null) break;
      }
      if (reason === null) {
        if (stepsSeen === 0) throw new RangeError(`epoch ${state.epoch} of the training data has no steps; check the data and the batch size`);
        state.epoch++;
        state.stepInEpoch = 0;
      }
    }
    // The final weights are always validated (unless the run was interrupted or had already ended).
    if (!alreadyDone && reason !== 'aborted' && validationBatches.length > 0 && lastEval !== state.step) await validate();
    if (reason !== 'aborted') state.done = reason;
    await saveState();
    emit({ type: 'end', step: state.step, epoch: state.epoch, reason, bestStep: state.best?.step ?? null, bestValLoss: state.best?.valLoss ?? null });

    if (o.restoreBest && state.best && state.best.step !== state.step) {
      const best = await bestStore.load(`${name}.best`);
      if (!best) throw new Error(`the best weights (step ${state.best.step}) are not in the checkpoint storage under '${name}.best'`);
      writeAll(params, best.tensors, `${name}.best`);
    }
    return { steps: state.step, epoch: state.epoch, reason, best: state.best, metrics, resumedFrom };
  } finally {
    optimizer.release();
  }
}

/**
 * A seeded epoch of steps: the examples shuffled with `random` (Fisher-Yates), cut into micro-batches
 * of `microBatchSize` examples and grouped `gradientAccumulation` micro-batches per optimiser step.
 * Batches are built lazily as the trainer reaches them; a short last step is dropped unless `keepLast`.
 */
export function shuffledSteps<T>(
  examples: readonly T[],
  random: () => number,
  options: { microBatchSize: number; gradientAccumulation?: number; keepLast?: boolean; shuffle?: boolean },
  toTokenBatch: (items: T[]) => TokenBatch,
): Iterable<TokenBatch[]> & { length: number } {
  const { microBatchSize, gradientAccumulation = 1, keepLast = false, shuffle = true } = options;
  if (!Number.isInteger(microBatchSize) || microBatchSize < 1) throw new RangeError(`micro-batch size must be a positive integer, got ${microBatchSize}`);
  if (!Number.isInteger(gradientAccumulation) || gradientAccumulation < 1) throw new RangeError(`gradient accumulation must be a positive integer, got ${gradientAccumulation}`);
  const order = examples.map((_, i) => i);
  if (shuffle) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
  }
  const perStep = microBatchSize * gradientAccumulation;
  const length = keepLast ? Math.ceil(order.length / perStep) : Math.floor(order.length / perStep);
  return {
    length,
    *[Symbol.iterator]() {
      for (let s = 0; s < length; s++) {
        const step: TokenBatch[] = [];
        for (let m = 0; m < gradientAccumulation; m++) {
          const from = s * perStep + m * microBatchSize;
          const items = order.slice(from, Math.min(from + microBatchSize, order.length)).map((i) => examples[i]);
          if (items.length > 0) step.push(toTokenBatch(items));
        }
        yield step;
      }
    },
  };
}

/** Epoch e's data-order generator: a pure function of (seed, epoch), so resuming needs only the epoch. */
export function epochRandom(seed: number, epoch: number): () => number {
  let h = Math.imul((seed >>> 0) ^ 0x5bd1e995, 0x9e3779b1) ^ epoch;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return seededRandom((h ^ (h >>> 16)) >>> 0);
}

function countSteps(steps: Iterable<TokenBatch[]>): number {
  const length = (steps as { length?: unknown }).length;
  if (typeof length === 'number') return length;
  let n = 0;
  for (const _ of steps) n++;
  return n;
}

function checkOptions(o: TrainOptions): void {
  const positiveInt = (v: number | undefined, what: string, allowZero: boolean) => {
    if (v === undefined) return;
    if (!Number.isInteger(v) || v < (allowZero ? 0 : 1)) throw new RangeError(`${what} must be an integer >= ${allowZero ? 0 : 1}, got ${v}`);
  };
  positiveInt(o.steps, 'steps', true);
  positiveInt(o.epochs, 'epochs', true);
  positiveInt(o.evalEvery, 'evalEvery', true);
  positiveInt(o.patience, 'patience', true);
  positiveInt(o.checkpointEvery, 'checkpointEvery', true);
  positiveInt(o.logEvery, 'logEvery', false);
  if (!(o.maxGradNorm > 0)) throw new RangeError(`max grad norm must be positive, got ${o.maxGradNorm}`);
  if (!(o.weightDecay >= 0)) throw new RangeError(`weight decay must be >= 0, got ${o.weightDecay}`);
}

function now(): number {
  return globalThis.performance?.now() ?? Date.now();
}
