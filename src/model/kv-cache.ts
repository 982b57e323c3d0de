// The KV cache of incremental decoding: the keys and values of every position decoded so far, per layer,
// for a batch of sequences decoded side by side. generate.ts's decodeStep fills it one step at a time.
import type { Tensor } from '../gpu/index.ts';
import { attentionForward, type AttentionForwardResult } from '../ops/attention.ts';
import { contextLength } from './config.ts';
import type { LlamaModel } from './llama.ts';

/** Keys and values of the positions decoded so far, per layer: [batch, capacity, nKvHeads, headDim] each. */
export interface KvCache {
  keys: Tensor[];
  values: Tensor[];
  /** Sequences decoded side by side. */
  batch: number;
  capacity: number;
  /** Positions filled (the same for every sequence: shorter prompts are left-padded). */
  length: number;
  /** [batch] u32: where each left-padded sequence's real tokens start (see attentionForward's keyStart). */
  keyStart?: Tensor;
}

/**
 * A cache for `batch` sequences of up to `capacity` positions of the model (default: all it may run, contextLength). `keyStart` (one per sequence) is
 * where a left-padded sequence's real tokens begin; the cache takes ownership of its upload.
 */
export function newKvCache(model: LlamaModel, capacity = contextLength(model.config), batch = 1, keyStart?: readonly number[]): KvCache {
  const c = model.config;
  if (capacity > c.maxSeqLen) throw new RangeError(`KV cache of ${capacity} positions exceeds the model's maxSeqLen ${c.maxSeqLen}`);
  if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`KV cache batch must be a whole number >= 1, got ${batch}`);
  if (keyStart && (keyStart.length !== batch || keyStart.some((s) => !Number.isInteger(s) || s < 0 || s >= capacity))) {
    throw new RangeError(`KV cache keyStart [${keyStart.join(', ')}] must hold ${batch} positions below the capacity ${capacity}`);
  }
  const rt = model.rt;
  const shape = [batch, capacity, c.nKvHeads, model.headDim];
  return {
    keys: Array.from({ length: c.nLayers }, (_, l) => rt.zeros(shape, 'f32', `kv cache keys ${l}`)),
    values: Array.from({ length: c.nLayers }, (_, l) => rt.zeros(shape, 'f32', `kv cache values ${l}`)),
    batch,
    capacity,
    length: 0,
    keyStart: keyStart && keyStart.some((s) => s > 0) ? rt.upload(Uint32Array.from(keyStart), [batch], 'u32', 'kv cache key starts') : undefined,
  };
}

/** Frees a cache's GPU buffers. */
export function releaseKvCache(cache: KvCache): void {
  for (const t of [...cache.keys, ...cache.values]) t.release();
  cache.keyStart?.release();
}

/**
 * Layer `layer`'s attention in a decode step (LlamaModel.layerStep's `attend`): appends the step's keys and
 * values k, v [B, n, nKvHeads, headDim] to each sequence at position cache.length, then attends the queries q
 * (the last n rows) over every cached position. cache.length itself moves on after the whole step.
 */
export function attendCached(model: LlamaModel, cache: KvCache, layer: number, q: Tensor, k: Tensor, v: Tensor): AttentionForwardResult {
  const rt = model.rt;
  const [batch, n] = k.shape;
  const keys = cache.keys[layer], values = cache.values[layer];
  const rowSize = model.config.nKvHeads * model.headDim;
  for (let b = 0; b < batch; b++) {
    rt.copy(k, keys, n * rowSize, b * n * rowSize, (b * cache.capacity + cache.length) * rowSize);
    rt.copy(v, values, n * rowSize, b * n * rowSize, (b * cache.capacity + cache.length) * rowSize);
  }
  return attentionForward(rt, q, keys, values, { kvLength: cache.length + n, keyStart: cache.keyStart });
}
