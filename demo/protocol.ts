// Messages between the page and the engine (a Web Worker, or the page itself when a worker cannot get
// WebGPU). Everything here is structured-clone friendly.
import type { BackendKind } from '../src/backend.ts';
import type { BaseDtypeChoice } from '../src/model/base-dtype.ts';
import type { XtfOptions, XtfRules } from '../src/xtf/options.ts';
import type { TrainRecord } from '../src/data/records.ts';
import type { TrainingExample } from '../src/data/tokenize.ts';
import type { LlamaConfig } from '../src/model/config.ts';
import type { DatasetSummary, ScoredExample } from '../src/xtf/types.ts';

/** Where worker.ts, imported by the page instead of run as a worker, leaves createEngine for it. */
export const PAGE_ENGINE = Symbol.for('xtf-demo/page-engine');

export type ModelSource =
  | { kind: 'url'; url: string; tokenizer?: string }
  | { kind: 'files'; files: File[] };

export interface TrainSettings {
  steps: number;
  batchSize: number;
  lr: number;
  rank: number;
  seed: number;
}

export type Request =
  /** noWebGpu: null when the page got a WebGPU adapter (a worker without one then declines, and the page
   *  runs the engine on WebGPU itself), else why not: the engine then runs on gpu.js. */
  | { type: 'init'; noWebGpu: string | null }
  /** baseDtype: how the frozen base weights are kept on the GPU (src/model/base-dtype.ts; 'auto': the checkpoint's own precision). */
  | { type: 'load'; source: ModelSource; baseDtype: BaseDtypeChoice }
  /** rules / domainWords: the XTF options a person sets on the page; task: the data's task when it is a
   *  known one (its default domain words under the released rules). */
  | { type: 'score'; records: TrainRecord[]; batchSize: number; rules: XtfRules; domainWords: string[] | null; task: string | null }
  /** examples: every example with the mask it trains on and all its labels (the recipe validates on those). */
  /** online: online XTF (../src/xtf/xtf-online.ts): the scores on screen and the options they were selected
   *  with; every label token goes to the trainer and KN is judged anew at every step. */
  | { type: 'train'; examples: TrainingExample[]; heldOut: TrainRecord[]; settings: TrainSettings; label: string; online?: { scored: ScoredExample[]; xtf: XtfOptions } }
  | { type: 'generate'; prompt: string; maxTokens: number }
  /** An adapter saved by an earlier visit, for the loaded model: generation compares it with the others. */
  | { type: 'adopt'; label: string; files: Record<string, Uint8Array> }
  | { type: 'plan'; batchSize: number; seqLen: number; rank: number }
  | { type: 'stop' }
  | { type: 'resume' }
  | { type: 'finish' };

/** What the page shows of a loaded model: its config's sizes plus what the worker measured. */
export interface ModelInfo extends Pick<LlamaConfig, 'architecture' | 'dim' | 'hiddenDim' | 'nLayers' | 'nHeads' | 'nKvHeads' | 'vocabSize' | 'maxSeqLen'> {
  source: string;
  format: string;
  parameters: number;
  weightsBytes: number;
  /** How the 2-D base weights are stored on the GPU, e.g. 'f16' or 'q4 (3), f32 (1)'. */
  baseStorage: string;
  /** Peak GPU memory of a LoRA step at the default batch, from the memory plan. */
  trainPeakBytes: number;
  loraParameters: number;
}

/** GPU memory a LoRA run at these settings needs, planned before anything is allocated. */
export interface MemoryPlanReply {
  batchSize: number;
  seqLen: number;
  rank: number;
  peakBytes: number;
  weightsBytes: number;
  activationBytes: number;
  /** LoRA parameters, their gradients and AdamW's moments. */
  trainableBytes: number;
  largestTensor: string;
  largestTensorBytes: number;
  /** Why the device cannot run it (a binding limit or the memory budget), or null when it fits. */
  problem: string | null;
}

export interface TrainPoint {
  step: number;
  totalSteps: number;
  loss: number;
  tokensPerSecond: number;
  etaMs: number;
}

export type Reply =
  /** backend: what runs the model (src/backend.ts chose it); why: the adapter, or why not WebGPU;
   *  training: null when this backend trains, else the sentence that says why not. */
  | { type: 'ready'; adapter: string; features: string[]; maxBufferBytes: number; limits: Record<string, number>; where: 'worker' | 'page'; backend: BackendKind; why: string; training: string | null }
  | { type: 'load-progress'; file: string; loaded: number; total?: number }
  | { type: 'loaded'; info: ModelInfo }
  | { type: 'score-progress'; done: number; total: number; tokensPerSecond: number; etaSeconds: number }
  | { type: 'scored'; scored: ScoredExample[]; summary: DatasetSummary }
  | { type: 'train-progress'; point: TrainPoint }
  | { type: 'trained'; label: string; steps: number; seconds: number; files: Record<string, Uint8Array>; reason: string; heldOutBefore: number | null; heldOutAfter: number | null; trainedTokens: number; onlineMasked?: number }
  | { type: 'planned'; plan: MemoryPlanReply }
  | { type: 'adopted'; label: string }
  | { type: 'paused'; step: number }
  | { type: 'generated'; outputs: { label: string; text: string; tokens: number }[] }
  | { type: 'error'; during: Request['type']; name: string; message: string };
