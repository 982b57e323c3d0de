// GGUF files (llama.cpp): @huggingface/gguf parses the metadata and tensor infos; the tensor data is read
// here and decoded to f32 by its GGML type (gguf-quants.ts: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K).
// Architectures 'llama' (also Mistral: llama.cpp converts MistralForCausalLM as 'llama'; a stated
// attention.sliding_window makes it our 'mistral'), 'qwen2' (q/k/v biases) and 'qwen3' (per-head q/k RMSNorm,
// attn_q_norm / attn_k_norm). An explicit head size comes as attention.key_length; RoPE scaling as
// rope.scaling.type 'linear' with its factor, and Llama 3's as the rope_freqs.weight tensor of per-pair divisors
// (rope-scaling.ts 'freq-factors'). Anything else (yarn, partial RoPE, value heads of another size) is refused.
//
// RoPE layout: llama.cpp's converter permutes HF's q/k rows back to Meta's interleaved order for 'llama'
// (its LlamaModel.permute) and runs them with the "normal" (adjacent-pair) RoPE, so GGUF llama weights are
// 'interleaved'; 'qwen2' and 'qwen3' are stored unpermuted and run with NeoX (rotate-half) RoPE, so they are 'half'.
// GGUF dims list the fastest-varying first: a [out, in] linear weight is stored with shape [in, out].

import { GGMLQuantizationType, gguf as parseGgufHeader } from '@huggingface/gguf';
import { type LlamaConfig, type RopeScaling, headDim, llamaConfig } from './config.ts';
import { CheckpointFormatError, ModelConfigError, TokenizerFormatError, UnsupportedModelError, formatCount } from './errors.ts';
import { GGML_TYPES, SUPPORTED_GGML_TYPE_NAMES } from './gguf-quants.ts';
import { type ByteSource, byteSource } from './safetensors.ts';
import { type NamedTensor, checkLayerCount, checkUnusedTensors, collectWeights, storedLayerCount } from './hf.ts';
import { HfTokenizer, type TokenizerJson } from './tokenizer-hf.ts';
import { PIECE_TYPE, SentencePieceTokenizer } from './tokenizer-spm.ts';
import type { Tokenizer } from './tokenizer.ts';
import { type LlamaWeights, llamaWeightShapes } from './weights.ts';

export { type ByteSource, byteSource } from './safetensors.ts';

/** GGUF architectures -> RoPE layout (see the note at the top). */
const GGUF_ARCHITECTURES: Readonly<Record<string, LlamaConfig['ropeLayout']>> = { llama: 'interleaved', qwen2: 'half', qwen3: 'half' };

/** llama.cpp's rope.scaling.type values this loader reproduces (Llama 3's scaling has no name: see ggufRopeScaling). */
const GGUF_ROPE_SCALINGS = ['none', 'linear'];

export interface GgufModel {
  config: LlamaConfig;
  weights: LlamaWeights;
  tokenizer: Tokenizer;
  metadata: Record<string, unknown>;
  /** Things loaded but ignored (none today: every tensor must be used). */
  warnings: string[];
}

interface TensorInfo {
  name: string;
  /** Row-major, slowest first (the reverse of GGUF's dims). */
  shape: number[];
  dtype: number;
  /** Absolute byte offset in the file. */
  start: number;
}

