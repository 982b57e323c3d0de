// The trainer's state inside a checkpoint, and moving it in and out: trainable tensors, AdamW moments and
// step, and the record (position in the data order, RNG state, best-so-far, the run's identity).
import type { LlamaModel, TrainableSet } from '../model/llama.ts';
import type { Checkpoint } from './checkpoint.ts';
import type { AdamW } from './optimizer.ts';
import { loadOptimizerState, optimizerState } from './optimizer-state.ts';
import type { BestRecord, StopReason, TrainOptions } from './trainer.ts';

/** The trainer's record inside a checkpoint. */
export interface TrainState {
  format: 'xtf-train-checkpoint';
  version: 1;
  set: TrainableSet;
  lora: LlamaModel['lora'];
  seed: number;
  step: number;
  epoch: number;
  /** Steps of `epoch` already taken. */
  stepInEpoch: number;
  dropoutStep: number;
  dropoutSeed: number;
  best: BestRecord | null;
  /** Validations since the last improvement (early stopping). */
  badEvals: number;
  trainedTokens: number;
  done: StopReason | null;
  identity?: Record<string, string>;
}

export async function readAll(tensors: Record<string, { read(): Promise<unknown> }>): Promise<Record<string, Float32Array>> {
  const out: Record<string, Float32Array> = {};
  for (const [k, t] of Object.entries(tensors)) out[k] = (await t.read()) as Float32Array;
  return out;
}

export function writeAll(params: ReturnType<LlamaModel['trainable']>, tensors: Record<string, Float32Array>, source: string, prefix = ''): void {
  for (const [k, t] of Object.entries(params)) {
    const data = tensors[prefix + k];
    if (!data) throw new RangeError(`checkpoint '${source}' has no tensor ${prefix + k}; it was saved for another model or trainable set`);
    if (data.length !== t.size) throw new RangeError(`checkpoint '${source}': ${prefix + k} holds ${data.length} values, the model's has ${t.size} (another model or LoRA rank?)`);
    t.runtime.write(t, data);
  }
}

export async function snapshot(state: TrainState, params: ReturnType<LlamaModel['trainable']>, optimizer: AdamW): Promise<Checkpoint> {
  const tensors: Record<string, Float32Array> = {};
  for (const [k, v] of Object.entries(await readAll(params))) tensors[`param.${k}`] = v;
  const adam = await optimizerState(optimizer);
  for (const k of Object.keys(params)) {
    tensors[`adam_m.${k}`] = adam.m[k];
    tensors[`adam_v.${k}`] = adam.v[k];
  }
  return { json: { ...state, optimizerStep: adam.step }, tensors };
}

/** Refuses a checkpoint made by a run with other settings or data, naming what differs. */
export function checkIdentity(saved: TrainState, identity: Record<string, string> | undefined): void {
  if (!identity) return;
  const theirs = saved.identity ?? {};
  for (const [field, value] of Object.entries(identity)) {
    if (!(field in theirs)) throw new RangeError(`resume: the checkpoint does not record its ${field} (made by an older version or another tool); start afresh without --resume`);
    if (theirs[field] !== value) throw new RangeError(`resume: the checkpoint was made with another ${field} (${theirs[field]}, this run: ${value}); resume with the same settings and data, or start afresh without --resume`);
  }
}

export function restore(saved: Checkpoint, model: LlamaModel, set: TrainableSet, optimizer: AdamW, o: TrainOptions): TrainState {
  const json = saved.json as TrainState & { optimizerStep: number };
  if (json?.format !== 'xtf-train-checkpoint' || json.version !== 1) throw new RangeError('resume: the stored checkpoint is not an xtf training checkpoint (version 1)');
  if (json.set !== set) throw new RangeError(`resume: the checkpoint trained the '${json.set}' set, this run trains '${set}'`);
  if (JSON.stringify(json.lora) !== JSON.stringify(model.lora)) {
    throw new RangeError(`resume: the checkpoint's LoRA config ${JSON.stringify(json.lora)} differs from the model's ${JSON.stringify(model.lora)}; attach the same adapters (addLora) before resuming`);
  }
  if (json.seed !== o.seed) throw new RangeError(`resume: the checkpoint was trained with seed ${json.seed}, this run has seed ${o.seed}; the data order would differ`);
  const params = model.trainable(set);
  writeAll(params, saved.tensors, 'resume', 'param.');
  const m: Record<string, Float32Array> = {};
  const v: Record<string, Float32Array> = {};
  for (const k of Object.keys(params)) {
    m[k] = saved.tensors[`adam_m.${k}`];
    v[k] = saved.tensors[`adam_v.${k}`];
  }
  loadOptimizerState(optimizer, { step: json.optimizerStep, m, v });
  const { optimizerStep: _, ...state } = json;
  return state;
}

