// GGML tensor types of GGUF files and their decoding to f32 (done once at load time; the GPU sees f32).
//
// Block layouts, restated from GGML's ggml-common.h (structs) and ggml-quants.c (dequantize_row_*). All
// multi-byte fields are little-endian; "f16" is IEEE binary16. A block never spans two rows, so a row's length
// must be a whole number of blocks (GGML asserts ne[0] % block size == 0).
//
//   Q8_0  32 values,  34 bytes: f16 d | int8 q[32]                              value = d·q
//   Q4_0  32 values,  18 bytes: f16 d | 16 bytes of nibbles                     value = d·(q − 8)
//   Q4_K 256 values, 144 bytes: f16 d | f16 dmin | 12 bytes of 6-bit scales and mins | 128 bytes of nibbles
//                                                                               value = d·sc·q − dmin·m
//   Q5_K 256 values, 176 bytes: as Q4_K, with 32 bytes of fifth bits between the scales and the nibbles
//   Q6_K 256 values, 210 bytes: 128 bytes of low nibbles | 64 bytes of 2-bit high parts | int8 scales[16] | f16 d
//                                                                               value = d·sc·(q − 32)
//
// Arithmetic: ggml computes in f32. Every product below is exact in f64 (f16 scale × 6- or 8-bit scale × a
// level needs at most 25 significant bits), and so is the one subtraction of Q4_K / Q5_K unless its two terms
// differ by more than a factor 2^32; rounding that f64 once into the Float32Array then gives the f32 that
// ggml's C gives (with or without fused multiply-add), not an approximation of it.

import { f16ToF32, f32View, halfBytesToF32 } from './dtypes.ts';

export interface GgmlType {
  /** GGML's name for the type (as llama.cpp prints it). */
  name: string;
  /** Values per block, and the bytes one block takes. */
  blockValues: number;
  blockBytes: number;
  /** `count` values (a whole number of blocks) from the tensor's bytes. */
  decode(bytes: Uint8Array, count: number): Float32Array;
}

/** Values in a k-quant super-block (GGML's QK_K). */
const QK_K = 256;

const f16At = (bytes: Uint8Array, at: number): number => f16ToF32(bytes[at] | (bytes[at + 1] << 8));

/** Q8_0: { f16 d; int8 q[32] }. */
export function dequantizeQ8_0(bytes: Uint8Array, count: number): Float32Array {
  const out = new Float32Array(count);
  for (let b = 0; b < count / 32; b++) {
    const at = b * 34;
    const d = f16At(bytes, at);
    for (let j = 0; j < 32; j++) out[b * 32 + j] = d * ((bytes[at + 2 + j] << 24) >> 24);
  }
  return out;
}

/**
 * Q4_0: { f16 d; uint8 qs[16] }. Byte j holds value j in its low nibble and value j + 16 in its high nibble
 * (not neighbours: the two halves of the block), each an unsigned level 0..15 centred by subtracting 8.
 */
export function dequantizeQ4_0(bytes: Uint8Array, count: number): Float32Array {
  const out = new Float32Array(count);
  for (let b = 0; b < count / 32; b++) {
    const at = b * 18, o = b * 32;
    const d = f16At(bytes, at);
    for (let j = 0; j < 16; j++) {
      const q = bytes[at + 2 + j];
      out[o + j] = d * ((q & 15) - 8);
      out[o + j + 16] = d * ((q >> 4) - 8);
    }
  }
  return out;
}

/**
 * The 6-bit scale and 6-bit min of sub-block j (0..7) of a Q4_K / Q5_K block, from its 12 scale bytes s
 * (GGML's get_scale_min_k4). Sub-blocks 0..3 keep theirs whole in the low 6 bits of s[j] (scale) and s[j+4]
 * (min). Sub-blocks 4..7 keep their low 4 bits in s[j+4] (scale in the low nibble, min in the high one) and
 * their top 2 bits in the otherwise unused top 2 bits of s[j-4] (scale) and s[j] (min).
 */
export function kScaleMin(s: Uint8Array, at: number, j: number): [scale: number, min: number] {
  if (j < 4) return [s[at + j] & 63, s[at + j + 4] & 63];
  const low = s[at + j + 4];
  return [(low & 15) | ((s[at + j - 4] >> 6) << 4), (low >> 4) | ((s[at + j] >> 6) << 4)];
}

