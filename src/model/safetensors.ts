// The safetensors format (Hugging Face): an 8-byte little-endian header length N, N bytes of JSON
//   { "<name>": { "dtype": "F32", "shape": [rows, cols], "data_offsets": [begin, end] }, ..., "__metadata__": {...} }
// then the raw little-endian data; offsets are relative to the byte after the header. Like the reference
// implementation, tensors must tile the data region exactly (no gaps, no overlap, nothing after).

import { CheckpointFormatError, UnsupportedModelError, formatCount } from './errors.ts';
import { f32ToHalfBytes, f32View, halfBytesToF32 } from './dtypes.ts';

const BYTES_PER_ELEMENT: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E4M3: 1, F8_E5M2: 1,
  U16: 2, I16: 2, F16: 2, BF16: 2,
  U32: 4, I32: 4, F32: 4,
  U64: 8, I64: 8, F64: 8,
};
/** Refuse headers larger than this (the reference implementation's limit): a corrupt length, not a model. */
const MAX_HEADER_BYTES = 100_000_000;

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16';

/** Random access to a file's bytes: all of it in memory, a Blob / File read slice by slice, or a file on disk. */
export interface ByteSource {
  readonly name: string;
  readonly size: number;
  read(start: number, end: number): Promise<Uint8Array>;
}

export function byteSource(data: Uint8Array | Blob, name: string): ByteSource {
  if (data instanceof Uint8Array) return { name, size: data.byteLength, read: async (start, end) => data.subarray(start, end) };
  return { name, size: data.size, read: async (start, end) => new Uint8Array(await data.slice(start, end).arrayBuffer()) };
}

/** One tensor as the header describes it; its bytes are file[fileOffset, fileOffset + byteLength). */
export interface SafetensorsEntry {
  name: string;
  dtype: string;
  shape: number[];
  /** Where the bytes start in the file. */
  fileOffset: number;
  byteLength: number;
}

export interface SafetensorsTensor extends SafetensorsEntry {
  /** The stored bytes (a view into the file). */
  bytes: Uint8Array;
}

export interface SafetensorsFile {
  name: string;
  metadata: Record<string, string>;
  tensors: Map<string, SafetensorsTensor>;
}

/** A file's header, read and checked against the file size; tensor bytes are read on demand (readSafetensor). */
export interface SafetensorsIndex {
  name: string;
  metadata: Record<string, string>;
  tensors: Map<string, SafetensorsEntry>;
}

/** Parses and validates a whole .safetensors file held in memory. Tensor bytes are views into `bytes`. */
export function parseSafetensors(bytes: Uint8Array, name = 'model.safetensors'): SafetensorsFile {
  const fail = failer(name);
  if (bytes.byteLength < 8) fail(0, `expected an 8-byte header length, the file has ${bytes.byteLength} bytes; not a safetensors file`);
  const headerLength = checkHeaderLength(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true), bytes.byteLength, fail);
  const index = parseHeader(bytes.subarray(8, 8 + headerLength), bytes.byteLength, name);
  const tensors = new Map<string, SafetensorsTensor>();
  for (const [key, e] of index.tensors) tensors.set(key, { ...e, bytes: bytes.subarray(e.fileOffset, e.fileOffset + e.byteLength) });
  return { name, metadata: index.metadata, tensors };
}

/**
 * Reads and validates the header of a .safetensors file through `src` (two small reads), without reading
 * any tensor: a file of any size (a 1B model's 2.5 GB model.safetensors) is then read one tensor at a time.
 */
export async function readSafetensorsHeader(src: ByteSource): Promise<SafetensorsIndex> {
  const fail = failer(src.name);
  if (src.size < 8) fail(0, `expected an 8-byte header length, the file has ${src.size} bytes; not a safetensors file`);
  const head = await src.read(0, 8);
  const headerLength = checkHeaderLength(new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true), src.size, fail);
  return parseHeader(await src.read(8, 8 + headerLength), src.size, src.name);
}

/** One tensor's bytes through `src` (a copy or a view, as src gives them). */
export async function readSafetensor(src: ByteSource, entry: SafetensorsEntry): Promise<SafetensorsTensor> {
  const bytes = await src.read(entry.fileOffset, entry.fileOffset + entry.byteLength);
  if (bytes.byteLength !== entry.byteLength) {
    throw new CheckpointFormatError(src.name, entry.fileOffset, `tensor ${entry.name}: read ${formatCount(bytes.byteLength)} of its ${formatCount(entry.byteLength)} bytes; the file changed or is truncated`);
  }
  return { ...entry, bytes };
}

function failer(name: string) {
  return (at: number, detail: string): never => {
    throw new CheckpointFormatError(name, at, `${detail} (byte offset ${formatCount(at)})`);
  };
}

function checkHeaderLength(length: bigint, fileSize: number, fail: (at: number, detail: string) => never): number {
  if (length > BigInt(MAX_HEADER_BYTES)) fail(0, `header length ${length} is over the ${formatCount(MAX_HEADER_BYTES)}-byte limit; not a safetensors file`);
  const headerLength = Number(length);
  if (8 + headerLength > fileSize) {
    fail(0, `header length ${formatCount(headerLength)} runs past the end of the ${formatCount(fileSize)}-byte file; it is truncated or not safetensors`);
  }
  return headerLength;
}