export async function loadGguf(data: Uint8Array | Blob | ByteSource, name = 'model.gguf'): Promise<GgufModel> {
  const src = data instanceof Uint8Array || data instanceof Blob ? byteSource(data, name) : data;
  const file = src.name;
  const { metadata, infos } = await readHeader(src);
  const meta = (key: string) => metadata[key];

  const arch = String(meta('general.architecture'));
  const layout = GGUF_ARCHITECTURES[arch];
  if (!layout) {
    throw new UnsupportedModelError(file, `GGUF architecture '${arch}' is not supported; supported: ${Object.keys(GGUF_ARCHITECTURES).join(', ')}`);
  }
  const int = (key: string, fallback?: number): number => {
    const v = meta(`${arch}.${key}`) ?? fallback;
    const n = typeof v === 'bigint' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw new ModelConfigError(`${arch}.${key}`, `must be an integer, got ${String(v)}`, file);
    return n;
  };
  const float = (key: string, fallback: number): number => {
    const v = meta(`${arch}.${key}`) ?? fallback;
    if (typeof v !== 'number') throw new ModelConfigError(`${arch}.${key}`, `must be a number, got ${String(v)}`, file);
    return shortestF32Decimal(v);
  };
  const tokens = meta('tokenizer.ggml.tokens') as string[] | undefined;
  const embedding = infos.get('token_embd.weight');
  const dim = int('embedding_length');
  const nHeads = int('attention.head_count');
  // llama.cpp: n_embd_head_k = key_length, else n_embd / n_head.
  const keyLength = meta(`${arch}.attention.key_length`) === undefined ? undefined : int('attention.key_length');
  // Only Mistral states a window that llama.cpp's 'llama' honours; Qwen2/3 state one they do not use (as in HF).
  const slidingWindow = arch === 'llama' && meta(`${arch}.attention.sliding_window`) !== undefined ? int('attention.sliding_window') : undefined;
  const config = llamaConfig({
    architecture: slidingWindow === undefined ? arch : 'mistral',
    dim,
    hiddenDim: int('feed_forward_length'),
    nLayers: int('block_count'),
    nHeads,
    nKvHeads: int('attention.head_count_kv', nHeads),
    vocabSize: int('vocab_size', embedding?.shape[0] ?? tokens?.length), // embeddings may be padded past the tokens
    maxSeqLen: int('context_length'),
    normEps: float('attention.layer_norm_rms_epsilon', 1e-5),
    ropeTheta: float('rope.freq_base', 10000),
    ropeLayout: layout,
    tiedEmbeddings: !infos.has('output.weight'),
    attentionBias: arch === 'qwen2' || infos.has('blk.0.attn_q.bias'),
    headDim: keyLength,
    ropeScaling: await ggufRopeScaling(src, arch, meta, infos.get(ROPE_FREQS), keyLength ?? dim / nHeads),
    qkNorm: arch === 'qwen3',
    slidingWindow,
  }, file);
  for (const key of ['rope.dimension_count', 'attention.value_length']) {
    const v = meta(`${arch}.${key}`);
    if (v !== undefined && Number(v) !== headDim(config)) {
      throw new UnsupportedModelError(file, `${arch}.${key} is ${v}, not the head size ${headDim(config)}; partial or uneven heads are not supported`);
    }
  }

  // block_count against the blk.N tensors present, before anything is built per layer.
  checkLayerCount(config.nLayers, storedLayerCount(infos.keys(), /^blk\.(\d+)\./), `${arch}.block_count`, file, 'the file', 'blk.');

  // Read every needed tensor first (async), then hand them to the shared shape-checking collector.
  const names = ggufWeightNames(config);
  const loaded = new Map<string, NamedTensor>();
  for (const stored of Object.values(names)) {
    const info = infos.get(stored);
    if (!info) continue; // collectWeights reports it as missing
    const values = await readTensor(src, info);
    loaded.set(stored, { shape: info.shape, file, toF32: () => values });
  }
  const weights = collectWeights(config, (n) => loaded.get(n), (n) => names[n], file);
  const warnings = checkUnusedTensors(infos.keys(), new Set([...Object.values(names), ...(config.ropeScaling?.type === 'freq-factors' ? [ROPE_FREQS] : [])]), file);
  return { config, weights, tokenizer: ggufTokenizer(metadata, file), metadata, warnings };
}

/** llama.cpp's tensor of per-pair RoPE frequency divisors (written for Llama 3.1/3.2's llama3 scaling). */
const ROPE_FREQS = 'rope_freqs.weight';

/**
 * The RoPE scaling llama.cpp would apply: ggml rotates pair i by pos·freq_scale·inv_freq[i] / rope_freqs[i], with
 * freq_scale = 1 / rope.scaling.factor (or the older rope.scale_linear) under type 'linear' (its default) or 'none'.
 * Llama 3's scaling is written only as rope_freqs (no type, no parameters), so the divisors are the source, and a
 * linear factor beside them is folded into them.
 */
