// Frozen base weights kept on the GPU in a compact form (f16 pairs, or 8-/4-bit blocks like GGML's q8_0 /
// q4_0), and the matmuls that read them in place (src/shaders/matmul_packed.wgsl): the forward of a
// projection y = x·Wᵀ and the backward through it dX = dY·W. No f32 copy of W is made for either; only
// `unpackWeight` makes one, on request (export, merges). This file owns the storage layout; the host
// packing that writes it is src/model/base-dtype.ts.
import { Tensor, Uniforms, type Runtime } from '../gpu/index.ts';
import { embeddingForward } from './embedding.ts';
import { flatGrid } from './grid.ts';
import { matmul, type LowRankTerm } from './matmul.ts';

export type PackedFormat = 'f16' | 'q8' | 'q4';

/** Values per quantization block (along a row of W, the `in` side of a projection). */
export const QUANT_BLOCK = 32;
const FORMAT_ID: Record<PackedFormat, number> = { f16: 0, q8: 1, q4: 2 };
/** u32 words of quantized values per block: 32 int8 or 32 nibbles. */
const BLOCK_WORDS = { q8: 8, q4: 4 } as const;
const WG = 64;

/**
 * Where everything of a packed [rows, cols] weight lives, in u32 words. Rows are padded with zeros: f16 to
 * a multiple of 4 values, q8 / q4 to whole 32-value blocks (so any `cols` packs; the padding adds nothing
 * to a dot product). q8 / q4 data words come first, block by block in row order, then one f16 scale per
 * block, two to a word (the even block in the low half).
 */
export interface PackedLayout {
  format: PackedFormat;
  rows: number;
  cols: number;
  /** 4-value groups per padded row. */
  rowGroups: number;
  /** Data words per row. */
  rowWords: number;
  /** q8 / q4: blocks per row (0 for f16). */
  blocksPerRow: number;
  /** Word offset of the scales (= the data words). */
  scaleOffset: number;
  /** All words. */
  words: number;
}

export function packedLayout(format: PackedFormat, rows: number, cols: number): PackedLayout {
  if (format === 'f16') {
    const rowGroups = Math.ceil(cols / 4);
    const words = rows * rowGroups * 2;
    return { format, rows, cols, rowGroups, rowWords: rowGroups * 2, blocksPerRow: 0, scaleOffset: words, words };
  }
  const blocksPerRow = Math.ceil(cols / QUANT_BLOCK);
  const rowWords = blocksPerRow * BLOCK_WORDS[format];
  const scaleOffset = rows * rowWords;
  return { format, rows, cols, rowGroups: blocksPerRow * (QUANT_BLOCK / 4), rowWords, blocksPerRow, scaleOffset, words: scaleOffset + Math.ceil((rows * blocksPerRow) / 2) };
}

/** Bytes a [rows, cols] weight takes in `format` on the GPU. */
export function packedBytes(format: PackedFormat, rows: number, cols: number): number {
  return packedLayout(format, rows, cols).words * 4;
}

/** A frozen weight W [rows, cols] in a compact form: its words in one u32 buffer. */
export class PackedWeight {
  readonly layout: PackedLayout;

  constructor(
    readonly format: PackedFormat,
    /** The logical shape [rows, cols], as the f32 weight would have. */
    readonly shape: readonly [number, number],
    readonly data: Tensor,
    readonly label = data.label,
  ) {
    this.layout = packedLayout(format, shape[0], shape[1]);
    if (data.dtype !== 'u32' || data.size !== this.layout.words) {
      throw new RangeError(`${label}: ${format} [${shape.join(', ')}] takes ${this.layout.words} u32 words, got ${data}`);
    }
  }

  /** Upload host words laid out as packedLayout says. */
  static upload(rt: Runtime, format: PackedFormat, shape: readonly [number, number], words: Uint32Array, label: string): PackedWeight {
    const n = packedLayout(format, shape[0], shape[1]).words;
    if (words.length !== n) throw new RangeError(`${label}: ${format} [${shape.join(', ')}] takes ${n} u32 words, ${words.length} given`);
    return new PackedWeight(format, shape, rt.upload(words, [n], 'u32', `${label} (${format})`), label);
  }

