// Hugging Face model folders: config.json (hf-config.ts: Llama, Qwen2, Qwen3, Mistral), model.safetensors
// or a sharded model.safetensors.index.json, tokenizer.json + tokenizer_config.json. HF checkpoints use the
// rotate-half RoPE layout, so their config says ropeLayout 'half' and q/k rows are taken as stored.

import type { LlamaConfig } from './config.ts';
import { CheckpointFormatError, ModelConfigError, UnsupportedModelError, UnusedTensorsError, WeightMismatchError, formatCount } from './errors.ts';
import { hfConfigToLlama } from './hf-config.ts';
import { type ByteSource, type SafetensorsEntry, byteSource, readSafetensor, readSafetensorsHeader, safetensorToF32 } from './safetensors.ts';
import { type HfTokenizer, parseHfTokenizer } from './tokenizer-hf.ts';
import { type SentencePieceTokenizer, parseSentencePieceTokenizer } from './tokenizer-spm.ts';
import { type LlamaWeights, llamaWeightShapes } from './weights.ts';

export { SUPPORTED_HF_ARCHITECTURES, hfConfigToLlama, llamaToHfConfig } from './hf-config.ts';

type Json = Record<string, unknown>;

const LAYER_TENSORS: Record<string, string> = {
  attnNorm: 'input_layernorm.weight',
  wq: 'self_attn.q_proj.weight',
  wk: 'self_attn.k_proj.weight',
  wv: 'self_attn.v_proj.weight',
  bq: 'self_attn.q_proj.bias',
  bk: 'self_attn.k_proj.bias',
  bv: 'self_attn.v_proj.bias',
  qNorm: 'self_attn.q_norm.weight',
  kNorm: 'self_attn.k_norm.weight',
  wo: 'self_attn.o_proj.weight',
  ffnNorm: 'post_attention_layernorm.weight',
  w1: 'mlp.gate_proj.weight',
  w2: 'mlp.down_proj.weight',
  w3: 'mlp.up_proj.weight',
};

/** The HF tensor name of a project weight name (see weights.ts). */
export function hfTensorName(name: string): string {
  if (name === 'tokEmbedding') return 'model.embed_tokens.weight';
  if (name === 'finalNorm') return 'model.norm.weight';
  if (name === 'classifier') return 'lm_head.weight';
  const m = /^layers\.(\d+)\.(\w+)$/.exec(name);
  const suffix = m && LAYER_TENSORS[m[2]];
  if (!suffix) throw new RangeError(`no Hugging Face name for weight '${name}'`);
  return `model.layers.${m[1]}.${suffix}`;
}

export interface NamedTensor {
  shape: readonly number[];
  /** Converts the stored values to f32 (called once per weight). */
  toF32(): Float32Array;
  /** The file it lives in, for messages. */
  file: string;
}

/**
 * Gathers every weight of `config` through `lookup(checkpoint name)`, checking shapes. Call
 * checkLayerCount first (this builds per-layer tables) and checkUnusedTensors after.
 */
export function collectWeights(config: LlamaConfig, lookup: (name: string) => NamedTensor | undefined, nameOf: (name: string) => string,
  source: string): LlamaWeights {
  const shapes = llamaWeightShapes(config);
  const tensors: Record<string, Float32Array> = {};
  for (const [name, shape] of Object.entries(shapes)) {
    const stored = nameOf(name);
    const t = lookup(stored);
    if (!t) throw new WeightMismatchError(source, stored, shape, null);
    if (!sameShape(t.shape, shape)) throw new WeightMismatchError(t.file, stored, shape, t.shape);
    tensors[name] = t.toF32();
  }
  return { config, tensors, shapes };
}

/** 1 + the highest layer index among `names` (the first group of `pattern`), 0 when none is a layer tensor. */
export function storedLayerCount(names: Iterable<string>, pattern: RegExp): number {
  let count = 0;
  for (const name of names) {
    const m = pattern.exec(name);
    if (m) count = Math.max(count, Number(m[1]) + 1);
  }
  return count;
}

/**
 * A config's layer count against the layers the checkpoint stores, before anything is built per layer:
 * a config claiming a million layers over five fails at once, and so does one claiming four over five.
 */