async function ggufRopeScaling(src: ByteSource, arch: string, meta: (key: string) => unknown, freqs: TensorInfo | undefined,
  headSize: number): Promise<RopeScaling | undefined> {
  const type = meta(`${arch}.rope.scaling.type`);
  if (type !== undefined && !GGUF_ROPE_SCALINGS.includes(String(type))) {
    throw new UnsupportedModelError(src.name, `RoPE scaling '${String(type)}' (${arch}.rope.scaling.type) is not supported; supported: ` +
      `${GGUF_ROPE_SCALINGS.join(', ')}, and Llama 3's as llama.cpp writes it (the ${ROPE_FREQS} tensor)`);
  }
  const key = meta(`${arch}.rope.scaling.factor`) !== undefined ? 'rope.scaling.factor' : 'rope.scale_linear';
  const stated = meta(`${arch}.${key}`);
  if (stated !== undefined && !(typeof stated === 'number' && Number.isFinite(stated) && stated >= 0)) {
    throw new ModelConfigError(`${arch}.${key}`, `must be a number >= 0, got ${String(stated)}`, src.name);
  }
  const linear = stated === undefined || stated === 0 ? 1 : shortestF32Decimal(stated); // 0: unset, as llama.cpp reads it
  if (!freqs) return linear === 1 ? undefined : { type: 'linear', factor: linear };
  // (An uneven head size is left to llamaConfig, which names dim and nHeads.)
  if (Number.isInteger(headSize / 2) && (freqs.shape.length !== 1 || freqs.shape[0] !== headSize / 2)) {
    throw new CheckpointFormatError(src.name, freqs.start, `tensor ${ROPE_FREQS} has shape [${freqs.shape.join(', ')}], expected [${headSize / 2}] ` +
      `(one RoPE frequency divisor per pair of the ${headSize}-wide heads)`);
  }
  const divisors = await readTensor(src, freqs);
  return { type: 'freq-factors', factors: Array.from(divisors, (d) => d * linear) };
}

/** GGUF stores floats as f32: 1e-5 arrives as 9.99999974e-6. Take the shortest decimal with the same f32. */
function shortestF32Decimal(v: number): number {
  for (let digits = 1; digits < 17; digits++) {
    const d = Number(v.toPrecision(digits));
    if (Math.fround(d) === Math.fround(v)) return d;
  }
  return v;
}

/** The GGUF tensor name of every weight of `c`. */
function ggufWeightNames(c: LlamaConfig): Record<string, string> {
  const layer: Record<string, string> = {
    attnNorm: 'attn_norm.weight', wq: 'attn_q.weight', wk: 'attn_k.weight', wv: 'attn_v.weight',
    bq: 'attn_q.bias', bk: 'attn_k.bias', bv: 'attn_v.bias', qNorm: 'attn_q_norm.weight', kNorm: 'attn_k_norm.weight', wo: 'attn_output.weight',
    ffnNorm: 'ffn_norm.weight', w1: 'ffn_gate.weight', w2: 'ffn_down.weight', w3: 'ffn_up.weight',
  };
  const global: Record<string, string> = { tokEmbedding: 'token_embd.weight', finalNorm: 'output_norm.weight', classifier: 'output.weight' };
  const names: Record<string, string> = {};
  for (const name of Object.keys(llamaWeightShapes(c))) {
    const m = /^layers\.(\d+)\.(\w+)$/.exec(name);
    names[name] = m ? `blk.${m[1]}.${layer[m[2]]}` : global[name];
  }
  return names;
}

