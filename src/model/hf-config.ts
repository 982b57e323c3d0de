// Hugging Face config.json <-> LlamaConfig, for the families this runtime runs: Llama (with Llama-3 or
// linear RoPE scaling), Qwen2 (q/k/v biases), Qwen3 (per-head q/k RMSNorm, explicit head_dim) and Mistral
// (a sliding window, refused past its length). Anything transformers would compute differently from this
// runtime is a typed error naming what is supported.

import { type LlamaConfig, type RopeScaling, headDim, llamaConfig } from './config.ts';
import { ModelConfigError, UnsupportedModelError } from './errors.ts';
import { SUPPORTED_ROPE_SCALINGS } from './rope-scaling.ts';

/** `architectures[0]` of config.json -> the family name kept in LlamaConfig.architecture. */
export const SUPPORTED_HF_ARCHITECTURES: Readonly<Record<string, string>> = {
  LlamaForCausalLM: 'llama',
  Qwen2ForCausalLM: 'qwen2',
  Qwen3ForCausalLM: 'qwen3',
  MistralForCausalLM: 'mistral',
};

type Json = Record<string, unknown>;

/** config.json -> LlamaConfig; anything this runtime would compute differently is a typed error. */
export function hfConfigToLlama(json: Json, source = 'config.json'): LlamaConfig {
  const architectures = json.architectures;
  const arch = Array.isArray(architectures) ? String(architectures[0]) : undefined;
  const family = arch === undefined ? undefined : SUPPORTED_HF_ARCHITECTURES[arch];
  if (family === undefined) {
    throw new UnsupportedModelError(source, `architecture ${arch === undefined ? '(none: "architectures" is missing)' : `'${arch}'`} is not supported; ` +
      `supported: ${Object.keys(SUPPORTED_HF_ARCHITECTURES).join(', ')}`);
  }
  const int = (key: string, fallback?: number): number => {
    const v = json[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new ModelConfigError(key, `must be an integer, got ${JSON.stringify(json[key])}`, source);
    return v;
  };
  const num = (v: unknown, key: string): number => {
    if (typeof v !== 'number') throw new ModelConfigError(key, `must be a number, got ${JSON.stringify(v)}`, source);
    return v;
  };
  const unsupported = (detail: string): never => {
    throw new UnsupportedModelError(source, detail);
  };

  const act = json.hidden_act ?? 'silu';
  if (act !== 'silu') unsupported(`hidden_act '${act}' is not supported; the FFN here is SwiGLU (silu)`);
  if (json.mlp_bias === true) unsupported('mlp_bias true is not supported (biases exist only on q/k/v)');
  if (json.use_sliding_window === true) unsupported('sliding-window attention (use_sliding_window true) is not supported');
  // transformers >= 5 moves rope_theta and the scaling parameters into rope_parameters.
  const ropeParameters = isObject(json.rope_parameters) ? json.rope_parameters : {};

  const dim = int('hidden_size');
  const nHeads = int('num_attention_heads');
  const explicitHeadDim = json.head_dim === undefined || json.head_dim === null ? undefined : int('head_dim');
  return llamaConfig({
    architecture: family,
    dim,
    hiddenDim: int('intermediate_size'),
    nLayers: int('num_hidden_layers'),
    nHeads,
    nKvHeads: int('num_key_value_heads', nHeads),
    vocabSize: int('vocab_size'),
    maxSeqLen: int('max_position_embeddings'),
    normEps: num(json.rms_norm_eps ?? 1e-6, 'rms_norm_eps'),
    ropeTheta: num(json.rope_theta ?? ropeParameters.rope_theta ?? 10000, 'rope_theta'),
    ropeLayout: 'half',
    tiedEmbeddings: json.tie_word_embeddings === true,
    // Qwen2's q/k/v projections always carry biases; the others' follow attention_bias (Mistral has none).
    attentionBias: family === 'qwen2' ? true : family === 'mistral' ? false : json.attention_bias === true,
    headDim: explicitHeadDim,
    ropeScaling: hfRopeScaling(isObject(json.rope_scaling) ? json.rope_scaling : ropeParameters, source),
    qkNorm: family === 'qwen3',
    // Qwen2/Qwen3 state a sliding_window too, but use it only with use_sliding_window (refused above).
    slidingWindow: family === 'mistral' && json.sliding_window !== null && json.sliding_window !== undefined ? int('sliding_window') : undefined,
  }, source);
}

/** rope_scaling (or transformers 5's rope_parameters) -> RopeScaling; undefined for plain RoPE. */
function hfRopeScaling(s: Json, source: string): RopeScaling | undefined {
  const type = s.rope_type ?? s.type ?? 'default';
  const field = (key: string): number => {
    const v = s[key];
    if (typeof v !== 'number') throw new ModelConfigError(`rope_scaling.${key}`, `must be a number for '${type}' RoPE scaling, got ${JSON.stringify(v)}`, source);
    return v;
  };
  if (type === 'default') return undefined;
  if (type === 'linear') return { type, factor: field('factor') };
  if (type === 'llama3') {
    return { type, factor: field('factor'), lowFreqFactor: field('low_freq_factor'), highFreqFactor: field('high_freq_factor'),
      originalMaxPositionEmbeddings: field('original_max_position_embeddings') };
  }
  throw new UnsupportedModelError(source, `RoPE scaling '${String(type)}' is not supported; supported: ${SUPPORTED_ROPE_SCALINGS.join(', ')} (or none)`);
}

/** The inverse, for export: a config.json transformers loads as the family's *ForCausalLM. */
export function llamaToHfConfig(c: LlamaConfig, extra: { bosTokenId?: number; eosTokenId?: number; torchDtype?: string } = {}): Json {
  const family = c.architecture;
  const arch = Object.keys(SUPPORTED_HF_ARCHITECTURES).find((a) => SUPPORTED_HF_ARCHITECTURES[a] === family) ?? 'LlamaForCausalLM';
  const modelType = SUPPORTED_HF_ARCHITECTURES[arch];
  // Per-head q/k norms exist in Hugging Face only as Qwen3, and Qwen3 always has them.
  if (Boolean(c.qkNorm) !== (modelType === 'qwen3')) {
    throw new UnsupportedModelError(`${family} config`, c.qkNorm
      ? 'has per-head q/k norms (qkNorm), which only Qwen3ForCausalLM writes; set architecture to qwen3'
      : 'is Qwen3 without per-head q/k norms (qkNorm), which Qwen3ForCausalLM always has');
  }
  if (c.slidingWindow !== undefined && modelType !== 'mistral') {
    throw new UnsupportedModelError(`${family} config`, 'has a sliding window, which only MistralForCausalLM writes here');
  }
  const familyFields: Json = {
    llama: { attention_bias: c.attentionBias, mlp_bias: false, pretraining_tp: 1 },
    qwen2: { use_sliding_window: false },
    qwen3: { attention_bias: c.attentionBias, use_sliding_window: false, sliding_window: null },
    mistral: { sliding_window: c.slidingWindow ?? null },
  }[modelType] as Json;
  return {
    architectures: [arch],
    model_type: modelType,
    hidden_size: c.dim,
    intermediate_size: c.hiddenDim,
    num_hidden_layers: c.nLayers,
    num_attention_heads: c.nHeads,
    num_key_value_heads: c.nKvHeads,
    head_dim: headDim(c),
    vocab_size: c.vocabSize,
    max_position_embeddings: c.maxSeqLen,
    rms_norm_eps: c.normEps,
    rope_theta: c.ropeTheta,
    rope_scaling: hfRopeScalingJson(c.ropeScaling, family),
    tie_word_embeddings: c.tiedEmbeddings,
    hidden_act: 'silu',
    ...familyFields,
    attention_dropout: 0,
    initializer_range: 0.02,
    use_cache: true,
    bos_token_id: extra.bosTokenId ?? 1,
    eos_token_id: extra.eosTokenId ?? 2,
    torch_dtype: extra.torchDtype ?? 'float32',
  };
}

function hfRopeScalingJson(s: RopeScaling | undefined, family: string): Json | null {
  if (!s) return null;
  if (s.type === 'linear') return { rope_type: 'linear', factor: s.factor };
  if (s.type === 'freq-factors') {
    // transformers has no rope_type that takes per-pair divisors, and llama3's parameters are not recoverable from them.
    throw new UnsupportedModelError(`${family} config`, "has RoPE frequency factors (a GGUF's rope_freqs.weight), which config.json cannot state; " +
      'export from the Hugging Face checkpoint the GGUF was converted from');
  }
  return { rope_type: 'llama3', factor: s.factor, low_freq_factor: s.lowFreqFactor, high_freq_factor: s.highFreqFactor,
    original_max_position_embeddings: s.originalMaxPositionEmbeddings };
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
