// The shape of a Llama-family decoder, shared by every checkpoint loader, the GPU model and the CPU reference.

import { ModelConfigError, ModelError } from './errors.ts';
import { type RopeScaling, ropeScalingProblem } from './rope-scaling.ts';

export type { RopeScaling } from './rope-scaling.ts';

/**
 * How RoPE pairs the features of one head:
 * - 'interleaved': pairs (2i, 2i+1) — Meta's original Llama code and llama2.c checkpoints;
 * - 'half': pairs (i, i + headDim/2) — Hugging Face `rotate_half` (Llama, Qwen2, ... on the Hub).
 * Pair i rotates by pos * ropeTheta^(-2i/headDim) in both layouts (its inverse frequency rescaled by ropeScaling, if any).
 */
export type RopeLayout = 'interleaved' | 'half';

export interface LlamaConfig {
  /** Family name, for messages and for loaders that need it: 'llama', 'qwen2', 'qwen3', 'mistral'. */
  architecture: string;
  /** Model width (residual stream). */
  dim: number;
  /** FFN inner width (w1 / w3 rows). */
  hiddenDim: number;
  nLayers: number;
  /** Query heads, of headDim(c) features each. */
  nHeads: number;
  /** Key/value heads (grouped-query attention); query head h reads kv head floor(h / (nHeads / nKvHeads)). */
  nKvHeads: number;
  vocabSize: number;
  /** Longest sequence the model was trained for (positions 0 .. maxSeqLen-1). */
  maxSeqLen: number;
  /** RMSNorm epsilon: x * w / sqrt(mean(x^2) + normEps). */
  normEps: number;
  ropeTheta: number;
  ropeLayout: RopeLayout;
  /** The classifier reuses the token embedding [vocab, dim]. */
  tiedEmbeddings: boolean;
  /** Biases on the q/k/v projections (Qwen2). */
  attentionBias: boolean;
  // Optional features: absent means the plain Llama behaviour, so configs without them stay as they were.
  /**
   * Features per head when it is not dim / nHeads (Qwen3-0.6B: dim 1024, 16 heads of 128): wq is then
   * [nHeads·headDim, dim] and wo [dim, nHeads·headDim]. Read it through headDim(c).
   */
  headDim?: number;
  /** Scaled RoPE frequencies (Llama 3.1/3.2 'llama3', 'linear'); see rope-scaling.ts. Absent: plain RoPE. */
  ropeScaling?: RopeScaling;
  /** RMSNorm of every query and key head (weights qNorm, kNorm [headDim]) after the projection, before RoPE (Qwen3). */
  qkNorm?: boolean;
  /**
   * Mistral's sliding-window attention: a position attends to at most this many positions (itself included).
   * Not implemented: sequences longer than the window are refused (checkSequenceLength), and within it the
   * window changes nothing.
   */
  slidingWindow?: number;
}

/** Defaults of the llama2.c family; loaders override what their format states. */
export const LLAMA_DEFAULTS = {
  architecture: 'llama',
  normEps: 1e-5,
  ropeTheta: 10000,
  ropeLayout: 'interleaved',
  tiedEmbeddings: true,
  attentionBias: false,
} as const satisfies Partial<LlamaConfig>;

type SizeField = 'dim' | 'hiddenDim' | 'nLayers' | 'nHeads' | 'nKvHeads' | 'vocabSize' | 'maxSeqLen';

/** A validated config from the required sizes plus optional overrides of LLAMA_DEFAULTS. */
export function llamaConfig(fields: Pick<LlamaConfig, SizeField> & Partial<LlamaConfig>, source?: string): LlamaConfig {
  const c: LlamaConfig = { ...LLAMA_DEFAULTS, ...fields };
  // One form per model: an explicit head size equal to dim / nHeads, and absent options, are left out.
  if (c.headDim === undefined || c.headDim === c.dim / c.nHeads) delete c.headDim;
  if (c.ropeScaling === undefined) delete c.ropeScaling;
  if (!c.qkNorm) delete c.qkNorm;
  if (c.slidingWindow === undefined) delete c.slidingWindow;
  return validateConfig(c, source);
}

/** Features per attention head: the explicit headDim, else dim / nHeads. */
export function headDim(c: LlamaConfig): number {
  return c.headDim ?? c.dim / c.nHeads;
}

/** Width of all query heads together: wq's rows, wo's columns (= dim unless headDim is explicit). */
export function qDim(c: LlamaConfig): number {
  return c.nHeads * headDim(c);
}