  get byteLength(): number {
    return this.data.byteLength;
  }

  release(): void {
    this.data.release();
  }

  toString(): string {
    return `PackedWeight(${this.label}, [${this.shape.join('x')}], ${this.format})`;
  }
}

/** A frozen base weight in either storage: a plain f32 tensor or a packed one. */
export type BaseWeight = Tensor | PackedWeight;

export interface PackedMatmulOptions {
  /** Add the result into this tensor (which is returned). */
  accumulateInto?: Tensor;
  /** Write the result into this tensor instead of a new one. */
  out?: Tensor;
  /** A low-rank term added to the result, under the same transposes (matmul.ts's LowRankTerm): in the
   *  same dispatch for an f32 weight, by a second one for a packed weight. */
  lowRank?: LowRankTerm;
}

/** y = x·Wᵀ for W [out, in] in either storage: x [..., in] -> [..., out]. */
export function matmulWeightT(rt: Runtime, x: Tensor, w: BaseWeight, opts: PackedMatmulOptions = {}): Tensor {
  if (w instanceof PackedWeight) return withLowRank(rt, packedMatmul(rt, 'nt', x, w, opts), opts.lowRank, true);
  return matmul(rt, x, w, { transB: true, ...opts });
}

/** dX = dY·W for W [out, in] in either storage: dY [..., out] -> [..., in]. */
export function matmulWeight(rt: Runtime, dY: Tensor, w: BaseWeight, opts: PackedMatmulOptions = {}): Tensor {
  if (w instanceof PackedWeight) return withLowRank(rt, packedMatmul(rt, 'nn', dY, w, opts), opts.lowRank, false);
  return matmul(rt, dY, w, opts);
}

function withLowRank(rt: Runtime, y: Tensor, term: LowRankTerm | undefined, transB: boolean): Tensor {
  if (term) matmul(rt, term.a, term.b, { transB, alpha: term.alpha, accumulateInto: y });
  return y;
}

/** Rows of an embedding table in either storage: ids u32 [...] -> [..., cols]. */
export function embedRows(rt: Runtime, ids: Tensor, table: BaseWeight): Tensor {
  if (!(table instanceof PackedWeight)) return embeddingForward(rt, ids, table);
  if (ids.dtype !== 'u32') throw new RangeError(`embedding: ids ${ids} must be u32`);
  const cols = table.shape[1];
  const out = rt.empty([...ids.shape, cols], 'f32', 'embedding out');
  const items = ids.size * Math.ceil(cols / 4);
  if (items === 0) return out;
  const grid = flatGrid(items, WG);
  rt.dispatch({
    shader: 'matmul_packed',
    entryPoint: 'gather',
    constants: { FORMAT: FORMAT_ID[table.format] },
    uniforms: params(table, { groupsX: grid.rowGroups, cols, items }),
    bindings: [table.data, ids, out],
    workgroups: grid.workgroups,
  });
  return out;
}

/** W as a new f32 tensor [rows, cols] (what export and merges need; the matmuls never make one). */
export function unpackWeight(rt: Runtime, w: PackedWeight): Tensor {
  const [rows, cols] = w.shape;
  const out = rt.empty([rows, cols], 'f32', `${w.label} (unpacked)`);
  const items = rows * Math.ceil(cols / 4);
  if (items === 0) return out;
  const grid = flatGrid(items, WG);
  rt.dispatch({
    shader: 'matmul_packed',
    entryPoint: 'unpack',
    constants: { FORMAT: FORMAT_ID[w.format] },
    uniforms: params(w, { groupsX: grid.rowGroups, cols, items }),
    bindings: [w.data, out],
    workgroups: grid.workgroups,
  });
  return out;
}

interface Sizes {
  M?: number;
  N?: number;
  K4?: number;
  tilesN?: number;
  tiles?: number;
  accumulate?: boolean;
  aRowStride4?: number;
  groupsX: number;
  cols?: number;
  items?: number;
}