export function checkLayerCount(declared: number, stored: number, field: string, configSource: string, weightsSource: string, layerPrefix: string): void {
  if (declared === stored) return;
  const what = stored === 0 ? 'no layer tensors' : `${formatCount(stored)} layer${stored === 1 ? '' : 's'} (${layerPrefix}0${stored > 1 ? ` .. ${layerPrefix}${stored - 1}` : ''})`;
  throw new ModelConfigError(field, `is ${formatCount(declared)}, but ${weightsSource} stores ${what}; the config does not describe these weights`, configSource);
}

/**
 * Every tensor the checkpoint stores must be a weight of the model: the rest are an UnusedTensorsError
 * naming them, except the ones `harmless` gives a reason for, which come back as warnings (one per reason).
 */
export function checkUnusedTensors(stored: Iterable<string>, used: ReadonlySet<string>, source: string,
  harmless: (name: string) => string | undefined = () => undefined): string[] {
  const unused: string[] = [];
  const ignored = new Map<string, string[]>();
  for (const name of new Set(stored)) {
    if (used.has(name)) continue;
    const reason = harmless(name);
    if (reason === undefined) unused.push(name);
    else ignored.set(reason, [...(ignored.get(reason) ?? []), name]);
  }
  if (unused.length > 0) {
    const shown = unused.slice(0, 8).join(', ') + (unused.length > 8 ? ` and ${formatCount(unused.length - 8)} more` : '');
    throw new UnusedTensorsError(source, unused, `${formatCount(unused.length)} stored tensor${unused.length === 1 ? ' is' : 's are'} not used by the model ` +
      `the config describes: ${shown}; the config does not match these weights, or the checkpoint has parts this runtime does not implement`);
  }
  return [...ignored].map(([reason, names]) => `${source}: ignoring ${names.length === 1 ? names[0] : `${formatCount(names.length)} tensors (${names.slice(0, 3).join(', ')}${names.length > 3 ? ', ...' : ''})`}: ${reason}`);
}