export function kvDim(c: LlamaConfig): number {
  return c.nKvHeads * headDim(c);
}

/** A sequence the model cannot run: longer than maxSeqLen, or than a sliding window this runtime does not implement. */
export class SequenceTooLongError extends ModelError {
  constructor(public readonly length: number, public readonly limit: number, public readonly reason: 'maxSeqLen' | 'slidingWindow', what: string) {
    super(reason === 'maxSeqLen'
      ? `${what}: sequence length ${length} exceeds the model's maxSeqLen ${limit}`
      : `${what}: ${length} positions exceed the model's sliding window of ${limit} (sliding_window); sliding-window attention is not ` +
        `implemented, so a sequence (prompt and generated tokens together) must fit in ${limit} positions`);
  }
}

/** The longest sequence this runtime runs for the model: maxSeqLen, or the sliding window when that is shorter. */
export function contextLength(c: LlamaConfig): number {
  return Math.min(c.maxSeqLen, c.slidingWindow ?? Infinity);
}

/** Throws SequenceTooLongError when positions 0 .. length − 1 cannot run (see SequenceTooLongError). */
export function checkSequenceLength(c: LlamaConfig, length: number, what: string): void {
  if (length > c.maxSeqLen) throw new SequenceTooLongError(length, c.maxSeqLen, 'maxSeqLen', what);
  if (c.slidingWindow !== undefined && length > c.slidingWindow) throw new SequenceTooLongError(length, c.slidingWindow, 'slidingWindow', what);
}

/** Returns the config unchanged, or throws ModelConfigError naming the first bad field. */
export function validateConfig(c: LlamaConfig, source?: string): LlamaConfig {
  const fail = (field: keyof LlamaConfig, problem: string): never => {
    throw new ModelConfigError(field, problem, source);
  };
  for (const field of ['dim', 'hiddenDim', 'nLayers', 'nHeads', 'nKvHeads', 'vocabSize', 'maxSeqLen'] as const) {
    const v = c[field];
    if (!Number.isSafeInteger(v) || v <= 0) fail(field, `must be a positive integer, got ${v}`);
  }
  if (c.headDim !== undefined) {
    if (!Number.isSafeInteger(c.headDim) || c.headDim <= 0) fail('headDim', `must be a positive integer, got ${c.headDim}`);
    if (c.headDim % 2 !== 0) fail('headDim', `(${c.headDim}) must be even; RoPE rotates pairs`);
  } else {
    if (c.dim % c.nHeads !== 0) fail('dim', `(${c.dim}) must be divisible by nHeads (${c.nHeads})`);
    if (headDim(c) % 2 !== 0) fail('nHeads', `gives an odd head size ${headDim(c)} (dim ${c.dim} / nHeads ${c.nHeads}); RoPE needs pairs`);
  }
  if (c.nHeads % c.nKvHeads !== 0) fail('nHeads', `(${c.nHeads}) must be divisible by nKvHeads (${c.nKvHeads})`);
  if (!(c.normEps > 0 && c.normEps < 1)) fail('normEps', `must be in (0, 1), got ${c.normEps}`);
  if (!(c.ropeTheta > 1 && Number.isFinite(c.ropeTheta))) fail('ropeTheta', `must be a finite number > 1, got ${c.ropeTheta}`);
  if (c.ropeLayout !== 'interleaved' && c.ropeLayout !== 'half') fail('ropeLayout', `must be 'interleaved' or 'half', got '${c.ropeLayout}'`);
  if (typeof c.tiedEmbeddings !== 'boolean') fail('tiedEmbeddings', `must be a boolean, got ${c.tiedEmbeddings}`);
  if (typeof c.attentionBias !== 'boolean') fail('attentionBias', `must be a boolean, got ${c.attentionBias}`);
  if (typeof c.architecture !== 'string' || c.architecture === '') fail('architecture', 'must be a non-empty name');
  if (c.ropeScaling !== undefined) {
    const bad = ropeScalingProblem(c.ropeScaling, headDim(c) / 2);
    if (bad) fail('ropeScaling', `.${bad.field} ${bad.problem}`);
  }
  if (c.qkNorm !== undefined && typeof c.qkNorm !== 'boolean') fail('qkNorm', `must be a boolean, got ${c.qkNorm}`);
  if (c.slidingWindow !== undefined && (!Number.isSafeInteger(c.slidingWindow) || c.slidingWindow <= 0)) {
    fail('slidingWindow', `must be a positive integer, got ${c.slidingWindow}`);
  }
  return c;
}
