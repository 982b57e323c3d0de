// The shape of a Llama-family decoder, shared by every checkpoint loader, the GPU model and the CPU reference.

import { ModelConfigError } from './errors.ts';

/**
 * How RoPE pairs the features of one head:
 * - 'interleaved': pairs (2i, 2i+1) — Meta's original Llama code and llama2.c checkpoints;
 * - 'half': pairs (i, i + headDim/2) — Hugging Face `rotate_half` (Llama, Qwen2, ... on the Hub).
 * Pair i rotates by pos * ropeTheta^(-2i/headDim) in both layouts.
 */
export type RopeLayout = 'interleaved' | 'half';

export interface LlamaConfig {
  /** Family name, for messages and for loaders that need it: 'llama', 'qwen2', ... */
  architecture: string;
  /** Model width (residual stream). */
  dim: number;
  /** FFN inner width (w1 / w3 rows). */
  hiddenDim: number;
  nLayers: number;
  /** Query heads; headDim = dim / nHeads. */
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
  return validateConfig({ ...LLAMA_DEFAULTS, ...fields }, source);
}

export function headDim(c: LlamaConfig): number {
  return c.dim / c.nHeads;
}

export function kvDim(c: LlamaConfig): number {
  return c.nKvHeads * headDim(c);
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
  if (c.dim % c.nHeads !== 0) fail('dim', `(${c.dim}) must be divisible by nHeads (${c.nHeads})`);
  if (c.nHeads % c.nKvHeads !== 0) fail('nHeads', `(${c.nHeads}) must be divisible by nKvHeads (${c.nKvHeads})`);
  if (headDim(c) % 2 !== 0) fail('nHeads', `gives an odd head size ${headDim(c)} (dim ${c.dim} / nHeads ${c.nHeads}); RoPE needs pairs`);
  if (!(c.normEps > 0 && c.normEps < 1)) fail('normEps', `must be in (0, 1), got ${c.normEps}`);
  if (!(c.ropeTheta > 1 && Number.isFinite(c.ropeTheta))) fail('ropeTheta', `must be a finite number > 1, got ${c.ropeTheta}`);
  if (c.ropeLayout !== 'interleaved' && c.ropeLayout !== 'half') fail('ropeLayout', `must be 'interleaved' or 'half', got '${c.ropeLayout}'`);
  if (typeof c.tiedEmbeddings !== 'boolean') fail('tiedEmbeddings', `must be a boolean, got ${c.tiedEmbeddings}`);
  if (typeof c.attentionBias !== 'boolean') fail('attentionBias', `must be a boolean, got ${c.attentionBias}`);
  if (typeof c.architecture !== 'string' || c.architecture === '') fail('architecture', 'must be a non-empty name');
  return c;
}