/** HF tensors a Llama/Qwen2 model may carry without using them. */
function harmlessHfTensor(config: LlamaConfig): (name: string) => string | undefined {
  return (name) => {
    if (/(^|\.)rotary_emb\.inv_freq$/.test(name)) return 'rotary inv_freq buffers are recomputed from rope_theta';
    if (name === 'lm_head.weight' && config.tiedEmbeddings) return 'tie_word_embeddings is true, so the classifier is model.embed_tokens.weight (as in transformers)';
    return undefined;
  };
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Reads one file of the folder by relative name; null when the folder has no such file. */
export type ReadFile = (file: string) => Promise<Uint8Array | null>;

/** Opens one file of the folder for reading by byte ranges; null when the folder has no such file. */
export type OpenFile = (file: string) => Promise<ByteSource | null>;

export interface HfModel {
  config: LlamaConfig;
  weights: LlamaWeights;
  /** tokenizer.json's; else, for a folder with only tokenizer.model (SentencePiece BPE), that one's. */
  tokenizer: HfTokenizer | SentencePieceTokenizer;
  /** config.json as read. */
  hfConfig: Json;
  /** Things loaded but ignored, e.g. rotary inv_freq buffers: for the user to see, not errors. */
  warnings: string[];
}

const decoder = new TextDecoder();

function parseJson(bytes: Uint8Array, file: string): Json {
  try {
    const v = JSON.parse(decoder.decode(bytes));
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Json;
  } catch (e) {
    throw new CheckpointFormatError(file, 0, `not valid JSON: ${(e as Error).message}`);
  }
  throw new CheckpointFormatError(file, 0, 'expected a JSON object');
}

/**
 * Loads a HF folder through `read` (local directory, URL base or a set of dropped files). `open`, when
 * given, reads the weight files by byte ranges instead of whole (local files, cached downloads, Files).
 */
export async function loadHfFolder(read: ReadFile, folder = 'model folder', open?: OpenFile): Promise<HfModel> {
  const at = (file: string) => `${folder}/${file}`;
  const required = async (file: string, why: string) => {
    const bytes = await read(file);
    if (!bytes) throw new CheckpointFormatError(at(file), 0, `missing: ${why}`);
    return bytes;
  };
  const hfConfig = parseJson(await required('config.json', 'a Hugging Face model folder needs config.json'), at('config.json'));
  const config = hfConfigToLlama(hfConfig, at('config.json'));

  // Weights are read by byte ranges: each file's header, then one needed tensor at a time (never a whole
  // multi-GB file in one buffer). Without `open`, a file read whole stands in for its byte source.
  const openWeights = async (file: string): Promise<ByteSource | null> => {
    if (open) {
      const src = await open(file);
      return src && { name: at(file), size: src.size, read: (start, end) => src.read(start, end) };
    }
    const bytes = await read(file);
    return bytes && byteSource(bytes, at(file));
  };
  const sources = new Map<string, ByteSource>();
  const files = new Map<string, Map<string, SafetensorsEntry>>();
  const single = await openWeights('model.safetensors');
  let where: (name: string) => string | undefined;
  let index: Json | undefined;
  if (single) {
    sources.set('model.safetensors', single);
    files.set('model.safetensors', (await readSafetensorsHeader(single)).tensors);
    where = (name) => (files.get('model.safetensors')!.has(name) ? 'model.safetensors' : undefined);
  } else {
    const indexFile = 'model.safetensors.index.json';
    index = parseJson(await required(indexFile, 'neither model.safetensors nor model.safetensors.index.json is in the folder'), at(indexFile));
    const weightMap = index.weight_map as Record<string, unknown> | undefined;
    if (typeof weightMap !== 'object' || weightMap === null) throw new CheckpointFormatError(at(indexFile), 0, 'has no "weight_map" object');
    for (const shard of new Set(Object.values(weightMap))) {
      if (typeof shard !== 'string' || shard.includes('..') || shard.startsWith('/')) throw new CheckpointFormatError(at(indexFile), 0, `weight_map names an invalid shard ${JSON.stringify(shard)}`);
      const src = await openWeights(shard);
      if (!src) throw new CheckpointFormatError(at(shard), 0, `missing: named by ${indexFile}`);
      sources.set(shard, src);
      files.set(shard, (await readSafetensorsHeader(src)).tensors);
    }
    where = (name) => weightMap[name] as string | undefined;
  }
  const source = single ? at('model.safetensors') : at('model.safetensors.index.json');
  const stored = [...files.values()].flatMap((tensors) => [...tensors.keys()]);
  if (!single) stored.push(...Object.keys(index!.weight_map as Json));
  checkLayerCount(config.nLayers, storedLayerCount(stored, /^model\.layers\.(\d+)\./), 'num_hidden_layers', at('config.json'),
    single ? at('model.safetensors') : `the shards of ${at('model.safetensors.index.json')}`, 'model.layers.');

  // Read (and convert to f32) each weight of the right shape; collectWeights reports the missing and mis-shaped.
  const loaded = new Map<string, NamedTensor>();
  for (const [name, shape] of Object.entries(llamaWeightShapes(config))) {
    const hfName = hfTensorName(name);
    const file = where(hfName);
    const entry = file === undefined ? undefined : files.get(file)?.get(hfName);
    if (!entry) continue;
    let values: Float32Array | undefined;
    if (sameShape(entry.shape, shape)) values = safetensorToF32(await readSafetensor(sources.get(file!)!, entry), at(file!));
    loaded.set(hfName, { shape: entry.shape, file: at(file!), toF32: () => values! });
  }
  const weights = collectWeights(config, (name) => loaded.get(name), hfTensorName, source);
  const warnings = checkUnusedTensors(stored, new Set(Object.keys(weights.shapes).map(hfTensorName)), source, harmlessHfTensor(config));

  const tokenizer = await folderTokenizer(read, folder, hfConfig);
  return { config, weights, tokenizer, hfConfig, warnings };
}

/** tokenizer.json (+ tokenizer_config.json); else tokenizer.model, as the slow Llama tokenizer reads it. */
async function folderTokenizer(read: ReadFile, folder: string, hfConfig: Json): Promise<HfTokenizer | SentencePieceTokenizer> {
  const at = (file: string) => `${folder}/${file}`;
  const bosTokenId = typeof hfConfig.bos_token_id === 'number' ? hfConfig.bos_token_id : undefined;
  const eosTokenId = hfConfig.eos_token_id as number | number[] | undefined;
  const tokenizerConfig = await read('tokenizer_config.json');
  const tokenizerBytes = await read('tokenizer.json');
  if (tokenizerBytes) {
    return parseHfTokenizer(decoder.decode(tokenizerBytes), tokenizerConfig ? decoder.decode(tokenizerConfig) : {}, { name: at('tokenizer.json'), bosTokenId, eosTokenId });
  }
  const model = await read('tokenizer.model');
  if (!model) throw new UnsupportedModelError(folder, 'has no tokenizer: neither tokenizer.json nor tokenizer.model');
  const tokenizer = parseSentencePieceTokenizer(model, at('tokenizer.model'), { bosId: bosTokenId, eosId: Array.isArray(eosTokenId) ? eosTokenId[0] : eosTokenId });
  const template = tokenizerConfig ? parseJson(tokenizerConfig, at('tokenizer_config.json')).chat_template : undefined;
  if (typeof template === 'string') tokenizer.chatTemplate = template;
  return tokenizer;
}

// ---- RoPE layouts --------------------------------------------------------------------------------------

/**
 * Interleaved -> rotate-half for the rows of a q/k projection (or its bias, cols = 1): within each head of
 * size hd, row 2i moves to row i and row 2i+1 to row i + hd/2. Applying the same permutation to q and k
 * leaves every q·k product unchanged, and maps pair (2i, 2i+1) onto pair (i, i + hd/2) of the same frequency.
 */
export function interleavedToHalf(w: Float32Array, nHeads: number, cols: number): Float32Array {
  return permuteHeadRows(w, nHeads, cols, (i, hd) => (i % 2 === 0 ? i / 2 : hd / 2 + (i - 1) / 2));
}

/** Rotate-half -> interleaved (the inverse; what llama.cpp's converter applies to HF q/k weights). */
export function halfToInterleaved(w: Float32Array, nHeads: number, cols: number): Float32Array {
  return permuteHeadRows(w, nHeads, cols, (i, hd) => (i < hd / 2 ? 2 * i : 2 * (i - hd / 2) + 1));
}

/** out row (h, dest(i)) = in row (h, i). */
function permuteHeadRows(w: Float32Array, nHeads: number, cols: number, dest: (i: number, hd: number) => number): Float32Array {
  const rows = w.length / cols, hd = rows / nHeads;
  if (!Number.isInteger(hd) || hd % 2 !== 0) throw new RangeError(`${rows} rows do not split into ${nHeads} heads of even size`);
  const out = new Float32Array(w.length);
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < hd; i++) {
      const from = (h * hd + i) * cols, to = (h * hd + dest(i, hd)) * cols;
      out.set(w.subarray(from, from + cols), to);
    }
  }
  return out;
}