async function readHeader(src: ByteSource): Promise<{ metadata: Record<string, unknown>; infos: Map<string, TensorInfo> }> {
  // The library reads through HTTP range requests; answering them from `src` lets it parse a buffer or a File.
  const rangeFetch = async (_input: unknown, init?: { headers?: unknown }): Promise<Response> => {
    const range = new Headers(init?.headers as HeadersInit).get('Range') ?? '';
    const m = /bytes=(\d+)-(\d+)/.exec(range);
    const start = Math.min(m ? Number(m[1]) : 0, src.size);
    const end = Math.min(m ? Number(m[2]) + 1 : src.size, src.size);
    const body = await src.read(start, end);
    return new Response(body.slice(), { status: 206, headers: { 'Content-Range': `bytes ${start}-${Math.max(start, end - 1)}/${src.size}` } });
  };
  let parsed;
  try {
    parsed = await parseGgufHeader(`https://gguf.invalid/${encodeURIComponent(src.name)}`, { fetch: rangeFetch as typeof fetch });
  } catch (e) {
    throw new CheckpointFormatError(src.name, 0, `not a readable GGUF file: ${(e as Error).message}`);
  }
  const base = Number(parsed.tensorDataOffset);
  const infos = new Map<string, TensorInfo>();
  for (const t of parsed.tensorInfos) {
    infos.set(t.name, { name: t.name, shape: t.shape.map(Number).reverse(), dtype: t.dtype, start: base + Number(t.offset) });
  }
  return { metadata: parsed.metadata as Record<string, unknown>, infos };
}

async function readTensor(src: ByteSource, t: TensorInfo): Promise<Float32Array> {
  const count = t.shape.reduce((a, b) => a * b, 1);
  const type = GGML_TYPES.get(t.dtype);
  if (!type) {
    const typeName = (GGMLQuantizationType as unknown as Record<number, string>)[t.dtype] ?? `type ${t.dtype}`;
    throw new UnsupportedModelError(src.name, `tensor ${t.name} is ${typeName}; supported tensor types: ${SUPPORTED_GGML_TYPE_NAMES} ` +
      '(re-quantise the model with llama-quantize to one of them, e.g. Q4_K_M or Q8_0)');
  }
  // Blocks never span rows (GGUF's fastest dim), so each row must be whole blocks; this also makes count whole blocks.
  const rowLength = t.shape.at(-1) ?? 1;
  if (rowLength % type.blockValues !== 0) {
    throw new CheckpointFormatError(src.name, t.start, `tensor ${t.name}: ${type.name} rows of ${rowLength} values are not whole ${type.blockValues}-value blocks`);
  }
  const size = (count / type.blockValues) * type.blockBytes;
  if (t.start + size > src.size) {
    throw new CheckpointFormatError(src.name, t.start, `tensor ${t.name} (${type.name} [${t.shape.join(', ')}]) needs bytes ${formatCount(t.start)}..${formatCount(t.start + size)}, ` +
      `but the file ends at ${formatCount(src.size)}; it is truncated`);
  }
  return type.decode(await src.read(t.start, t.start + size), count);
}

// ---- the embedded tokenizer -----------------------------------------------------------------------------

/** tokenizer.ggml.token_type: SentencePiece's piece types (llama.cpp copies them). */
const TOKEN_TYPE = PIECE_TYPE;

export function ggufTokenizer(metadata: Record<string, unknown>, file: string): Tokenizer {
  const model = metadata['tokenizer.ggml.model'];
  const tokens = metadata['tokenizer.ggml.tokens'] as string[] | undefined;
  if (!Array.isArray(tokens)) throw new TokenizerFormatError(file, 0, 'has no tokenizer.ggml.tokens; the GGUF file embeds no tokenizer');
  const id = (key: string) => (metadata[key] === undefined ? undefined : Number(metadata[key]));
  const types = (metadata['tokenizer.ggml.token_type'] as number[] | undefined) ?? tokens.map(() => TOKEN_TYPE.NORMAL);
  if (model === 'llama') {
    if (metadata['tokenizer.ggml.add_space_prefix'] === false) {
      throw new UnsupportedModelError(file, "SentencePiece tokenizer with add_space_prefix false is not supported (the llama2.c algorithm always adds the dummy prefix)");
    }
    const scores = Float32Array.from((metadata['tokenizer.ggml.scores'] as number[] | undefined) ?? tokens.map(() => 0));
    return new SentencePieceTokenizer(tokens, scores, types, id('tokenizer.ggml.bos_token_id') ?? 1, id('tokenizer.ggml.eos_token_id') ?? 2, file);
  }
  if (model === 'gpt2') {
    const { tokenizerJson, tokenizerConfig } = gpt2TokenizerJson(metadata, tokens, types, file);
    return new HfTokenizer(tokenizerJson, tokenizerConfig, { name: `${file} (tokenizer.ggml)`, bosTokenId: id('tokenizer.ggml.bos_token_id'), eosTokenId: id('tokenizer.ggml.eos_token_id') });
  }
  throw new UnsupportedModelError(file, `GGUF tokenizer type '${String(model)}' is not supported yet; supported: llama (SentencePiece), gpt2 (byte-level BPE)`);
}