/** The Params struct of matmul_packed.wgsl, in its field order. */
function params(w: PackedWeight, s: Sizes): ArrayBuffer {
  const l = w.layout;
  return new Uniforms()
    .u32(s.M ?? 0).u32(s.N ?? 0).u32(s.K4 ?? 0).u32(s.tilesN ?? 0)
    .u32(s.tiles ?? 0).u32(s.accumulate ? 1 : 0).u32(s.aRowStride4 ?? 0).u32(s.groupsX)
    .u32(l.rows).u32(l.rowGroups).u32(l.rowWords).u32(l.blocksPerRow)
    .u32(l.scaleOffset).u32(s.cols ?? 0).u32(s.items ?? 0).u32(0)
    .bytes();
}

/** 'nt': y = x·Wᵀ (K = cols of W); 'nn': dX = dY·W (K = rows of W). */
function packedMatmul(rt: Runtime, kind: 'nt' | 'nn', a: Tensor, w: PackedWeight, opts: PackedMatmulOptions): Tensor {
  const [rows, cols] = w.shape;
  const [K, N] = kind === 'nt' ? [cols, rows] : [rows, cols];
  const what = () => `${kind === 'nt' ? 'x·Wᵀ' : 'dY·W'}: ${a} with ${w}`;
  if (a.dtype !== 'f32') throw new RangeError(`${what()}: the activations must be f32`);
  if (a.shape.length < 1 || a.shape[a.shape.length - 1] !== K) throw new RangeError(`${what()}: the last dimension must be ${K}`);
  if (w.data.isReleased) throw new Error(`${what()}: the weight was released`);
  const M = a.size / K;
  const outShape = [...a.shape.slice(0, -1), N];
  if (opts.out && opts.accumulateInto) throw new RangeError(`${what()}: give either out or accumulateInto, not both`);
  const target = opts.accumulateInto ?? opts.out;
  if (target && (target.dtype !== 'f32' || target.size !== M * N)) throw new RangeError(`${what()}: the output ${target} does not hold [${outShape.join(', ')}]`);
  const c = target ?? rt.empty(outShape, 'f32', `${w.label} matmul out`);
  if (M === 0 || N === 0) return c;
  if (K === 0) {
    if (!opts.accumulateInto) rt.clear(c);
    return c;
  }
  const K4 = Math.ceil(K / 4);
  const padded = K % 4 === 0 ? null : padRows(rt, a, M, K, w);
  const tilesN = Math.ceil(N / 8);
  const tiles = Math.ceil(M / 8) * tilesN;
  const groups = Math.ceil(tiles / WG);
  // A square-ish 2D grid, as matmul.ts does: far below the per-dimension limit for any size.
  const groupsX = Math.ceil(Math.sqrt(groups));
  rt.dispatch({
    shader: 'matmul_packed',
    entryPoint: kind,
    constants: { FORMAT: FORMAT_ID[w.format] },
    uniforms: params(w, { M, N, K4, tilesN, tiles, accumulate: opts.accumulateInto !== undefined, aRowStride4: K4, groupsX }),
    bindings: [w.data, padded ?? a, c],
    workgroups: [groupsX, Math.ceil(groups / groupsX)],
  });
  // Released scratch is recycled only after the submit that carries this dispatch.
  padded?.release();
  return c;
}

/** a [M, K] copied into rows of whole vec4s, zeros after column K. */
function padRows(rt: Runtime, a: Tensor, M: number, K: number, w: PackedWeight): Tensor {
  const K4 = Math.ceil(K / 4);
  const out = rt.empty([M, K4 * 4], 'f32', `${a.label} (padded for packed matmul)`);
  const grid = flatGrid(M * K4, WG);
  rt.dispatch({
    shader: 'matmul_packed',
    entryPoint: 'pad',
    uniforms: params(w, { groupsX: grid.rowGroups, cols: K, items: M * K4 }),
    bindings: [a, out],
    workgroups: grid.workgroups,
  });
  return out;
}
