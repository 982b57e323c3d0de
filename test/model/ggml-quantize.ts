// Reference quantizers for GGML's block types, written for the tests from GGML's block layouts (ggml-common.h)
// and independent of src/model/gguf-quants.ts. Each one chooses a block's integer fields by the plain method
// (scale from the max |x| per block or sub-block; for the _K types with mins, scale and min from the sub-block's
// range), packs the fields into bytes, and computes the dequantised values from the FIELDS (never by reading
// the bytes back), so a decoder that reads the bytes wrongly cannot agree with them.
import { f16ToF32, f32ToF16 } from '../../src/model/dtypes.ts';

export type QuantType = 'Q8_0' | 'Q4_0' | 'Q4_K' | 'Q5_K' | 'Q6_K';

export interface Quantized {
  bytes: Uint8Array<ArrayBuffer>;
  /** What decoding `bytes` must give, computed from the chosen fields in ggml's f32 order. */
  values: Float32Array;
  /** Per value, how far the format may put `values` from the original (derived beside each quantizer). */
  bound: Float32Array;
}

/** Values per block. */
export const BLOCK_VALUES: Record<QuantType, number> = { Q8_0: 32, Q4_0: 32, Q4_K: 256, Q5_K: 256, Q6_K: 256 };
const BLOCK_BYTES: Record<QuantType, number> = { Q8_0: 34, Q4_0: 18, Q4_K: 144, Q5_K: 176, Q6_K: 210 };

const f = Math.fround;
/** x rounded to f16, as a bit pattern and as the value that pattern holds. */
function half(x: number): { bits: number; value: number } {
  const bits = f32ToF16(x);
  return { bits, value: f16ToF32(bits) };
}
const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
/** The element of `xs` with the largest magnitude, sign kept (0 for an all-zero run). */
function signedMax(xs: ArrayLike<number>): number {
  let best = 0;
  for (let i = 0; i < xs.length; i++) if (Math.abs(xs[i]) > Math.abs(best)) best = xs[i];
  return best;
}
function putHalf(out: Uint8Array, at: number, bits: number) {
  out[at] = bits & 0xff;
  out[at + 1] = bits >> 8;
}

export function quantize(type: QuantType, x: Float32Array): Quantized {
  const n = BLOCK_VALUES[type];
  if (x.length % n !== 0) throw new Error(`${type} needs a multiple of ${n} values, got ${x.length}`);
  const out: Quantized = { bytes: new Uint8Array((x.length / n) * BLOCK_BYTES[type]), values: new Float32Array(x.length), bound: new Float32Array(x.length) };
  for (let b = 0; b < x.length / n; b++) {
    const block = x.subarray(b * n, (b + 1) * n);
    const into = { bytes: out.bytes.subarray(b * BLOCK_BYTES[type]), values: out.values.subarray(b * n), bound: out.bound.subarray(b * n) };
    ({ Q8_0: q8_0, Q4_0: q4_0, Q4_K: (xs, o) => kQuant(xs, o, 15), Q5_K: (xs, o) => kQuant(xs, o, 31), Q6_K: q6_K } satisfies Record<QuantType, BlockQuantizer>)[type](block, into);
  }
  return out;
}

type BlockQuantizer = (x: Float32Array, out: { bytes: Uint8Array; values: Float32Array; bound: Float32Array }) => void;

/** Q8_0 as llama.cpp's reference: d = max|x| / 127 (stored f16), q = round(x / d) with the unrounded d.
 *  Error: half a step, plus the f16 rounding of d over up to 127 steps (large where d is subnormal in f16). */
const q8_0: BlockQuantizer = (x, out) => {
  const amax = Math.abs(signedMax(x));
  const d = f(amax / 127), stored = half(d);
  putHalf(out.bytes, 0, stored.bits);
  for (let i = 0; i < 32; i++) {
    const q = d ? Math.round(x[i] / d) + 0 : 0; // + 0: no -0 level (the byte holds none)
    out.bytes[2 + i] = q & 0xff;
    out.values[i] = f(stored.value * q);
    out.bound[i] = stored.value / 2 + 127 * Math.abs(d - stored.value);
  }
};

/** Q4_0: the value of largest magnitude m maps to level -8 (d = m / -8), the rest round to the nearest of the
 *  16 levels d·(q - 8). Byte i holds value i (low nibble) and value i + 16 (high nibble).
 *  Error: half a step inside the levels; -m lands on +8, past the top level 7, so one step there. */
