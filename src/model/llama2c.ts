// llama2.c version-0 checkpoints (Karpathy's `export.py --version 0`, the tinyllamas files):
// a header of 7 little-endian int32 — dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len —
// then f32 arrays grouped by kind across layers (all rms_att, then all wq, ...). A negative vocab_size
// means an untied classifier follows the legacy RoPE tables.

import { type LlamaConfig, headDim, llamaConfig } from './config.ts';
import { CheckpointFormatError, ModelConfigError, formatCount } from './errors.ts';
import { type LlamaWeights, type Shape, llamaWeightShapes, shapeSize } from './weights.ts';

const HEADER_FIELDS = ['dim', 'hidden_dim', 'n_layers', 'n_heads', 'n_kv_heads', 'vocab_size', 'seq_len'] as const;
const HEADER_BYTES = HEADER_FIELDS.length * 4;
/** First uint32 of llama2.c version >= 1 exports ("ak42"). */
const LEGACY_VERSIONED_MAGIC = 0x616b3432;

export interface Llama2cOptions {
  /** File name used in error messages. */
  name?: string;
}

/** One stored array: where it starts, what it is. `name` null marks the skipped RoPE tables. */
interface Segment {
  name: string | null;
  shape: Shape;
  offset: number;
}

/**
 * Parses a version-0 checkpoint. The returned tensors are views into `bytes` when it is 4-byte aligned
 * (no copy of a large file); do not reuse the buffer while the weights are in use.
 */
export function parseLlama2cCheckpoint(bytes: ArrayBuffer | Uint8Array, options: Llama2cOptions = {}): LlamaWeights {
  const file = options.name ?? 'llama2.c checkpoint';
  let u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (u8.byteOffset % 4 !== 0) u8 = u8.slice(); // Float32Array views need 4-byte alignment
  if (u8.byteLength < HEADER_BYTES) {
    throw new CheckpointFormatError(file, u8.byteLength, `expected a ${HEADER_BYTES}-byte header of 7 int32, got ${formatCount(u8.byteLength)} bytes`);
  }
  const view = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  const header = HEADER_FIELDS.map((_, i) => view.getInt32(i * 4, true));
  if (view.getUint32(0, true) === LEGACY_VERSIONED_MAGIC) {
    throw new CheckpointFormatError(file, 0, `starts with the magic "ak42" of a llama2.c version-${view.getInt32(4, true)} export; only version 0 ` +
      '(the legacy format) is supported: re-export with `python export.py out.bin --version 0 ...`');
  }
  const config = configFromHeader(file, header);
  const segments = layout(config);
  const last = segments[segments.length - 1];
  const expected = last.offset + 4 * shapeSize(last.shape);

  if (u8.byteLength !== expected) {
    const sizes = HEADER_FIELDS.map((f, i) => `${f}=${Math.abs(header[i])}`).join(', ');
    let where: string;
    if (u8.byteLength < expected) {
      const cut = segments.find((s) => s.offset + 4 * shapeSize(s.shape) > u8.byteLength)!;
      where = `the file ends at byte ${formatCount(u8.byteLength)}, inside ${cut.name ?? 'the legacy RoPE tables'} ` +
        `(bytes ${formatCount(cut.offset)}..${formatCount(cut.offset + 4 * shapeSize(cut.shape))}); it is truncated`;
    } else {
      const extra = u8.byteLength - expected;
      where = `${formatCount(extra)} bytes follow the last tensor`;
      if (config.tiedEmbeddings && extra === 4 * config.vocabSize * config.dim) {
        where += ' — exactly an untied classifier; the header\'s vocab_size should then be negative';
      }
    }
    throw new CheckpointFormatError(file, Math.min(u8.byteLength, expected),
      `expected ${formatCount(expected)} bytes for ${sizes} (${config.tiedEmbeddings ? 'tied' : 'untied'} classifier), ` +
      `got ${formatCount(u8.byteLength)}: ${where}`);
  }

  const tensors: Record<string, Float32Array> = {};
  for (const s of segments) {
    // The RoPE tables (name null) are skipped: every consumer recomputes them from ropeTheta.
    if (s.name !== null) tensors[s.name] = new Float32Array(u8.buffer, u8.byteOffset + s.offset, shapeSize(s.shape));
  }
  return { config, tensors, shapes: llamaWeightShapes(config) };
}

function configFromHeader(file: string, header: number[]): LlamaConfig {
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocab, maxSeqLen] = header;
  for (let i = 0; i < header.length; i++) {
    const v = HEADER_FIELDS[i] === 'vocab_size' ? Math.abs(header[i]) : header[i];
    if (v <= 0 || v > 1 << 24) {
      throw new CheckpointFormatError(file, i * 4, `header field ${HEADER_FIELDS[i]} (int32 at byte ${i * 4}) is ${header[i]}; ` +
        'expected a positive size — this is not a llama2.c version-0 checkpoint');
    }
  }
  try {
    return llamaConfig({ dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize: Math.abs(vocab), maxSeqLen, tiedEmbeddings: vocab > 0 }, file);
  } catch (e) {
    if (!(e instanceof ModelConfigError)) throw e;
    const index = ['dim', 'hiddenDim', 'nLayers', 'nHeads', 'nKvHeads', 'vocabSize', 'maxSeqLen'].indexOf(e.field);
    throw new CheckpointFormatError(file, Math.max(0, index) * 4, `header describes an impossible model: ${e.message}`);
  }
}

/** Byte offsets of every stored array, in file order. */
function layout(c: LlamaConfig): Segment[] {
  const shapes = llamaWeightShapes(c);
  const perLayer = (kind: string) => Array.from({ length: c.nLayers }, (_, i) => `layers.${i}.${kind}`);
  const names: (string | null)[] = [
    'tokEmbedding',
    ...['attnNorm', 'wq', 'wk', 'wv', 'wo', 'ffnNorm', 'w1', 'w2', 'w3'].flatMap(perLayer),
    'finalNorm',
    null, // freq_cis_real and freq_cis_imag, [seq_len, head_size/2] each
    ...(c.tiedEmbeddings ? [] : ['classifier']),
  ];
  let offset = HEADER_BYTES;
  return names.map((name) => {
    const shape = name === null ? [2, c.maxSeqLen, headDim(c) / 2] : shapes[name];
    const segment = { name, shape, offset };
    offset += 4 * shapeSize(shape);
    return segment;
  });
}