/**
 * Pre-tokenizer regexes by tokenizer.ggml.pre (llama.cpp's table), as tokenizer.json Split/ByteLevel steps.
 * GPT-2's own pattern is what ByteLevel applies with use_regex true.
 */
const CONTRACTIONS = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
const LLAMA3_PATTERN = `${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;
const QWEN2_PATTERN = `${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;
const split = (regex: string) => ({ type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false });
const byteLevel = (useRegex: boolean) => ({ type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: useRegex });
const PRE_TOKENIZERS: Record<string, { steps: unknown[]; ignoreMerges?: boolean }> = {
  gpt2: { steps: [byteLevel(true)] },
  smollm: { steps: [{ type: 'Digits', individual_digits: true }, byteLevel(true)] },
  'llama-bpe': { steps: [split(LLAMA3_PATTERN), byteLevel(false)], ignoreMerges: true },
  qwen2: { steps: [split(QWEN2_PATTERN), byteLevel(false)] },
};
for (const alias of ['mpt', 'olmo']) PRE_TOKENIZERS[alias] = PRE_TOKENIZERS.gpt2;
for (const alias of ['starcoder', 'refact', 'codeshell']) PRE_TOKENIZERS[alias] = PRE_TOKENIZERS.smollm;
for (const alias of ['llama3', 'dbrx', 'smaug-bpe']) PRE_TOKENIZERS[alias] = PRE_TOKENIZERS['llama-bpe'];
PRE_TOKENIZERS.stablelm2 = PRE_TOKENIZERS.qwen2;

/** tokenizer.ggml.model 'gpt2' (byte-level BPE) rebuilt as the tokenizer.json it was converted from. */
function gpt2TokenizerJson(metadata: Record<string, unknown>, tokens: string[], types: readonly number[], file: string): { tokenizerJson: TokenizerJson; tokenizerConfig: Record<string, unknown> } {
  const pre = String(metadata['tokenizer.ggml.pre'] ?? 'gpt2');
  const preTokenizer = PRE_TOKENIZERS[pre];
  if (!preTokenizer) {
    throw new UnsupportedModelError(file, `GGUF byte-level BPE pre-tokenizer '${pre}' is not supported yet; supported: ${Object.keys(PRE_TOKENIZERS).join(', ')}`);
  }
  const merges = metadata['tokenizer.ggml.merges'];
  if (!Array.isArray(merges)) throw new TokenizerFormatError(file, 0, "a 'gpt2' tokenizer needs tokenizer.ggml.merges");
  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => (t in vocab ? undefined : (vocab[t] = i)));
  const added = tokens.flatMap((content, id) => (types[id] === TOKEN_TYPE.CONTROL || types[id] === TOKEN_TYPE.USER_DEFINED
    ? [{ id, content, single_word: false, lstrip: false, rstrip: false, normalized: types[id] === TOKEN_TYPE.USER_DEFINED, special: types[id] === TOKEN_TYPE.CONTROL }]
    : []));
  const tokenizerJson: TokenizerJson = {
    version: '1.0',
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: 'Sequence', pretokenizers: preTokenizer.steps },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: preTokenizer.ignoreMerges ?? false, vocab, merges,
    },
  };
  const tokenAt = (key: string) => (metadata[key] === undefined ? undefined : tokens[Number(metadata[key])]);
  const tokenizerConfig: Record<string, unknown> = {
    bos_token: tokenAt('tokenizer.ggml.bos_token_id') ?? null,
    eos_token: tokenAt('tokenizer.ggml.eos_token_id') ?? null,
    add_bos_token: metadata['tokenizer.ggml.add_bos_token'] === true,
    clean_up_tokenization_spaces: false,
    chat_template: metadata['tokenizer.chat_template'],
  };
  return { tokenizerJson, tokenizerConfig };
}