/** The JSON header (the bytes after the 8-byte length) of a file of `fileSize` bytes, validated. */
function parseHeader(headerBytes: Uint8Array, fileSize: number, name: string): SafetensorsIndex {
  const fail = failer(name);
  const headerLength = headerBytes.byteLength;
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (e) {
    fail(8, `the ${formatCount(headerLength)}-byte header is not valid UTF-8 JSON: ${(e as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail(8, 'the header must be a JSON object');

  const dataStart = 8 + headerLength;
  const dataLength = fileSize - dataStart;
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, SafetensorsEntry>();
  const extents: [number, number, string][] = [];
  for (const [key, value] of Object.entries(header as Record<string, unknown>)) {
    if (key === '__metadata__') {
      if (typeof value !== 'object' || value === null) fail(8, '__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(8, `__metadata__.${k} must be a string, got ${JSON.stringify(v)}`);
        metadata[k] = v as string;
      }
      continue;
    }
    const entry = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof entry !== 'object' || entry === null) fail(8, `tensor ${key}: expected {dtype, shape, data_offsets}, got ${JSON.stringify(value)}`);
    const { dtype, shape, data_offsets: offsets } = entry;
    if (typeof dtype !== 'string' || !(dtype in BYTES_PER_ELEMENT)) fail(8, `tensor ${key}: unknown dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(8, `tensor ${key}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      fail(8, `tensor ${key}: data_offsets must be [begin, end], got ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    const expected = (shape as number[]).reduce((a, b) => a * b, 1) * BYTES_PER_ELEMENT[dtype as string];
    if (end < begin) {
      fail(dataStart + Math.min(begin, dataLength), `tensor ${key}: data_offsets [${begin}, ${end}] are reversed: the end comes before the beginning`);
    }
    if (end > dataLength) {
      fail(dataStart + Math.min(begin, dataLength), `tensor ${key}: data_offsets [${begin}, ${end}] lie outside the ${formatCount(dataLength)}-byte data region`);
    }
    if (end - begin !== expected) {
      fail(dataStart + begin, `tensor ${key}: ${dtype} [${(shape as number[]).join(', ')}] needs ${formatCount(expected)} bytes, data_offsets [${begin}, ${end}] give ${formatCount(end - begin)}`);
    }
    extents.push([begin, end, key]);
    tensors.set(key, { name: key, dtype: dtype as string, shape: shape as number[], fileOffset: dataStart + begin, byteLength: end - begin });
  }
  extents.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let covered = 0;
  for (const [begin, end, key] of extents) {
    if (begin !== covered) {
      fail(dataStart + Math.min(begin, covered), begin > covered
        ? `${formatCount(begin - covered)} bytes before tensor ${key} belong to no tensor`
        : `tensor ${key} overlaps the tensor before it`);
    }
    covered = end;
  }
  if (covered !== dataLength) fail(dataStart + covered, `${formatCount(dataLength - covered)} bytes after the last tensor belong to no tensor`);
  return { name, metadata, tensors };
}

/** A tensor's values as f32 (F32 may be a view into the file; F16/BF16 are converted). */
export function safetensorToF32(t: SafetensorsTensor, file = 'safetensors file'): Float32Array {
  const count = t.shape.reduce((a, b) => a * b, 1);
  switch (t.dtype) {
    case 'F32': return f32View(t.bytes, count);
    case 'F16': return halfBytesToF32(t.bytes, count, 'f16');
    case 'BF16': return halfBytesToF32(t.bytes, count, 'bf16');
    default:
      throw new UnsupportedModelError(file, `tensor ${t.name} is ${t.dtype}; only F32, F16 and BF16 weights are supported`);
  }
}

export interface TensorToWrite {
  shape: readonly number[];
  data: Float32Array;
  /** Stored precision (default F32); values are rounded to nearest even. */
  dtype?: SafetensorsDtype;
}

/**
 * Serialises tensors as a .safetensors file. Like the reference writer, wider dtypes come first and the
 * header is padded with spaces to a multiple of 8, so every tensor is aligned to its element size.
 */
export function writeSafetensors(tensors: Record<string, TensorToWrite>, metadata: Record<string, string> = {}): Uint8Array {
  const entries = Object.entries(tensors).map(([name, t]) => {
    const dtype = t.dtype ?? 'F32';
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new RangeError(`tensor ${name}: shape [${t.shape.join(', ')}] holds ${count} values, got ${t.data.length}`);
    const bytes = dtype === 'F32' ? new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) : f32ToHalfBytes(t.data, dtype === 'F16' ? 'f16' : 'bf16');
    return { name, dtype, shape: [...t.shape], bytes };
  });
  entries.sort((a, b) => BYTES_PER_ELEMENT[b.dtype] - BYTES_PER_ELEMENT[a.dtype] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const e of entries) {
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [offset, offset + e.bytes.byteLength] };
    offset += e.bytes.byteLength;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const withSpaces = new Uint8Array(padded).fill(0x20);
    withSpaces.set(json);
    json = withSpaces;
  }
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const e of entries) {
    out.set(e.bytes, at);
    at += e.bytes.byteLength;
  }
  return out;
}