/**
 * Q4_K and Q5_K: { f16 d; f16 dmin; uint8 scales[12]; [Q5_K: uint8 qh[32];] uint8 qs[128] }, 8 sub-blocks of
 * 32 values. The nibbles come in 4 runs of 32 bytes; run r holds sub-block 2r in its low nibbles and
 * sub-block 2r + 1 in its high nibbles. Q5_K's fifth bit of value l (0..31) of sub-block j is bit j of qh[l].
 */
function dequantizeK(bytes: Uint8Array, count: number, fifthBit: boolean): Float32Array {
  const blockBytes = fifthBit ? 176 : 144;
  const out = new Float32Array(count);
  for (let b = 0; b < count / QK_K; b++) {
    const at = b * blockBytes, o = b * QK_K;
    const d = f16At(bytes, at), dmin = f16At(bytes, at + 2);
    const scales = at + 4, high = at + 16, nibbles = at + (fifthBit ? 48 : 16);
    for (let j = 0; j < 8; j++) {
      const [sc, m] = kScaleMin(bytes, scales, j);
      const step = d * sc, offset = dmin * m;
      const run = nibbles + 32 * (j >> 1), shift = 4 * (j & 1);
      for (let l = 0; l < 32; l++) {
        let q = (bytes[run + l] >> shift) & 15;
        if (fifthBit) q |= ((bytes[high + l] >> j) & 1) << 4;
        out[o + 32 * j + l] = step * q - offset;
      }
    }
  }
  return out;
}

export const dequantizeQ4_K = (bytes: Uint8Array, count: number): Float32Array => dequantizeK(bytes, count, false);
export const dequantizeQ5_K = (bytes: Uint8Array, count: number): Float32Array => dequantizeK(bytes, count, true);

/**
 * Q6_K: { uint8 ql[128]; uint8 qh[64]; int8 scales[16]; f16 d }, two halves of 128 values; half h uses
 * ql[64h..64h+63], qh[32h..32h+31] and scales[8h..8h+7]. Within a half, value p (0..127) lies in quarter
 * k = p / 32 at l = p % 32: its low 4 bits are the low (k < 2) or high (k >= 2) nibble of ql[l + 32·(k % 2)],
 * its top 2 bits are bits 2k, 2k+1 of qh[l]; the 6-bit level is centred by subtracting 32, and each run of 16
 * values has its own signed 8-bit scale.
 */
export function dequantizeQ6_K(bytes: Uint8Array, count: number): Float32Array {
  const out = new Float32Array(count);
  for (let b = 0; b < count / QK_K; b++) {
    const at = b * 210, o = b * QK_K;
    const d = f16At(bytes, at + 208);
    for (let h = 0; h < 2; h++) {
      const ql = at + 64 * h, qh = at + 128 + 32 * h, scales = at + 192 + 8 * h;
      for (let p = 0; p < 128; p++) {
        const k = p >> 5, l = p & 31;
        const low = (bytes[ql + l + 32 * (k & 1)] >> (4 * (k >> 1))) & 15;
        const top = (bytes[qh + l] >> (2 * k)) & 3;
        const sc = (bytes[scales + (p >> 4)] << 24) >> 24;
        out[o + 128 * h + p] = d * sc * ((low | (top << 4)) - 32);
      }
    }
  }
  return out;
}

/** The GGML types this loader reads, by GGML type id (ggml.h's enum ggml_type, as GGUF stores it). */
export const GGML_TYPES: ReadonlyMap<number, GgmlType> = new Map<number, GgmlType>([
  [2, { name: 'Q4_0', blockValues: 32, blockBytes: 18, decode: dequantizeQ4_0 }],
  [12, { name: 'Q4_K', blockValues: QK_K, blockBytes: 144, decode: dequantizeQ4_K }],
  [13, { name: 'Q5_K', blockValues: QK_K, blockBytes: 176, decode: dequantizeQ5_K }],
  [14, { name: 'Q6_K', blockValues: QK_K, blockBytes: 210, decode: dequantizeQ6_K }],
  [8, { name: 'Q8_0', blockValues: 32, blockBytes: 34, decode: dequantizeQ8_0 }],
  [1, { name: 'F16', blockValues: 1, blockBytes: 2, decode: (bytes, count) => halfBytesToF32(bytes, count, 'f16') }],
  [30, { name: 'BF16', blockValues: 1, blockBytes: 2, decode: (bytes, count) => halfBytesToF32(bytes, count, 'bf16') }],
  [0, { name: 'F32', blockValues: 1, blockBytes: 4, decode: f32View }],
]);

/** "Q4_0, Q4_K, ..., F32": for messages that refuse another type. */
export const SUPPORTED_GGML_TYPE_NAMES = [...GGML_TYPES.values()].map((t) => t.name).join(', ');