const q4_0: BlockQuantizer = (x, out) => {
  const d = half(signedMax(x) / -8);
  putHalf(out.bytes, 0, d.bits);
  const q = Array.from(x, (v) => (d.value ? clamp(Math.round(v / d.value) + 8, 0, 15) : 8));
  for (let i = 0; i < 16; i++) out.bytes[2 + i] = q[i] | (q[i + 16] << 4);
  q.forEach((level, i) => {
    out.values[i] = f(d.value * (level - 8));
    out.bound[i] = Math.abs(d.value) * 1.01;
  });
};

/** Pack 8 six-bit scales and 8 six-bit mins into K_SCALE_SIZE = 12 bytes: bytes 0-3 hold scales 0-3 and bytes
 *  4-7 mins 0-3 in their low 6 bits; bytes 8-11 hold scale 4-7 (low nibble) and min 4-7 (high nibble) low
 *  4 bits; the top 2 bits of scales 4-7 go to the top of bytes 0-3, those of mins 4-7 to the top of bytes 4-7. */
export function packKScales(scales: readonly number[], mins: readonly number[]): Uint8Array {
  const s = new Uint8Array(12);
  for (let j = 0; j < 8; j++) {
    if (scales[j] > 63 || mins[j] > 63 || scales[j] < 0 || mins[j] < 0) throw new Error('6-bit scale or min out of range');
    if (j < 4) {
      s[j] |= scales[j];
      s[j + 4] |= mins[j];
    } else {
      s[j + 4] = (scales[j] & 15) | ((mins[j] & 15) << 4);
      s[j - 4] |= (scales[j] >> 4) << 6;
      s[j] |= (mins[j] >> 4) << 6;
    }
  }
  return s;
}

/** The fields of one Q4_K (levels 0..15) or Q5_K (0..31) block. */
export interface KBlock { d: number; dmin: number; scales: number[]; mins: number[]; levels: number[] }

/** Bytes of a Q4_K / Q5_K block: d, dmin, the 12 scale bytes, [Q5_K: 32 bytes whose bit j of byte l is the
 *  fifth bit of value l of sub-block j,] then 128 bytes where byte 32r + l holds value l of sub-block 2r in
 *  its low nibble and of sub-block 2r + 1 in its high nibble. */
export function packKBlock(k: KBlock, fifthBit: boolean): Uint8Array {
  const out = new Uint8Array(fifthBit ? 176 : 144);
  putHalf(out, 0, k.d);
  putHalf(out, 2, k.dmin);
  out.set(packKScales(k.scales, k.mins), 4);
  const nibbles = fifthBit ? 48 : 16;
  k.levels.forEach((q, i) => {
    const sub = Math.floor(i / 32), l = i % 32;
    if (q > (fifthBit ? 31 : 15)) throw new Error('level out of range');
    out[nibbles + 32 * Math.floor(sub / 2) + l] |= (q & 15) << (sub % 2 === 0 ? 0 : 4);
    if (fifthBit) out[16 + l] |= (q >> 4) << sub;
  });
  return out;
}

/** ggml's f32 order: d1 = d·sc and m1 = dmin·m (both f32), then d1·q - m1. */
export function kBlockValues(k: KBlock): Float32Array {
  const d = f16ToF32(k.d), dmin = f16ToF32(k.dmin);
  return Float32Array.from(k.levels, (q, i) => {
    const sub = Math.floor(i / 32);
    return f(f(d * k.scales[sub]) * q - f(dmin * k.mins[sub]));
  });
}

/** Q4_K / Q5_K: per sub-block of 32, lo = min(0, min x), scale = (max x - lo) / nmax, min = -lo; over the
 *  block, d = max scale / 63 and dmin = max min / 63 (f16), each sub-block's scale and min rounded to 6 bits
 *  of those, and each value to the nearest level of the stored step d·sc from -dmin·m.
 *  Error: half a step inside; outside, the 6-bit rounding moves the bottom by up to dmin / 2 and the top by
 *  up to nmax · d / 2 (plus the f16 rounding of d, under one d). */
