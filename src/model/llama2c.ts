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

/**
 * The stored arrays in file order, one group per kind: a per-layer kind (all layers' wq, ...) is one group
 * of `count` equal arrays. Built from sizes alone, so a header claiming a million layers costs nothing.
 * `name` null marks the skipped RoPE tables.
 */
interface Group {
  name: string | null;
  /** A per-layer kind ('wq' stands for layers.0.wq, layers.1.wq, ...). */
  perLayer: boolean;
  /** Arrays in the group: nLayers for a per-layer kind, else 1. */
  count: number;
  /** Shape of each array. */
  shape: Shape;
  offset: number;
  /** Bytes of each array. */
  bytes: number;
}

const LAYER_KINDS = ['attnNorm', 'wq', 'wk', 'wv', 'wo', 'ffnNorm', 'w1', 'w2', 'w3'] as const;

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
  // The header's sizes are checked against the file size before anything per layer is built.
  const groups = layout(config);
  const last = groups[groups.length - 1];
  const expected = last.offset + last.count * last.bytes;
  if (u8.byteLength !== expected) throw sizeMismatch(file, header, config, groups, expected, u8.byteLength);

  const tensors: Record<string, Float32Array> = {};
  for (const g of groups) {
    // The RoPE tables (name null) are skipped: every consumer recomputes them from ropeTheta.
    if (g.name === null) continue;
    for (let i = 0; i < g.count; i++) {
      tensors[g.perLayer ? `layers.${i}.${g.name}` : g.name] = new Float32Array(u8.buffer, u8.byteOffset + g.offset + i * g.bytes, shapeSize(g.shape));
    }
  }
  return { config, tensors, shapes: llamaWeightShapes(config) };
}

/** Why a file's size differs from what its header promises: a wrong n_layers, a truncation or extra bytes. */
function sizeMismatch(file: string, header: number[], config: LlamaConfig, groups: Group[], expected: number, size: number): CheckpointFormatError {
  const sizes = HEADER_FIELDS.map((f, i) => `${f}=${Math.abs(header[i])}`).join(', ');
  const classifier = `${config.tiedEmbeddings ? 'tied' : 'untied'} classifier`;
  // With every other size taken as stated, how many whole layers does the file hold?
  const perLayer = groups.filter((g) => g.perLayer).reduce((n, g) => n + g.bytes, 0);
  const fixed = expected - config.nLayers * perLayer;
  const layers = (size - fixed) / perLayer;
  if (Number.isSafeInteger(layers) && layers > 0) {
    return new CheckpointFormatError(file, 8, `header field n_layers (int32 at byte 8) is ${formatCount(config.nLayers)}, but the file's ` +
      `${formatCount(size)} bytes hold exactly ${formatCount(layers)} layers of the other sizes in the header (${sizes}, ${classifier}); ` +
      `the header does not match the weights: re-export the checkpoint`, 'n_layers');
  }
  let where: string;
  if (size < expected) {
    const cut = groups.find((g) => g.offset + g.count * g.bytes > size)!;
    const i = Math.floor((size - cut.offset) / cut.bytes); // the array of the group the file ends in
    const name = cut.name === null ? 'the legacy RoPE tables' : cut.perLayer ? `layers.${i}.${cut.name}` : cut.name;
    const begin = cut.offset + i * cut.bytes;
    const end = begin + cut.bytes;
    where = `the file ends at byte ${formatCount(size)}, inside ${name} (bytes ${formatCount(begin)}..${formatCount(end)}); it is truncated`;
  } else {
    const extra = size - expected;
    where = `${formatCount(extra)} bytes follow the last tensor`;
    if (config.tiedEmbeddings && extra === 4 * config.vocabSize * config.dim) {
      where += ' — exactly an untied classifier; the header\'s vocab_size should then be negative';
    }
  }
  return new CheckpointFormatError(file, Math.min(size, expected), `expected ${formatCount(expected)} bytes for ${sizes} (${classifier}), ` +
    `got ${formatCount(size)}: ${where}`);
}

function configFromHeader(file: string, header: number[]): LlamaConfig {
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocab, maxSeqLen] = header;
  for (let i = 0; i < header.length; i++) {
    const v = HEADER_FIELDS[i] === 'vocab_size' ? Math.abs(header[i]) : header[i];
    if (v <= 0 || v > 1 << 24) {
      throw new CheckpointFormatError(file, i * 4, `header field ${HEADER_FIELDS[i]} (int32 at byte ${i * 4}) is ${header[i]}; ` +
        'expected a positive size — this is not a llama2.c version-0 checkpoint', HEADER_FIELDS[i]);
    }
  }
  try {
    return llamaConfig({ dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize: Math.abs(vocab), maxSeqLen, tiedEmbeddings: vocab > 0 }, file);
  } catch (e) {
    if (!(e instanceof ModelConfigError)) throw e;
    const index = ['dim', 'hiddenDim', 'nLayers', 'nHeads', 'nKvHeads', 'vocabSize', 'maxSeqLen'].indexOf(e.field);
    throw new CheckpointFormatError(file, Math.max(0, index) * 4, `header describes an impossible model: ${e.message}`, HEADER_FIELDS[Math.max(0, index)]);
  }
}

/** The groups of stored arrays in file order, with their byte offsets (see Group). */
function layout(c: LlamaConfig): Group[] {
  const one = llamaWeightShapes({ ...c, nLayers: 1 }); // one layer's shapes stand for every layer's
  const entries: [string | null, Shape][] = [
    ['tokEmbedding', one.tokEmbedding],
    ...LAYER_KINDS.map((kind): [string, Shape] => [kind, one[`layers.0.${kind}`]]),
    ['finalNorm', one.finalNorm],
    [null, [2, c.maxSeqLen, headDim(c) / 2]], // freq_cis_real and freq_cis_imag, [seq_len, head_size/2] each
    ...(c.tiedEmbeddings ? [] : [['classifier', one.classifier] as [string, Shape]]),
  ];
  let offset = HEADER_BYTES;
  return entries.map(([name, shape]) => {
    const perLayer = (LAYER_KINDS as readonly (string | null)[]).includes(name);
    const group = { name, perLayer, count: perLayer ? c.nLayers : 1, shape, offset, bytes: 4 * shapeSize(shape) };
    offset += group.count * group.bytes;
    return group;
  });
}
