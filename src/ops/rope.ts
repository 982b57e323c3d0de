// Rotary position embedding for q and k, x [B, T, H, D], in either pairing layout:
// 'interleaved' rotates (2i, 2i+1) (Meta, llama2.c checkpoints), 'half' rotates (i, i + D/2)
// (Hugging Face checkpoints, whose wq/wk rows are permuted accordingly).
import { Tensor, Uniforms, type Runtime } from '../gpu/index.ts';
import { flatGrid } from './grid.ts';

const WG = 64;

export type RopeLayout = 'interleaved' | 'half';

/** Per-pair rotation frequencies on the GPU: build once per model, reuse every step. */
export interface RopeTable {
  readonly headDim: number;
  readonly theta: number;
  /** [D/2, 4]: each frequency in turns per position, split into f32 parts (hi, mid, lo, 0). */
  readonly frequencies: Tensor;
}

/** Rounds v to `bits` significant bits, so that (integer < 2^(24 - bits)) · result is exact in f32. */
function roundToBits(v: number, bits: number): number {
  if (v === 0) return 0;
  const scale = 2 ** (bits - 1 - Math.floor(Math.log2(Math.abs(v))));
  return Math.round(v * scale) / scale;
}

/**
 * inv_freq[i] = theta^(-2i/D), computed in f64. Angles are exact to ~1e-7 rad for positions below
 * 65536 and degrade gradually beyond (see rope.wgsl). `inverseFrequencies` replaces them (D/2 values),
 * e.g. for Llama 3.1's scaled frequencies.
 */
export function ropeTable(rt: Runtime, headDim: number, theta = 10000, inverseFrequencies?: ArrayLike<number>): RopeTable {
  if (!Number.isInteger(headDim) || headDim <= 0 || headDim % 2 !== 0) throw new RangeError(`rope: head dimension ${headDim} must be a positive even integer`);
  if (!(theta > 0)) throw new RangeError(`rope: theta ${theta} must be positive`);
  const pairs = headDim / 2;
  if (inverseFrequencies && inverseFrequencies.length !== pairs) {
    throw new RangeError(`rope: ${inverseFrequencies.length} inverse frequencies given for head dimension ${headDim} (${pairs} expected)`);
  }
  const table = new Float32Array(pairs * 4);
  for (let i = 0; i < pairs; i++) {
    const invFreq = inverseFrequencies ? inverseFrequencies[i] : theta ** ((-2 * i) / headDim);
    const turns = invFreq / (2 * Math.PI);
    const hi = roundToBits(turns, 8);
    const mid = roundToBits(turns - hi, 8);
    table.set([hi, mid, turns - hi - mid, 0], 4 * i);
  }
  return { headDim, theta, frequencies: rt.upload(table, [pairs, 4], 'f32', 'rope frequencies') };
}

export interface RopeOptions {
  layout: RopeLayout;
  /** Position of t = 0: the KV-cache length during generation, 0 in training. */
  startPos?: number;
}

/** A tensor to rotate and where its result goes. */
interface Rotated {
  x: Tensor;
  out: Tensor;
}

function checkRotated(op: string, { x, out }: Rotated, table: RopeTable): void {
  if (x.shape.length !== 4 || x.shape[3] !== table.headDim) {
    throw new RangeError(`${op}: x [${x.shape.join(', ')}] must be [B, T, H, D] with D = ${table.headDim} (the table's head dimension)`);
  }
  if (out.size !== x.size) throw new RangeError(`${op}: output ${out} does not match x [${x.shape.join(', ')}]`);
  if (out.buffer === x.buffer) throw new RangeError(`${op}: the output must not alias the input`);
}

/** Rotates `first`, and `second` (the same B and T, its own head count) in the same dispatch when given. */
function rotate(rt: Runtime, op: string, first: Rotated, second: Rotated | null, table: RopeTable, options: RopeOptions, sign: number): void {
  checkRotated(op, first, table);
  const [batch, seqLen, heads, headDim] = first.x.shape;
  if (second) {
    checkRotated(op, second, table);
    if (second.x.shape[0] !== batch || second.x.shape[1] !== seqLen) {
      throw new RangeError(`${op}: q [${first.x.shape.join(', ')}] and k [${second.x.shape.join(', ')}] must have the same B and T`);
    }
  }
  if (options.layout !== 'interleaved' && options.layout !== 'half') throw new RangeError(`${op}: unknown layout '${options.layout}' (use 'interleaved' or 'half')`);
  const startPos = options.startPos ?? 0;
  if (!Number.isInteger(startPos) || startPos < 0) throw new RangeError(`${op}: startPos ${startPos} must be a non-negative integer`);
  const rows = batch * seqLen;
  const pairs = headDim / 2;
  const grid = flatGrid(rows * pairs, WG);
  rt.dispatch({
    shader: 'rope',
    entryPoint: `rotate_${second ? 'pair_' : ''}${options.layout}`,
    constants: { WG },
    uniforms: new Uniforms().u32(rows).u32(seqLen).u32(heads).u32(pairs).u32(startPos).f32(sign).u32(grid.rowGroups).u32(second ? second.x.shape[2] : 0).bytes(),
    bindings: second ? [table.frequencies, first.x, first.out, second.x, second.out] : [table.frequencies, first.x, first.out],
    workgroups: grid.workgroups,
  });
}

/** Rotates x [B, T, H, D] by the angles of positions startPos .. startPos + T − 1. */
export function ropeForward(rt: Runtime, x: Tensor, table: RopeTable, options: RopeOptions, out = rt.empty(x.shape, 'f32', 'rope out')): Tensor {
  rotate(rt, 'rope', { x, out }, null, table, options, 1);
  return out;
}

/** The rotation is orthogonal: its backward is the rotation by the negative angles. */
export function ropeBackward(rt: Runtime, dOut: Tensor, table: RopeTable, options: RopeOptions, dX = rt.empty(dOut.shape, 'f32', 'rope dx')): Tensor {
  rotate(rt, 'rope backward', { x: dOut, out: dX }, null, table, options, -1);
  return dX;
}

/** ropeForward of q [B, T, H, D] and k [B, T, Hkv, D] in one dispatch: the same values as two calls. */
export function ropePairForward(rt: Runtime, q: Tensor, k: Tensor, table: RopeTable, options: RopeOptions): { q: Tensor; k: Tensor } {
  return rotatePair(rt, 'rope', q, k, table, options, 1);
}

/** ropeBackward of dq and dk in one dispatch. */
export function ropePairBackward(rt: Runtime, dQ: Tensor, dK: Tensor, table: RopeTable, options: RopeOptions): { q: Tensor; k: Tensor } {
  return rotatePair(rt, 'rope backward', dQ, dK, table, options, -1);
}

/** q and k rotated into new tensors; on a refused input the new tensors are released, not left behind. */
function rotatePair(rt: Runtime, op: string, q: Tensor, k: Tensor, table: RopeTable, options: RopeOptions, sign: number): { q: Tensor; k: Tensor } {
  const label = sign > 0 ? 'rope out' : 'rope dx';
  const out = { q: rt.empty(q.shape, 'f32', label), k: rt.empty(k.shape, 'f32', label) };
  try {
    rotate(rt, op, { x: q, out: out.q }, { x: k, out: out.k }, table, options, sign);
  } catch (e) {
    out.q.release();
    out.k.release();
    throw e;
  }
  return out;
}