function kQuant(x: Float32Array, out: { bytes: Uint8Array; values: Float32Array; bound: Float32Array }, nmax: number) {
  const ranges = Array.from({ length: 8 }, (_, j) => {
    const sub = x.subarray(32 * j, 32 * j + 32);
    const lo = Math.min(0, ...sub), hi = Math.max(...sub);
    return { scale: (hi - lo) / nmax, min: -lo };
  });
  const d = half(Math.max(...ranges.map((r) => r.scale)) / 63), dmin = half(Math.max(...ranges.map((r) => r.min)) / 63);
  const scales = ranges.map((r) => (d.value ? clamp(Math.round(r.scale / d.value), 0, 63) : 0));
  const mins = ranges.map((r) => (dmin.value ? clamp(Math.round(r.min / dmin.value), 0, 63) : 0));
  const levels = Array.from(x, (v, i) => {
    const sub = Math.floor(i / 32), step = d.value * scales[sub];
    return step ? clamp(Math.round((v + dmin.value * mins[sub]) / step), 0, nmax) : 0;
  });
  const k: KBlock = { d: d.bits, dmin: dmin.bits, scales, mins, levels };
  out.bytes.set(packKBlock(k, nmax === 31));
  out.values.set(kBlockValues(k));
  for (let i = 0; i < 256; i++) out.bound[i] = (d.value * scales[Math.floor(i / 32)]) / 2 + (nmax / 2 + 1) * d.value + dmin.value / 2;
}

/** The fields of one Q6_K block: f16 d, 16 signed 8-bit scales, 256 levels 0..63 (value level - 32). */
export interface Q6KBlock { d: number; scales: number[]; levels: number[] }

/** Bytes of a Q6_K block: ql[128], qh[64], scales[16], d. Value i is in half h = i / 128 at p = i % 128,
 *  quarter k = p / 32, l = p % 32: low 4 bits in ql[64h + 32(k % 2) + l] (low nibble for k < 2, high for
 *  k >= 2), top 2 bits at bits 2k..2k+1 of qh[32h + l]. */
export function packQ6KBlock(k: Q6KBlock): Uint8Array {
  const out = new Uint8Array(210);
  k.levels.forEach((q, i) => {
    if (q < 0 || q > 63) throw new Error('level out of range');
    const h = Math.floor(i / 128), p = i % 128, quarter = Math.floor(p / 32), l = p % 32;
    out[64 * h + 32 * (quarter % 2) + l] |= (q & 15) << (quarter < 2 ? 0 : 4);
    out[128 + 32 * h + l] |= (q >> 4) << (2 * quarter);
  });
  k.scales.forEach((s, j) => (out[192 + j] = s & 0xff));
  putHalf(out, 208, k.d);
  return out;
}

/** ggml's f32 order: (d · sc) · (q - 32), scale j for values 16j..16j+15. */
export function q6KBlockValues(k: Q6KBlock): Float32Array {
  const d = f16ToF32(k.d);
  return Float32Array.from(k.levels, (q, i) => f(f(d * k.scales[Math.floor(i / 16)]) * (q - 32)));
}

/** Q6_K: per 16 values the value of largest magnitude m maps to level -32 (scale m / -32, so a positive m
 *  gives a negative scale); d = max |scale| / 127 (f16), scales rounded to int8 multiples of d.
 *  Error: half a step inside; -m lands on +32, past the top level 31, and the int8 rounding of the scale
 *  moves the -32 end by up to 16 d: one step plus 17 d. */
const q6_K: BlockQuantizer = (x, out) => {
  const subScales = Array.from({ length: 16 }, (_, j) => signedMax(x.subarray(16 * j, 16 * j + 16)) / -32);
  const d = half(Math.max(...subScales.map(Math.abs)) / 127);
  const scales = subScales.map((s) => (d.value ? clamp(Math.round(s / d.value), -128, 127) : 0));
  const levels = Array.from(x, (v, i) => {
    const step = d.value * scales[Math.floor(i / 16)];
    return step ? clamp(Math.round(v / step), -32, 31) + 32 : 32;
  });
  const k: Q6KBlock = { d: d.bits, scales, levels };
  out.bytes.set(packQ6KBlock(k));
  out.values.set(q6KBlockValues(k));
  for (let i = 0; i < 256; i++) out.bound[i] = Math.abs(d.value * scales[Math.floor(i / 16)]) + 17 * d.value;
};

/** Where two arrays first differ (+0 and -0 count as equal), or undefined: vitest's toEqual walks a
 *  100k-value typed array slowly and prints all of it. */
export function firstDifference(actual: ArrayLike<number>, expected: ArrayLike<number>): { index: number; actual: number; expected: number } | undefined {
  if (actual.length !== expected.length) return { index: -1, actual: actual.length, expected: expected.length };
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i] && !(Number.isNaN(actual[i]) && Number.isNaN(expected[i]))) return { index: i, actual: actual[i], expected: expected[i] };
  }
  return undefined;
}