/**
 * The same model with wq/wk (and bq/bk) rows permuted into `layout`, and the per-head q/k norm weights
 * (qkNorm) with them: a norm over a head's features commutes with permuting them if its weights follow.
 * Other tensors are shared, not copied.
 */
export function withRopeLayout(model: LlamaWeights, layout: LlamaConfig['ropeLayout']): LlamaWeights {
  const c = model.config;
  if (c.ropeLayout === layout) return model;
  const permute = layout === 'half' ? interleavedToHalf : halfToInterleaved;
  const config = { ...c, ropeLayout: layout };
  const tensors = { ...model.tensors };
  for (let l = 0; l < c.nLayers; l++) {
    const p = `layers.${l}.`;
    tensors[p + 'wq'] = permute(tensors[p + 'wq'], c.nHeads, c.dim);
    tensors[p + 'wk'] = permute(tensors[p + 'wk'], c.nKvHeads, c.dim);
    if (c.attentionBias) {
      tensors[p + 'bq'] = permute(tensors[p + 'bq'], c.nHeads, 1);
      tensors[p + 'bk'] = permute(tensors[p + 'bk'], c.nKvHeads, 1);
    }
    if (c.qkNorm) {
      tensors[p + 'qNorm'] = permute(tensors[p + 'qNorm'], 1, 1);
      tensors[p + 'kNorm'] = permute(tensors[p + 'kNorm'], 1, 1);
    }
  }
  return { config, tensors, shapes: model.shapes };
}
